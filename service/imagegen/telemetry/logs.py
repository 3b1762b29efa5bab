"""The one structured log line per request, and the payload callbacks receive.

Built from the request's state field by field, so nothing reaches it by accident:
no image bytes or base64 (only counts), no credentials (only the key's alias), no
prompt unless `log_prompts` is set, no provider error text (only the reason).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from imagegen.telemetry.names import REQUEST_LOGGER
from imagegen.types import format_usd

if TYPE_CHECKING:
    from imagegen.errors import ImageGenError
    from imagegen.events import Decision, RequestState
    from imagegen.types import Attempt, Usage

request_log = logging.getLogger(REQUEST_LOGGER)

EVENT = "imagegen.request"


def request_payload(
    state: RequestState,
    error: ImageGenError | None,
    *,
    latency_ms: float,
    trace_id: str | None,
    images: int,
    usage: Usage | None,
    size: str | None,
    quality: str | None,
    log_prompts: bool,
) -> dict[str, Any]:
    """The payload of a request the gateway handled (success or failure)."""
    facts = state.facts
    request = state.request
    payload: dict[str, Any] = {
        "event": EVENT,
        "time": round(time.time(), 3),
        "request_id": facts.request_id,
        "trace_id": trace_id,
        "door": state.door,
        "key_alias": state.caller.alias if state.caller is not None else None,
        "model": bounded(
            request.model or (facts.attempt_log[-1].model_name if facts.attempt_log else None)
        ),
        "deployment": facts.model_id or None,
        "provider": facts.provider or None,
        "provider_model": facts.provider_model or None,
        "n": request.n,
        "size": bounded(size),
        "quality": bounded(quality),
        "status": "OK" if error is None else error.code.name,
        "error_reason": None if error is None else error.reason,
        "cost_usd": format_usd(facts.response_cost),
        "usage": _usage(usage),
        "images": images,
        "filtered": facts.filtered,
        "latency_ms": round(latency_ms, 3),
        "overhead_ms": round(facts.overhead_ms, 3),
        "attempts": facts.attempts,
        "attempt_log": [_attempt(a) for a in facts.attempt_log],
        "decisions": [_decision(d) for d in state.decisions],
        "dropped_params": list(state.dropped_params),
        "tags": list(request.tags),
    }
    if facts.size_requested is not None:
        payload["size_requested"] = facts.size_requested
    if request.edit is not None:
        # An edit's inputs by digest prefix, size and dimensions: never their bytes.
        payload["edit"] = {
            "operation": request.edit.operation.value,
            "inputs": [summary.as_dict() for summary in request.edit.inputs.summaries()],
        }
    if log_prompts:
        # After the guardrails: a masked prompt is logged masked.
        payload["prompt"] = request.prompt
    return payload


# Strings a caller chose (a model name, a size) may be anything up to the request's limits;
# a log line or span carries a bounded prefix, never a caller's 100 KB payload.
CALLER_TEXT_LIMIT = 128


def bounded(value: str | None) -> str | None:
    """`value` cut to CALLER_TEXT_LIMIT characters (marked when cut)."""
    if value is None or len(value) <= CALLER_TEXT_LIMIT:
        return value
    return value[:CALLER_TEXT_LIMIT] + "…"


def rejected_payload(
    error: ImageGenError, *, door: str, request_id: str, latency_ms: float, trace_id: str | None
) -> dict[str, Any]:
    """The payload of a request refused before the gateway saw it (it did not parse)."""
    return {
        "event": EVENT,
        "time": round(time.time(), 3),
        "request_id": request_id,
        "trace_id": trace_id,
        "door": door,
        "key_alias": None,
        "model": None,
        "deployment": None,
        "provider": None,
        "status": error.code.name,
        "error_reason": error.reason,
        "cost_usd": "0",
        "images": 0,
        "latency_ms": round(latency_ms, 3),
        "overhead_ms": round(latency_ms, 3),
        "attempts": 0,
    }


def _usage(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "model": attempt.model_name,
        "deployment": attempt.model_id,
        "provider": attempt.provider,
        "outcome": attempt.outcome,
        "duration_ms": None if attempt.duration_ms is None else round(attempt.duration_ms, 3),
        "cost_usd": format_usd(attempt.cost),
    }


def _decision(decision: Decision) -> dict[str, str]:
    return {
        "kind": decision.kind,
        "name": decision.name,
        "action": decision.action,
        "detail": decision.detail,
    }


def format_line(payload: dict[str, Any], log_format: str) -> str:
    """The log message: compact JSON, or key=value pairs for a human reading a terminal."""
    if log_format == "json":
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return " ".join(
        f"{key}={_text(value)}" for key, value in payload.items() if value not in (None, [], "")
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and '"' not in value else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def emit(payload: dict[str, Any], log_format: str) -> None:
    """Write the line at INFO (failures too: the status field says how it ended)."""
    if request_log.isEnabledFor(logging.INFO):
        request_log.info(format_line(payload, log_format))
