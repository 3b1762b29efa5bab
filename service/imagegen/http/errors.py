"""ImageGenError → OpenAI's error envelope, with the status and headers that go with it.

The HTTP status and the reason come from the error classes themselves
(`imagegen.errors`), exactly as the gRPC code does. What only this door needs is
OpenAI's coarse `type` word, so it lives here, in one table: `errors.py` stays free
of one wire format's vocabulary, as it stays free of grpc (`server/status.py` holds
the grpc side the same way). A test asserts that every class of the tree has a row.
"""

from __future__ import annotations

import logging
import math

from pydantic import JsonValue

from imagegen import errors as e
from imagegen.errors import Code, ImageGenError, InternalError

log = logging.getLogger(__name__)

# OpenAI's own words where OpenAI has one for the case (a DALL·E safety refusal and an
# unknown model are `invalid_request_error`, an account out of credit is `insufficient_quota`,
# its own failures `server_error`); the fine-grained case is in `code` (the reason).
# Failures of the gateway's own setup (a deployment without a key, a key the provider
# refused) are `server_error`: the caller did nothing wrong, whatever the status says.
OPENAI_ERROR_TYPES: dict[type[ImageGenError], str] = {
    e.ImageGenError: "server_error",
    e.InvalidRequestError: "invalid_request_error",
    e.UnsupportedParameterError: "invalid_request_error",
    e.ContentPolicyViolationError: "invalid_request_error",
    e.GuardrailBlockedError: "invalid_request_error",
    e.InvalidInputImageError: "invalid_request_error",
    e.GuardrailUnavailableError: "server_error",
    e.ModelNotFoundError: "invalid_request_error",
    e.PermissionDeniedError: "permission_error",
    e.ModelNotAllowedError: "permission_error",
    e.MasterKeyRequiredError: "permission_error",
    e.UnauthenticatedError: "authentication_error",
    e.KeyMissingError: "authentication_error",
    e.QuotaError: "rate_limit_error",
    e.BudgetExceededError: "insufficient_quota",
    e.KeyRateLimitedError: "rate_limit_error",
    e.LoadShedError: "rate_limit_error",
    e.CostUnknownError: "invalid_request_error",
    e.AlreadyExistsError: "conflict_error",
    e.NotFoundError: "invalid_request_error",
    e.FailedPreconditionError: "invalid_request_error",
    e.ProviderNotConfiguredError: "server_error",
    e.DeadlineExceededError: "timeout_error",
    e.GatewayUnavailableError: "server_error",
    e.NoDeploymentAvailableError: "server_error",
    e.DeploymentLimitError: "rate_limit_error",
    e.RouterStateUnavailableError: "server_error",
    e.QuotaStateUnavailableError: "server_error",
    e.InternalError: "server_error",
    e.RequestCancelledError: "server_error",
    e.ServerLimitError: "rate_limit_error",
    e.ProviderError: "server_error",
    e.ProviderInvalidRequestError: "invalid_request_error",
    e.ProviderAuthenticationError: "server_error",
    e.CallerCredentialRejectedError: "authentication_error",
    e.ProviderPermissionDeniedError: "permission_error",
    e.ProviderModelNotFoundError: "invalid_request_error",
    e.ProviderConflictError: "conflict_error",
    e.ProviderRateLimitedError: "rate_limit_error",
    e.ProviderQuotaExceededError: "insufficient_quota",
    e.ProviderUnavailableError: "server_error",
    e.ProviderBadResponseError: "server_error",
    e.ProviderTimeoutError: "timeout_error",
}

# Provider parameters are top-level fields of an OpenAI request body.
_PROVIDER_PARAMS_PREFIX = "provider_params."


def openai_error_type(error: ImageGenError) -> str:
    """The OpenAI `type` for the error (its nearest listed class, should a new one be missing)."""
    for cls in type(error).__mro__:
        found = OPENAI_ERROR_TYPES.get(cls)
        if found is not None:
            return found
    return "server_error"


def error_param(error: ImageGenError) -> str | None:
    """The request field at fault, named as in the OpenAI request body."""
    if not error.field_violations:
        return None
    field = error.field_violations[0].field
    return field.removeprefix(_PROVIDER_PARAMS_PREFIX)


def error_body(error: ImageGenError) -> dict[str, JsonValue]:
    """OpenAI's envelope: {"error": {"message", "type", "param", "code"}}."""
    return {
        "error": {
            "message": error.message,
            "type": openai_error_type(error),
            "param": error_param(error),
            "code": error.reason.lower(),
        }
    }


def admin_error(exc: Exception, path: str) -> tuple[dict[str, JsonValue], int]:
    """The envelope and status for a JSON admin route's failure (the key and spend routes,
    the console's API): an ImageGenError as it is, anything else logged and answered as an
    internal error, its text never sent."""
    if isinstance(exc, ImageGenError):
        return error_body(exc), exc.http_status
    log.exception("unexpected error in %s", path)
    error = InternalError("internal error")
    return error_body(error), error.http_status


def error_headers(error: ImageGenError) -> dict[str, str]:
    """Retry hints for HTTP clients, from the same facts the gRPC status details carry."""
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        seconds = max(0.0, error.retry_after)
        headers["retry-after"] = str(math.ceil(seconds))
        headers["retry-after-ms"] = str(round(seconds * 1000))
    # OpenAI's SDKs retry every 429 and 5xx unless told otherwise. The gRPC code already says
    # when a retry cannot help: an exhausted quota, a setup only an operator can fix.
    # A call shed under load, or refused until a deployment's minute window ends, is the
    # exception: it is worth sending again after Retry-After.
    if error.code in (Code.RESOURCE_EXHAUSTED, Code.FAILED_PRECONDITION) and not isinstance(
        error, e.LoadShedError | e.DeploymentLimitError
    ):
        headers["x-should-retry"] = "false"
    return headers
