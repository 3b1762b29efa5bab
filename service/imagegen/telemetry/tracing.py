"""Spans: a CLIENT span per provider attempt, decision events on the request's span.

The request's SERVER span is opened by the door (the gRPC interceptor, the HTTP
middleware) and is the current span while the gateway runs, in the task serving the
call and in the tasks it starts (contextvars are copied into child tasks), so every
attempt span — including parallel n fan-out sub-calls — is its child. Attempt spans
are never made current: parallel attempts are siblings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from imagegen.telemetry import names as n
from imagegen.telemetry.logs import bounded
from imagegen.types import format_usd

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from imagegen.events import Decision, RequestState
    from imagegen.types import Attempt, ImageRequest


def operation_of(request: ImageRequest) -> str:
    """What the request does: `generate`, or its edit operation."""
    edit = request.edit
    return n.OPERATION_TEXT_TO_IMAGE if edit is None else edit.operation.value


def operation_attributes(request: ImageRequest) -> dict[str, AttributeValue]:
    """The operation and, for an edit, its input count and bytes (sizes, never content)."""
    attributes: dict[str, AttributeValue] = {n.ATTR_OPERATION: operation_of(request)}
    edit = request.edit
    if edit is not None:
        attributes[n.ATTR_INPUT_IMAGES] = len(edit.inputs.images)
        attributes[n.ATTR_INPUT_BYTES] = edit.inputs.total_bytes
    return attributes


def start_attempt_span(tracer: Tracer, state: RequestState, attempt: Attempt) -> Span:
    """A CLIENT span for one provider call, a child of the current (server) span."""
    request = state.request
    provider_model = attempt.provider_model or attempt.model_name
    attributes: dict[str, AttributeValue] = {
        n.GEN_AI_OPERATION_NAME: n.OPERATION_GENERATE,
        n.GEN_AI_PROVIDER_NAME: attempt.provider,
        n.GEN_AI_SYSTEM: attempt.provider,
        n.GEN_AI_REQUEST_MODEL: provider_model,
        n.GEN_AI_OUTPUT_TYPE: n.OUTPUT_TYPE_IMAGE,
        n.GEN_AI_REQUEST_CHOICE_COUNT: attempt.images,
        n.ATTR_MODEL: attempt.model_name,
        n.ATTR_DEPLOYMENT: attempt.model_id,
        n.ATTR_ATTEMPT: attempt.number,
        n.ATTR_REQUEST_ID: state.request_id,
        **operation_attributes(request),
    }
    host = _host(attempt.api_base)
    if host:
        attributes[n.SERVER_ADDRESS] = host
    if request.size:
        attributes[n.ATTR_SIZE] = bounded(request.size) or ""
    if request.quality:
        attributes[n.ATTR_QUALITY] = bounded(request.quality) or ""
    return tracer.start_span(
        f"{n.OPERATION_GENERATE} {provider_model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        start_time=int(attempt.started_at * 1e9),
    )


def end_attempt_span(span: Span, state: RequestState, attempt: Attempt) -> None:
    """Record how the call ended, then end the span at the attempt's own end time."""
    if span.is_recording():
        span.set_attribute(n.ATTR_OUTCOME, attempt.outcome)
        span.set_attribute(n.ATTR_COST_USD, format_usd(attempt.cost))
        if attempt.outcome == "ok":
            span.set_attribute(n.GEN_AI_RESPONSE_MODEL, attempt.provider_model)
            span.set_attribute(n.ATTR_IMAGE_COUNT, attempt.images_returned)
            if attempt.usage is not None:
                span.set_attribute(n.GEN_AI_USAGE_INPUT_TOKENS, attempt.usage.input_tokens)
                span.set_attribute(n.GEN_AI_USAGE_OUTPUT_TOKENS, attempt.usage.output_tokens)
        else:
            span.set_attribute(n.ERROR_TYPE, attempt.outcome)
            # The reason, not the provider's message: messages may quote the request.
            span.set_status(Status(StatusCode.ERROR, attempt.outcome))
    duration_ms = attempt.duration_ms or 0.0
    span.end(end_time=int((attempt.started_at + duration_ms / 1000) * 1e9))


def add_decision_events(span: Span, decisions: list[Decision]) -> None:
    """Each guardrail / router decision as a span event at the time it was made."""
    for decision in decisions:
        span.add_event(
            n.EVENT_PREFIX + decision.kind,
            attributes={
                n.EVENT_NAME: decision.name,
                n.EVENT_ACTION: decision.action,
                n.EVENT_DETAIL: decision.detail,
            },
            timestamp=int(decision.at * 1e9),
        )


def current_trace_id() -> str | None:
    """The current trace's id as 32 hex digits, or None outside a (sampled or remote) trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _host(api_base: str) -> str | None:
    if not api_base:
        return None
    try:
        return urlsplit(api_base).hostname
    except ValueError:
        return None
