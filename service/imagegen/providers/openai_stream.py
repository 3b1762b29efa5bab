"""What OpenAI's image streams carry, read the same way for generations and edits: each
event's JSON object, its usage block, an error event, and the size an image reports."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from imagegen.errors import (
    ImageGenError,
    ProviderBadResponseError,
    ProviderUnavailableError,
)
from imagegen.providers.http_errors import content_policy_error
from imagegen.sizes import AUTO, parse_size
from imagegen.types import Usage

CONTENT_POLICY_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
"""OpenAI's error codes for a refused prompt or image (an error body's or a stream's)."""
MIME_BY_FORMAT = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def event_object(data: str, provider: str) -> dict[str, Any]:
    """One streamed event's data as a JSON object, or ProviderBadResponseError."""
    try:
        payload = json.loads(data)
    except ValueError:
        raise ProviderBadResponseError("a streamed event is not JSON", provider=provider) from None
    if not isinstance(payload, dict):
        raise ProviderBadResponseError("a streamed event is not an object", provider=provider)
    return payload


def event_usage(value: object, provider: str) -> Usage | None:
    """A `usage` block (None when absent); a malformed one is the provider's fault."""
    if not isinstance(value, dict):
        return None
    try:
        return Usage.model_validate(value)
    except ValidationError:
        raise ProviderBadResponseError(
            "the provider's usage block is malformed", provider=provider
        ) from None


def stream_error(error: object, provider: str) -> ImageGenError:
    """An error event. Once the stream is under way there is no HTTP status: the code says."""
    fields = error if isinstance(error, dict) else {}
    raw_code, raw_message = fields.get("code"), fields.get("message")
    code = raw_code if isinstance(raw_code, str) and raw_code else None
    text = raw_message if isinstance(raw_message, str) and raw_message else None
    message = text or "the provider's stream failed"
    if code in CONTENT_POLICY_CODES:
        return content_policy_error(provider, message)
    metadata = {"upstream_code": code[:64]} if code else {}
    return ProviderUnavailableError(message, provider=provider, metadata=metadata)


def dimensions(size: object) -> tuple[int | None, int | None]:
    """Width and height of a reported size such as "1024x1536" (None, None when not one)."""
    if not isinstance(size, str) or not size or size == AUTO:
        return None, None
    try:
        parsed = parse_size(size)
    except ImageGenError:
        return None, None
    return parsed.width, parsed.height
