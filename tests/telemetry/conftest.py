"""Servers whose telemetry goes to in-memory exporters, for the telemetry tests."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import yaml
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.config import Settings, parse_settings
from imagegen.gateway import Gateway, RequestCredentials
from imagegen.hooks import RequestHook
from imagegen.server.app import start_server
from imagegen.telemetry.callbacks import Callback, Payload
from imagegen.telemetry.hook import TelemetryHook
from imagegen.telemetry.setup import Telemetry
from tests.conftest import Served
from tests.fakes.openai import OpenAIFake

TRACEPARENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT_PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACEPARENT_TRACE_ID}-{TRACEPARENT_PARENT_ID}-01"


def openai_config(fake: OpenAIFake, **sections: Any) -> str:
    """gpt-image-1 and dall-e-3 (one image per call: n fans out) served by the fake."""
    entries = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": fake.base_url + "/v1",
                "api_key": fake.api_key,
            },
            "model_info": {"id": f"{name}-deployment"},
        }
        for name in ("gpt-image-1", "dall-e-3")
    ]
    return yaml.safe_dump({"model_list": entries, **sections})


class Collecting(Callback):
    """A callback keeping every payload it was given."""

    name = "collecting"

    def __init__(self) -> None:
        self.payloads: list[Payload] = []
        self.successes = 0
        self.failures = 0

    async def log_success(self, payload: Payload) -> None:
        self.successes += 1
        self.payloads.append(payload)

    async def log_failure(self, payload: Payload) -> None:
        self.failures += 1
        self.payloads.append(payload)


@dataclass
class Observed:
    """A running server, its in-memory span exporter and metric reader."""

    served: Served
    telemetry: Telemetry
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    collected: Collecting = field(default_factory=Collecting)

    @property
    def stub(self) -> pb_grpc.ImageGenerationAsyncStub:
        return self.served.stub

    def finished_spans(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, metric: str) -> list[Any]:
        """Every data point of `metric` (across scopes and resources)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found

    def point(self, metric: str, **labels: str) -> Any:
        """The one data point of `metric` whose attributes include `labels`."""
        matching = [
            p
            for p in self.points(metric)
            if all(p.attributes.get(k) == v for k, v in labels.items())
        ]
        assert len(matching) == 1, (
            metric,
            labels,
            [dict(p.attributes) for p in self.points(metric)],
        )
        return matching[0]

    async def drain_callbacks(self) -> None:
        for runner in self.telemetry.runners:
            assert await runner.drain(5.0)


ObserveFactory = Callable[..., Awaitable[Observed]]


@pytest.fixture
async def observe() -> AsyncIterator[ObserveFactory]:
    """Start servers whose telemetry is recorded in memory; all stop at teardown."""
    started: list[Observed] = []

    async def factory(
        settings: Settings | str,
        *,
        hooks: Sequence[RequestHook] = (),
        callbacks: Sequence[Callback] = (),
    ) -> Observed:
        if isinstance(settings, str):
            settings = parse_settings(settings, source="telemetry-test.yaml")
        spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        reader = InMemoryMetricReader()
        collected = Collecting()
        telemetry = Telemetry.from_settings(
            settings.telemetry,
            tracer_provider=provider,
            metric_readers=[reader],
            callbacks=[collected, *callbacks],
        )
        gateway = Gateway(
            settings,
            request_credentials=RequestCredentials.REFUSE,
            hooks=[*hooks, TelemetryHook(telemetry)],
        )
        await gateway.start()
        running = await start_server(
            settings, gateway=gateway, host="127.0.0.1", port=0, http_port=0
        )
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{running.port}",
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        served = Served(running, channel, pb_grpc.ImageGenerationStub(channel))
        observed = Observed(served, telemetry, spans, reader, collected)
        started.append(observed)
        return observed

    yield factory
    for observed in started:
        await observed.served.channel.close()
        await observed.served.running.stop(grace=0)


def request_lines(records: Sequence[logging.LogRecord]) -> list[dict[str, Any]]:
    """The JSON payloads of the imagegen.requests log lines among `records`."""
    return [json.loads(r.getMessage()) for r in records if r.name == "imagegen.requests"]
