"""Which failures the router retries, how many times, and how long it waits in between."""

from __future__ import annotations

import random
from enum import Enum

from imagegen.errors import (
    CallerCredentialRejectedError,
    ContentPolicyViolationError,
    DeadlineExceededError,
    ImageGenError,
    ProviderAuthenticationError,
    ProviderBadResponseError,
    ProviderConflictError,
    ProviderModelNotFoundError,
    ProviderPermissionDeniedError,
    ProviderQuotaExceededError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegen.router.settings import RouterSettings


class Failure(Enum):
    """What a failed attempt means for the rest of the request."""

    RETRYABLE = "retryable"
    """Transient (429, 5xx, timeout, broken connection, unusable answer): try again."""
    DEPLOYMENT = "deployment"
    """This deployment cannot serve (credentials, quota, model missing): try another one."""
    CONTENT_POLICY = "content_policy"
    """A safety refusal: only a content-policy fallback (another model) may help."""
    FINAL = "final"
    """The request itself is at fault, or the caller's deadline passed: stop."""


def classify(error: ImageGenError, *, deadline_expired: bool) -> Failure:
    """How the router treats `error`."""
    if isinstance(error, ContentPolicyViolationError):
        return Failure.CONTENT_POLICY
    if isinstance(error, DeadlineExceededError):
        # A deployment's own timeout ran out, but the caller's deadline did not: a timeout.
        return Failure.FINAL if deadline_expired else Failure.RETRYABLE
    if isinstance(
        error,
        ProviderRateLimitedError
        | ProviderUnavailableError
        | ProviderTimeoutError
        | ProviderBadResponseError
        | ProviderConflictError,
    ):
        return Failure.RETRYABLE
    if isinstance(error, CallerCredentialRejectedError):
        return Failure.FINAL  # the caller's own key: another deployment would get it too
    if isinstance(
        error,
        ProviderAuthenticationError
        | ProviderPermissionDeniedError
        | ProviderModelNotFoundError
        | ProviderQuotaExceededError,
    ):
        return Failure.DEPLOYMENT
    return Failure.FINAL


def policy_key(error: ImageGenError) -> str | None:
    """The retry_policy key (LiteLLM's names) that governs `error`, if any."""
    if isinstance(error, ProviderRateLimitedError):
        return "RateLimitErrorRetries"
    if isinstance(error, ProviderTimeoutError | DeadlineExceededError):
        return "TimeoutErrorRetries"
    if isinstance(error, ProviderBadResponseError):
        return "BadResponseErrorRetries"
    if isinstance(error, ProviderUnavailableError):
        # No upstream status: the connection failed before any answer.
        if error.upstream_status is not None:
            return "InternalServerErrorRetries"
        return "ConnectionErrorRetries"
    if isinstance(error, ProviderAuthenticationError | ProviderPermissionDeniedError):
        return "AuthenticationErrorRetries"
    return None


def retries_for(error: ImageGenError, settings: RouterSettings) -> int:
    """How many retries a request may make after this failure."""
    key = policy_key(error)
    if key is not None and key in settings.retry_policy:
        return settings.retry_policy[key]
    return settings.num_retries


def backoff(retry: int, settings: RouterSettings, rng: random.Random) -> float:
    """Seconds before retry number `retry` (1-based): exponential, jittered over its upper half."""
    ceiling = min(
        settings.retry_backoff_max_seconds, settings.retry_backoff_seconds * 2 ** (retry - 1)
    )
    return rng.uniform(ceiling / 2, ceiling)
