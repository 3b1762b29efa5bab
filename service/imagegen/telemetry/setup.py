"""The OpenTelemetry providers and exporters of one server, built from its settings.

OpenTelemetry's global providers are process-wide singletons; imagegen does not set
them. A `Telemetry` owns (or is given) its own tracer and meter providers and hands
them to the gRPC interceptor, the HTTP middleware and the hook, so tests and embedding
programs can run several servers with separate providers.

- Traces: exported over OTLP/HTTP when `otlp_endpoint` or OTEL_EXPORTER_OTLP_ENDPOINT
  (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; otherwise the global tracer provider
  is used, which is a no-op unless the program configured one (e.g. under
  `opentelemetry-instrument`): with nothing configured, tracing costs nothing.
- Metrics: an SDK meter provider when something reads them (OTLP, the Prometheus
  endpoint, or readers passed in); else the global (no-op) one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry, start_http_server

from imagegen.telemetry.callbacks import BUILT_IN, Callback, CallbackRunner, load_callback_class
from imagegen.telemetry.metrics import Metrics
from imagegen.telemetry.names import INSTRUMENTATION_SCOPE, LABEL_CALLBACK
from imagegen.telemetry.settings import (
    DEFAULT_QUEUE_SIZE,
    DEFAULT_SERVICE_NAME,
    CallbackSettings,
    TelemetrySettings,
)

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)

_OTLP_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_OTLP_METRICS_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")


def build_callback(settings: CallbackSettings) -> Callback:
    """The callback a config entry describes."""
    options = settings.init_options()
    if settings.type == "python":
        cls = load_callback_class(str(options["class"]))
        return cls(**dict(options.get("options") or {}))
    return BUILT_IN[settings.type](**options)


@dataclass(slots=True)
class _Owned:
    """What this Telemetry built, and so must shut down."""

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None


class Telemetry:
    """Providers, instruments and callbacks of one server."""

    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        tracer_provider: trace.TracerProvider,
        meter_provider: metrics.MeterProvider,
        callbacks: Sequence[Callback] = (),
        prometheus_registry: CollectorRegistry | None = None,
        owned: _Owned | None = None,
    ) -> None:
        self.settings = settings
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE)
        # Nothing configured (no SDK provider): the doors skip their server spans entirely.
        self.tracing = not isinstance(
            tracer_provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
        )
        self.metrics = Metrics(meter_provider.get_meter(INSTRUMENTATION_SCOPE))
        self.runners = [
            CallbackRunner(build_callback(c), c.queue_size, self._dropped)
            for c in settings.callbacks
        ] + [CallbackRunner(c, DEFAULT_QUEUE_SIZE, self._dropped) for c in callbacks]
        self.prometheus_registry = prometheus_registry
        self.prometheus_port: int | None = None
        """The bound scrape port once started (None: no endpoint)."""
        self._owned = owned or _Owned()
        self._prometheus_server: WSGIServer | None = None
        self._started = False

    @classmethod
    def from_settings(
        cls,
        settings: TelemetrySettings,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        metric_readers: Sequence[MetricReader] = (),
        callbacks: Sequence[Callback] = (),
    ) -> Telemetry:
        """Build from settings; the keyword arguments replace what settings would build
        (tests pass in-memory providers and readers; `callbacks` adds to the configured)."""
        owned = _Owned()
        resource = Resource.create({"service.name": _service_name(settings)})
        otlp = settings.otlp_endpoint
        if tracer_provider is None:
            if otlp or any(os.environ.get(name) for name in _OTLP_ENV):
                owned.tracer_provider = TracerProvider(resource=resource)
                owned.tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter(otlp)))
                tracer_provider = owned.tracer_provider
            else:
                tracer_provider = trace.get_tracer_provider()
        registry: CollectorRegistry | None = None
        if meter_provider is None:
            readers = list(metric_readers)
            if otlp or any(os.environ.get(name) for name in _OTLP_METRICS_ENV):
                readers.append(PeriodicExportingMetricReader(_metric_exporter(otlp)))
            if settings.prometheus_port is not None:
                # A registry of our own: the global one would collide across servers.
                registry = CollectorRegistry(auto_describe=True)
                readers.append(PrometheusMetricReader(registry=registry))
            if readers:
                owned.meter_provider = MeterProvider(metric_readers=readers, resource=resource)
                meter_provider = owned.meter_provider
            else:
                meter_provider = metrics.get_meter_provider()
        return cls(
            settings,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            callbacks=callbacks,
            prometheus_registry=registry,
            owned=owned,
        )

    def _dropped(self, callback: str) -> None:
        self.metrics.callback_dropped.add(1, {LABEL_CALLBACK: callback})

    async def start(self) -> None:
        """Start the callbacks' workers and the Prometheus endpoint (idempotent)."""
        if self._started:
            return
        self._started = True
        for runner in self.runners:
            await runner.start()
        if self.prometheus_registry is not None and self.settings.prometheus_port is not None:
            server, _ = start_http_server(
                self.settings.prometheus_port,
                addr=self.settings.prometheus_host,
                registry=self.prometheus_registry,
            )
            self._prometheus_server = server
            self.prometheus_port = int(server.server_port)
            log.info("Prometheus metrics on port %d (/metrics)", self.prometheus_port)

    async def aclose(self) -> None:
        """Deliver what the callbacks still have queued, stop the endpoint, flush exports."""
        for runner in self.runners:
            try:
                await runner.aclose()
            except Exception:
                log.exception("logging callback %s failed to close", runner.callback.name)
        if self._prometheus_server is not None:
            server, self._prometheus_server = self._prometheus_server, None
            await asyncio.to_thread(_stop_http, server)
        owned = self._owned
        # Shutting down flushes the exporters; their HTTP calls are blocking.
        if owned.tracer_provider is not None:
            await asyncio.to_thread(owned.tracer_provider.shutdown)
        if owned.meter_provider is not None:
            await asyncio.to_thread(owned.meter_provider.shutdown)
        self._started = False


def _stop_http(server: WSGIServer) -> None:
    server.shutdown()
    server.server_close()


def _service_name(settings: TelemetrySettings) -> str:
    return settings.service_name or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME


def _span_exporter(endpoint: str | None) -> OTLPSpanExporter:
    # Without an override the exporter reads the OTEL_EXPORTER_OTLP_* variables itself.
    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None)


def _metric_exporter(endpoint: str | None) -> OTLPMetricExporter:
    return OTLPMetricExporter(endpoint=f"{endpoint.rstrip('/')}/v1/metrics" if endpoint else None)
