"""Turning a provider's HTTP error status into the gateway's error tree.

Adapters find the message, the provider's error code and whether it is a safety
refusal in their own body format; the status → class decision is shared here so
that every provider maps 401, 429, 5xx... the same way.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from imagegen.errors import (
    CallerCredentialRejectedError,
    ContentPolicyViolationError,
    FieldViolation,
    ImageGenError,
    ProviderAuthenticationError,
    ProviderBadResponseError,
    ProviderConflictError,
    ProviderError,
    ProviderInvalidRequestError,
    ProviderModelNotFoundError,
    ProviderPermissionDeniedError,
    ProviderQuotaExceededError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    redact_secrets,
)

_MAX_RETRY_AFTER_SECONDS = 24 * 3600.0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value: float | None = None
    if "retry-after-ms" in lowered:
        try:
            value = float(lowered["retry-after-ms"]) / 1000
        except ValueError:
            value = None
    if value is None and "retry-after" in lowered:
        raw = lowered["retry-after"].strip()
        try:
            value = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if raw else None
            value = parsed.timestamp() - time.time() if parsed is not None else None
    if value is None or value != value:  # NaN
        return None
    return min(max(value, 0.0), _MAX_RETRY_AFTER_SECONDS)


def error_for_status(
    *,
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str],
    caller_credentials: bool,
    code: str | None = None,
    param: str | None = None,
    content_policy: bool = False,
    quota_exhausted: bool = False,
) -> ImageGenError:
    """The error for an HTTP error answer, given what the adapter read from the body."""
    metadata: dict[str, str] = {}
    if code:
        metadata["upstream_code"] = code[:64]
    safe = redact_secrets(message) or f"the provider answered HTTP {status}"
    cls: type[ProviderError]
    if content_policy:
        return _content_policy(provider, status, safe, metadata)
    if status == 401:
        cls = CallerCredentialRejectedError if caller_credentials else ProviderAuthenticationError
        # Auth messages quote the key; say only what happened.
        safe = "the provider rejected the API credential"
    elif status == 403:
        cls = ProviderPermissionDeniedError
    elif status == 404:
        cls = ProviderModelNotFoundError
    elif status == 408:
        cls = ProviderTimeoutError
    elif status == 409:
        cls = ProviderConflictError
    elif status == 429:
        cls = ProviderQuotaExceededError if quota_exhausted else ProviderRateLimitedError
    elif status in (400, 413, 415, 422):
        cls = ProviderInvalidRequestError
    elif status >= 500:
        cls = ProviderUnavailableError
    else:
        cls = ProviderBadResponseError
    violations = (
        [FieldViolation(param, safe)] if param and cls is ProviderInvalidRequestError else []
    )
    if param:
        metadata["field"] = param[:64]
    return cls(
        safe,
        provider=provider,
        upstream_status=status,
        metadata=metadata,
        field_violations=violations,
        retry_after=retry_after_seconds(headers),
    )


def _content_policy(
    provider: str, status: int | None, message: str, metadata: dict[str, str]
) -> ContentPolicyViolationError:
    return ContentPolicyViolationError(
        redact_secrets(message),
        metadata={"provider": provider, **metadata},
        upstream_status=status,
    )


def content_policy_error(
    provider: str, message: str, *, status: int | None = None
) -> ContentPolicyViolationError:
    """A provider's safety refusal (also used for refusals inside a 200 answer)."""
    return _content_policy(provider, status, message, {})
