"""TelemetryHook: the gateway's requests as spans, metrics, log lines and callbacks.

Per request it keeps a small record under `state.extensions["telemetry"]`; it opens a
CLIENT span per attempt (a child of the door's SERVER span) and, when the request
is over, reports once: decision events and facts on the server span, the metrics,
the `imagegen.requests` log line and the callbacks' payload. Requests refused before
the gateway ran (they did not parse) are reported by the doors through `rejected`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span

from imagegen.hooks import RequestHook
from imagegen.telemetry import logs
from imagegen.telemetry import names as n
from imagegen.telemetry.tracing import (
    add_decision_events,
    current_trace_id,
    end_attempt_span,
    operation_attributes,
    operation_of,
    start_attempt_span,
)
from imagegen.types import format_usd

if TYPE_CHECKING:
    from imagegen.errors import ImageGenError
    from imagegen.events import RequestState
    from imagegen.telemetry.setup import Telemetry
    from imagegen.types import Attempt, ProviderResult, Usage

log = logging.getLogger(__name__)

UNKNOWN = "unknown"


@dataclass(slots=True)
class _Live:
    """What the hook tracks for one request."""

    in_flight: dict[str, str] | None = None
    spans: dict[int, Span] = field(default_factory=dict)
    images: int = 0
    usage: Usage | None = None
    size: str | None = None
    quality: str | None = None


class TelemetryHook(RequestHook):
    """Reports every request of a gateway through one `Telemetry`."""

    name = "telemetry"

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._metrics = telemetry.metrics
        self._tracer = telemetry.tracer
        settings = telemetry.settings
        self._log_requests = settings.log_requests
        self._log_format = settings.log_format
        self._log_prompts = settings.log_prompts
        self._runners = telemetry.runners

    async def start(self) -> None:
        await self.telemetry.start()

    async def aclose(self) -> None:
        await self.telemetry.aclose()

    def _live(self, state: RequestState) -> _Live:
        live = state.extensions.get(self.name)
        if not isinstance(live, _Live):
            live = _Live()
            state.extensions[self.name] = live
        return live

    async def on_request(self, state: RequestState) -> None:
        live = self._live(state)
        live.in_flight = {n.LABEL_DOOR: state.door}
        self._metrics.in_flight.add(1, live.in_flight)

    def attempt_started(self, state: RequestState, attempt: Attempt) -> None:
        self._live(state).spans[attempt.number] = start_attempt_span(self._tracer, state, attempt)

    def attempt_finished(self, state: RequestState, attempt: Attempt) -> None:
        # pop: the gateway may report a streamed attempt's end twice (done, then closed).
        span = self._live(state).spans.pop(attempt.number, None)
        if span is None:
            return
        end_attempt_span(span, state, attempt)
        seconds = (attempt.duration_ms or 0.0) / 1000
        self._metrics.attempt_duration.record(
            seconds,
            {
                n.LABEL_PROVIDER: attempt.provider,
                n.LABEL_DEPLOYMENT: attempt.model_id,
                n.LABEL_OUTCOME: attempt.outcome,
            },
        )
        semconv: dict[str, Any] = {
            n.GEN_AI_OPERATION_NAME: n.OPERATION_GENERATE,
            n.GEN_AI_PROVIDER_NAME: attempt.provider,
            n.GEN_AI_REQUEST_MODEL: attempt.provider_model,
        }
        if attempt.outcome != "ok":
            semconv[n.ERROR_TYPE] = attempt.outcome
        self._metrics.gen_ai_duration.record(seconds, semconv)
        if attempt.usage is not None:
            self._metrics.gen_ai_tokens.record(
                attempt.usage.input_tokens, {**semconv, n.GEN_AI_TOKEN_TYPE: "input"}
            )
            self._metrics.gen_ai_tokens.record(
                attempt.usage.output_tokens, {**semconv, n.GEN_AI_TOKEN_TYPE: "output"}
            )

    async def after_call(self, state: RequestState, result: ProviderResult) -> ProviderResult:
        live = self._live(state)
        live.images = len(result.images)
        live.usage = result.usage
        live.size = result.size
        live.quality = result.quality
        return result

    async def finished(self, state: RequestState, error: ImageGenError | None) -> None:
        live = self._live(state)
        if live.in_flight is not None:
            self._metrics.in_flight.add(-1, live.in_flight)
            live.in_flight = None
        for number, span in list(live.spans.items()):
            # An attempt the gateway never closed (it should not happen): end it visibly.
            span.set_attribute(n.ATTR_OUTCOME, "unfinished")
            span.end()
            del live.spans[number]
        facts = state.facts
        request = state.request
        status = "OK" if error is None else error.code.name
        latency = time.monotonic() - state.started
        model = (request.model or facts.provider_model) if facts.model_id else UNKNOWN
        labels = {
            n.LABEL_MODEL: model,
            n.LABEL_PROVIDER: facts.provider or UNKNOWN,
            n.LABEL_STATUS: status,
        }
        metrics = self._metrics
        metrics.requests.add(
            1, {**labels, n.LABEL_DOOR: state.door, n.LABEL_OPERATION: operation_of(request)}
        )
        metrics.duration.record(latency, labels)
        cost_labels = {n.LABEL_MODEL: model, n.LABEL_PROVIDER: labels[n.LABEL_PROVIDER]}
        if error is None and live.images:
            metrics.images.add(live.images, cost_labels)
        metrics.record_cost(facts.response_cost, cost_labels)
        for decision in state.decisions:
            if decision.kind == "guardrail":
                metrics.guardrail_outcomes.add(
                    1, {n.LABEL_GUARDRAIL: decision.name, n.LABEL_ACTION: decision.action}
                )
            elif decision.kind == "router":
                metrics.router_decisions.add(
                    1, {n.LABEL_STEP: decision.name, n.LABEL_ACTION: decision.action}
                )
            elif decision.kind == "quota":
                metrics.quota_decisions.add(
                    1, {n.LABEL_STEP: decision.name, n.LABEL_ACTION: decision.action}
                )
            elif decision.kind == "cache":
                metrics.cache_lookups.add(
                    1, {n.LABEL_BACKEND: decision.name, n.LABEL_RESULT: decision.action}
                )
        if facts.cache == "hit" and facts.cache_saved:
            metrics.cache_saved.add(float(facts.cache_saved), cost_labels)
        if facts.stored_images:
            metrics.store_writes.add(facts.stored_images)
            metrics.store_bytes_written.add(facts.stored_bytes)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(
                {
                    n.ATTR_REQUEST_ID: facts.request_id,
                    n.ATTR_DOOR: state.door,
                    n.ATTR_MODEL: model,
                    n.ATTR_DEPLOYMENT: facts.model_id,
                    n.GEN_AI_PROVIDER_NAME: facts.provider,
                    n.ATTR_COST_USD: format_usd(facts.response_cost),
                    n.ATTR_STATUS: status,
                    n.ATTR_IMAGE_COUNT: live.images,
                    **operation_attributes(request),
                }
            )
            if state.caller is not None:
                span.set_attribute(n.ATTR_KEY_ALIAS, state.caller.alias)
            if error is not None:
                span.set_attribute(n.ERROR_TYPE, error.reason)
            add_decision_events(span, state.decisions)
        if not self._log_requests and not self._runners:
            return
        payload = logs.request_payload(
            state,
            error,
            latency_ms=latency * 1000,
            trace_id=current_trace_id(),
            images=live.images,
            usage=live.usage,
            size=live.size or request.size,
            quality=live.quality or request.quality,
            log_prompts=self._log_prompts,
        )
        self._report(payload)

    def rejected(self, error: ImageGenError, *, door: str, request_id: str, started: float) -> None:
        """Report a request a door refused before the gateway saw it (it did not parse)."""
        latency = time.monotonic() - started
        labels = {
            n.LABEL_MODEL: UNKNOWN,
            n.LABEL_PROVIDER: UNKNOWN,
            n.LABEL_STATUS: error.code.name,
        }
        # Refused before it parsed: what it would have done is not known.
        self._metrics.requests.add(1, {**labels, n.LABEL_DOOR: door, n.LABEL_OPERATION: UNKNOWN})
        self._metrics.duration.record(latency, labels)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(n.ERROR_TYPE, error.reason)
        if not self._log_requests and not self._runners:
            return
        payload = logs.rejected_payload(
            error,
            door=door,
            request_id=request_id,
            latency_ms=latency * 1000,
            trace_id=current_trace_id(),
        )
        self._report(payload)

    def _report(self, payload: dict[str, Any]) -> None:
        if self._log_requests:
            logs.emit(payload, self._log_format)
        for runner in self._runners:
            runner.submit(payload)


def telemetry_hook(hooks: Iterable[RequestHook]) -> TelemetryHook | None:
    """The telemetry hook among a gateway's hooks, if it has one."""
    for hook in hooks:
        if isinstance(hook, TelemetryHook):
            return hook
    return None
