"""The `x-litellm-*` response headers LiteLLM proxy callers read, from the same call facts
as the `x-imagegen-*` ones.

Only the facts imagegen has are sent, and (as LiteLLM's proxy does) a header without a
value is left out rather than sent empty: a caller doing `float(headers[...])` on the cost
gets no header for an unknown cost, never a wrong 0.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from imagegen.types import CallFacts

RESPONSE_COST = "x-litellm-response-cost"
MODEL_ID = "x-litellm-model-id"
MODEL_GROUP = "x-litellm-model-group"
MODEL_API_BASE = "x-litellm-model-api-base"
CALL_ID = "x-litellm-call-id"
ATTEMPTED_RETRIES = "x-litellm-attempted-retries"
ATTEMPTED_FALLBACKS = "x-litellm-attempted-fallbacks"
OVERHEAD_MS = "x-litellm-overhead-duration-ms"


def litellm_headers(facts: CallFacts) -> dict[str, str]:
    """LiteLLM's names for the call facts (ASCII-safe values, from `facts` only)."""
    headers: dict[str, str] = {}
    if facts.response_cost is not None:
        headers[RESPONSE_COST] = facts.response_cost_text
    if facts.model_id:
        headers[MODEL_ID] = _ascii(facts.model_id)
    if facts.api_base:
        headers[MODEL_API_BASE] = _ascii(_without_query(facts.api_base))
    if facts.request_id:
        headers[CALL_ID] = _ascii(facts.request_id)
    headers[OVERHEAD_MS] = f"{facts.overhead_ms:.3f}"
    groups = list(dict.fromkeys(a.model_name for a in facts.attempt_log))
    if groups:
        # LiteLLM counts retries within the group that answered last, and each other group
        # tried as one fallback.
        last = groups[-1]
        headers[MODEL_GROUP] = _ascii(last)
        on_last = sum(1 for a in facts.attempt_log if a.model_name == last)
        headers[ATTEMPTED_RETRIES] = str(max(on_last - 1, 0))
        headers[ATTEMPTED_FALLBACKS] = str(len(groups) - 1)
    return headers


def _without_query(url: str) -> str:
    # LiteLLM strips the query: an Azure SAS or key may travel in it.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _ascii(value: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in value)
