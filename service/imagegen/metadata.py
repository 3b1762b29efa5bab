"""The call facts as key/value metadata, shared by the two doors.

The gRPC door sends these as trailers, the HTTP door as response headers: the same
names and the same values, from this one definition. Also here: which facts a failed
call reports, so both doors answer a failure with the same cost and routing facts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from imagegen.types import REQUEST_ID_PATTERN, CallFacts

if TYPE_CHECKING:
    from imagegen.errors import ImageGenError
    from imagegen.events import RequestState

TRAILER_COST = "x-imagegen-response-cost"
TRAILER_MODEL_ID = "x-imagegen-model-id"
TRAILER_PROVIDER = "x-imagegen-provider"
TRAILER_API_BASE = "x-imagegen-api-base"
TRAILER_ATTEMPTS = "x-imagegen-attempts"
TRAILER_OVERHEAD = "x-imagegen-overhead-ms"
TRAILER_REQUEST_ID = "x-imagegen-request-id"
# Only when they apply:
TRAILER_SIZE_COERCION = "x-imagegen-size-coercion"
TRAILER_FILTERED = "x-imagegen-filtered-count"
TRAILER_WITHHELD = "x-imagegen-withheld"
# Reasons are short, but one per image: bound the trailer whatever a custom guardrail writes.
_MAX_WITHHELD_CHARS = 1024
TRAILER_FALLBACK_MODEL = "x-imagegen-fallback-model"
TRAILER_FAILED = "x-imagegen-failed-count"
# "hit" (answered from the cache, cost 0) or "miss" (cacheable; the provider was called).
TRAILER_CACHE = "x-imagegen-cache"


def trailers(facts: CallFacts) -> tuple[tuple[str, str], ...]:
    """The cost and routing metadata, sent on every call."""
    always = (
        (TRAILER_COST, facts.response_cost_text),
        (TRAILER_MODEL_ID, _header_safe(facts.model_id)),
        (TRAILER_PROVIDER, facts.provider),
        (TRAILER_API_BASE, _header_safe(facts.api_base)),
        (TRAILER_ATTEMPTS, str(facts.attempts)),
        (TRAILER_OVERHEAD, f"{facts.overhead_ms:.3f}"),
        (TRAILER_REQUEST_ID, _header_safe(facts.request_id)),
    )
    optional = []
    if facts.size_requested is not None:
        coercion = f"{facts.size_requested}->{facts.size_actual}"
        optional.append((TRAILER_SIZE_COERCION, _header_safe(coercion)))
    if facts.filtered:
        optional.append((TRAILER_FILTERED, str(facts.filtered)))
    if facts.withheld:
        reasons = "; ".join(facts.withheld)[:_MAX_WITHHELD_CHARS]
        optional.append((TRAILER_WITHHELD, _header_safe(reasons)))
    if facts.fallback_model:
        optional.append((TRAILER_FALLBACK_MODEL, _header_safe(facts.fallback_model)))
    if facts.failed:
        optional.append((TRAILER_FAILED, str(facts.failed)))
    if facts.cache:
        optional.append((TRAILER_CACHE, facts.cache))
    return (*always, *optional)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `authorization: Bearer <token>` header or metadata value."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _header_safe(value: str) -> str:
    # gRPC rejects the whole call ("Invalid metadata") for a non-printable-ASCII value, and an
    # HTTP header must not carry one either; config values (a model id, a base URL) are not
    # guaranteed to be ASCII.
    if value.isascii() and value.isprintable():
        return value
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in value)


def failure_facts(
    error: ImageGenError, state: RequestState | None, request_id: str | None
) -> CallFacts:
    """The facts a failed call reports.

    The gateway's when it got that far; else the request's state; else (the request did
    not even validate) only the caller's request id, when it is a valid one.
    """
    if error.facts is not None:
        facts = error.facts
    elif state is not None:
        facts = state.facts
    else:
        valid = request_id if re.fullmatch(REQUEST_ID_PATTERN, request_id or "-") else ""
        facts = CallFacts(request_id=(valid or "")[:128])
    if state is not None:
        facts.overhead_ms = state.overhead_ms()
    return facts
