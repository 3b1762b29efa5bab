"""One exception tree for the whole gateway.

Every class states, as class attributes, the gRPC code, the HTTP status and the
`ErrorInfo.reason` it stands for (the api-core pattern), so the gRPC server, an
HTTP front door and the client SDK all derive their statuses from this module
and nowhere else. The core never imports grpc: codes are google.rpc.Code values.

    ImageGenError
    ├── InvalidRequestError                 INVALID_ARGUMENT   INVALID_PARAMETER
    │   ├── UnsupportedParameterError       INVALID_ARGUMENT   UNSUPPORTED_PARAMETER
    │   ├── ContentPolicyViolationError     INVALID_ARGUMENT   CONTENT_POLICY_VIOLATION
    │   ├── InvalidInputImageError          INVALID_ARGUMENT   INVALID_INPUT_IMAGE
    │   └── GuardrailBlockedError           INVALID_ARGUMENT   GUARDRAIL_BLOCKED
    ├── ModelNotFoundError                  NOT_FOUND          MODEL_NOT_FOUND
    ├── PermissionDeniedError               PERMISSION_DENIED  REQUEST_CREDENTIALS_NOT_ALLOWED
    │   ├── ModelNotAllowedError            PERMISSION_DENIED  MODEL_NOT_ALLOWED
    │   └── MasterKeyRequiredError          PERMISSION_DENIED  MASTER_KEY_REQUIRED
    ├── UnauthenticatedError                UNAUTHENTICATED    KEY_INVALID
    │   └── KeyMissingError                 UNAUTHENTICATED    KEY_MISSING
    ├── QuotaError                          RESOURCE_EXHAUSTED (QuotaFailure + RetryInfo)
    │   ├── BudgetExceededError             RESOURCE_EXHAUSTED BUDGET_EXCEEDED
    │   ├── KeyRateLimitedError             RESOURCE_EXHAUSTED KEY_RATE_LIMITED
    │   └── LoadShedError                   RESOURCE_EXHAUSTED LOAD_SHED
    ├── CostUnknownError                    FAILED_PRECONDITION COST_UNKNOWN
    ├── AlreadyExistsError                  ALREADY_EXISTS     ALREADY_EXISTS
    ├── NotFoundError                       NOT_FOUND          NOT_FOUND
    ├── FailedPreconditionError             FAILED_PRECONDITION FAILED_PRECONDITION
    ├── ProviderNotConfiguredError          FAILED_PRECONDITION PROVIDER_NOT_CONFIGURED
    ├── DeadlineExceededError               DEADLINE_EXCEEDED  DEADLINE_EXCEEDED
    ├── GatewayUnavailableError             UNAVAILABLE        GATEWAY_UNAVAILABLE (client side)
    ├── GuardrailUnavailableError           UNAVAILABLE        GUARDRAIL_UNAVAILABLE
    ├── ServerLimitError                    RESOURCE_EXHAUSTED SERVER_LIMIT_REACHED
    ├── NoDeploymentAvailableError          UNAVAILABLE        NO_HEALTHY_DEPLOYMENT
    │   └── DeploymentLimitError            RESOURCE_EXHAUSTED DEPLOYMENT_LIMIT_REACHED
    ├── RouterStateUnavailableError         UNAVAILABLE        ROUTER_STATE_UNAVAILABLE
    ├── QuotaStateUnavailableError          UNAVAILABLE        QUOTA_STATE_UNAVAILABLE
    ├── InternalError                       INTERNAL           INTERNAL
    ├── RequestCancelledError               CANCELLED          CANCELLED (reported to hooks)
    └── ProviderError                       (an upstream provider answered badly)
        ├── ProviderInvalidRequestError     INVALID_ARGUMENT   PROVIDER_INVALID_REQUEST
        ├── ProviderAuthenticationError     FAILED_PRECONDITION PROVIDER_AUTHENTICATION_FAILED
        ├── CallerCredentialRejectedError   UNAUTHENTICATED    PROVIDER_CREDENTIAL_REJECTED
        ├── ProviderPermissionDeniedError   PERMISSION_DENIED  PROVIDER_PERMISSION_DENIED
        ├── ProviderModelNotFoundError      NOT_FOUND          PROVIDER_MODEL_NOT_FOUND
        ├── ProviderConflictError           ABORTED            PROVIDER_CONFLICT
        ├── ProviderRateLimitedError        UNAVAILABLE        PROVIDER_RATE_LIMITED
        ├── ProviderQuotaExceededError      RESOURCE_EXHAUSTED PROVIDER_QUOTA_EXCEEDED
        ├── ProviderUnavailableError        UNAVAILABLE        PROVIDER_UNAVAILABLE
        ├── ProviderBadResponseError        UNAVAILABLE        PROVIDER_BAD_RESPONSE
        └── ProviderTimeoutError            DEADLINE_EXCEEDED  PROVIDER_TIMEOUT

ContentPolicyViolationError is raised both for the gateway's own checks and for a
provider's safety refusal; it carries the provider when one refused.

Messages are written for the caller: they never contain exception text from
lower layers, secrets or image data. Provider messages are passed through
`redact_secrets` first.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from imagegen.types import CallFacts

ERROR_DOMAIN = "imagegen"


class Code(IntEnum):
    """google.rpc.Code values (google/rpc/code.proto)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid request field: becomes a google.rpc.BadRequest.FieldViolation."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class PreconditionViolation:
    """One unmet precondition: becomes a google.rpc.PreconditionFailure.Violation."""

    type: str
    subject: str
    description: str


_SECRET_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-*.]{4,}"),
    re.compile(r"(?i)(bearer|api[-_ ]?key[\"':= ]+)\s*[A-Za-z0-9_\-.~+/]{8,}"),
    re.compile(r"AKIA[0-9A-Z]{12,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
)
_MAX_MESSAGE_CHARS = 500


def redact_secrets(text: str) -> str:
    """Blank out anything that looks like a credential and bound the length.

    Providers echo fragments of keys in their error messages ("Incorrect API key
    provided: sk-ab***"); those must not travel on to callers or logs.
    """
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[:_MAX_MESSAGE_CHARS] + "…"
    return text


class ImageGenError(Exception):
    """Base of every error the gateway reports to callers."""

    code: ClassVar[Code] = Code.INTERNAL
    http_status: ClassVar[int] = 500
    reason: ClassVar[str] = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        retry_after: float | None = None,
        upstream_status: int | None = None,
        request_sent: bool | None = None,
        preconditions: Sequence[PreconditionViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)
        self.preconditions: tuple[PreconditionViolation, ...] = tuple(preconditions)
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        """The HTTP status the provider answered with; None when no answer came."""
        self.request_sent = request_sent
        """False when the provider request never left (no bill possible, safe to retry);
        None when it may have."""
        # The wire carries both as ErrorInfo metadata; the gateway decides on the attributes.
        if upstream_status is not None:
            self.metadata["upstream_status"] = str(upstream_status)
        if request_sent is False:
            self.metadata["request_sent"] = "false"
        # Filled by the gateway so that a failed call still reports where it went.
        self.facts: CallFacts | None = None

    def annotated(self, note: str | None, metadata: Mapping[str, str]) -> Self:
        """A new error of the same class whose message ends with `(note)` and whose
        metadata adds `metadata`; `self` is left as it was and becomes the new one's cause."""
        wrapped = type(self).__new__(type(self))
        wrapped.__dict__.update(self.__dict__)
        if note is not None:
            wrapped.message = f"{self.message} ({note})"[:1000]
        wrapped.args = (wrapped.message,)
        wrapped.metadata = {**self.metadata, **metadata}
        wrapped.__cause__ = self
        return wrapped

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class InvalidRequestError(ImageGenError):
    """The request is invalid whatever the state of the system."""

    code = Code.INVALID_ARGUMENT
    http_status = 400
    reason = "INVALID_PARAMETER"


class UnsupportedParameterError(InvalidRequestError):
    """A parameter the chosen model does not accept (and drop_params is off)."""

    reason = "UNSUPPORTED_PARAMETER"


class ContentPolicyViolationError(InvalidRequestError):
    """A safety system refused the prompt or the generated images."""

    reason = "CONTENT_POLICY_VIOLATION"


class InvalidInputImageError(InvalidRequestError):
    """An input image or mask of an edit the gateway refuses before any provider call.

    Its field violations name every offending field (`images[1]`, `mask`).
    """

    reason = "INVALID_INPUT_IMAGE"


class GuardrailBlockedError(InvalidRequestError):
    """A configured guardrail refused the prompt, or withheld every generated image.

    Not a ContentPolicyViolationError on purpose: that one means a provider's safety system
    refused, and may send the request on to another model; the gateway's own policy would
    refuse it there too. `metadata["guardrail"]` names the guardrail.
    """

    reason = "GUARDRAIL_BLOCKED"


class GuardrailUnavailableError(ImageGenError):
    """A guardrail could not decide (its moderation endpoint failed, it raised), and it
    fails closed: the request is refused unchecked rather than sent on unchecked."""

    code = Code.UNAVAILABLE
    http_status = 503
    reason = "GUARDRAIL_UNAVAILABLE"


class ModelNotFoundError(ImageGenError):
    """The gateway serves no model by that name."""

    code = Code.NOT_FOUND
    http_status = 404
    reason = "MODEL_NOT_FOUND"


class PermissionDeniedError(ImageGenError):
    """The caller may not do this here (e.g. send its own api_key/api_base to this server)."""

    code = Code.PERMISSION_DENIED
    http_status = 403
    reason = "REQUEST_CREDENTIALS_NOT_ALLOWED"


class ModelNotAllowedError(PermissionDeniedError):
    """The caller's virtual key may not call this model."""

    reason = "MODEL_NOT_ALLOWED"


class MasterKeyRequiredError(PermissionDeniedError):
    """Only the master key may do this (manage keys, read everyone's spend)."""

    reason = "MASTER_KEY_REQUIRED"


class UnauthenticatedError(ImageGenError):
    """The bearer token is not a valid (or no longer a valid) virtual key."""

    code = Code.UNAUTHENTICATED
    http_status = 401
    reason = "KEY_INVALID"


class KeyMissingError(UnauthenticatedError):
    """The gateway requires a virtual key and the call carried none."""

    reason = "KEY_MISSING"


class QuotaError(ImageGenError):
    """A limit of the caller's key is reached; `subject` names it in the QuotaFailure."""

    code = Code.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "QUOTA_EXCEEDED"

    def __init__(
        self,
        message: str,
        *,
        subject: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        retry_after: float | None = None,
        other_subjects: Sequence[str] = (),
    ) -> None:
        super().__init__(
            message, metadata=metadata, field_violations=field_violations, retry_after=retry_after
        )
        self.subject = subject
        self.other_subjects = tuple(other_subjects)
        """Further limits reached at once (each a QuotaFailure violation of its own)."""


class BudgetExceededError(QuotaError):
    """The call's quote does not fit in what is left of the key's budget."""

    reason = "BUDGET_EXCEEDED"


class KeyRateLimitedError(QuotaError):
    """The key's requests-per-minute or images-per-minute limit is reached."""

    reason = "KEY_RATE_LIMITED"


class LoadShedError(QuotaError):
    """Refused before any provider call because the gateway is full: every deployment of
    the model is at its max_parallel_requests and the wait queue is full, or the wait would
    outlast the caller's deadline. `subject` names the limit; `retry_after` says when."""

    reason = "LOAD_SHED"


class CostUnknownError(ImageGenError):
    """A budgeted key asked for a model the gateway cannot price before the call."""

    code = Code.FAILED_PRECONDITION
    http_status = 400
    reason = "COST_UNKNOWN"


class AlreadyExistsError(ImageGenError):
    """Something by that name exists already (a key alias)."""

    code = Code.ALREADY_EXISTS
    http_status = 409
    reason = "ALREADY_EXISTS"


class NotFoundError(ImageGenError):
    """No such thing (a key alias)."""

    code = Code.NOT_FOUND
    http_status = 404
    reason = "NOT_FOUND"


class FailedPreconditionError(ImageGenError):
    """The gateway is not set up for this (no spend log, a key that lives in the config)."""

    code = Code.FAILED_PRECONDITION
    http_status = 400
    reason = "FAILED_PRECONDITION"


class ProviderNotConfiguredError(ImageGenError):
    """The model's provider lacks what it needs (a key, a base URL) to be called."""

    code = Code.FAILED_PRECONDITION
    http_status = 400
    reason = "PROVIDER_NOT_CONFIGURED"


class DeadlineExceededError(ImageGenError):
    """The caller's deadline (or timeout) passed before the images were ready."""

    code = Code.DEADLINE_EXCEEDED
    http_status = 504
    reason = "DEADLINE_EXCEEDED"


class GatewayUnavailableError(ImageGenError):
    """Client side: the gateway could not be reached (raised by imagegen.client only)."""

    code = Code.UNAVAILABLE
    http_status = 503
    reason = "GATEWAY_UNAVAILABLE"


class NoDeploymentAvailableError(ImageGenError):
    """Every deployment of the model is cooling down or at its limits; `retry_after` says when.

    `all_busy`: every deployment left is only at its `max_parallel_requests`, so a slot frees
    when a call in flight ends (the router may queue the call instead of refusing it)."""

    code = Code.UNAVAILABLE
    http_status = 503
    reason = "NO_HEALTHY_DEPLOYMENT"

    def __init__(self, message: str, *, all_busy: bool = False, **kwargs: Any) -> None:
        # Cooperative: DeploymentLimitError's next base (QuotaError) takes more keywords.
        super().__init__(message, **kwargs)
        self.all_busy = all_busy


class DeploymentLimitError(NoDeploymentAvailableError, QuotaError):
    """Every deployment left in the model group has used its allowance of the current
    minute (its rpm, ipm or tpm): RESOURCE_EXHAUSTED, `retry_after` the end of the window,
    and one QuotaFailure violation per limit ("deployment:<id>:tpm"). Still a
    NoDeploymentAvailableError (the model group's fallbacks are tried first) and a QuotaError."""

    code = Code.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "DEPLOYMENT_LIMIT_REACHED"


class RouterStateUnavailableError(ImageGenError):
    """The router's shared state (Redis) could not be reached, so no call was routed."""

    code = Code.UNAVAILABLE
    http_status = 503
    reason = "ROUTER_STATE_UNAVAILABLE"


class QuotaStateUnavailableError(ImageGenError):
    """The shared quota store (Redis) could not be reached, and the policy fails closed."""

    code = Code.UNAVAILABLE
    http_status = 503
    reason = "QUOTA_STATE_UNAVAILABLE"


class InternalError(ImageGenError):
    """A bug in the gateway. The message never carries the original exception."""


class ServerLimitError(ImageGenError):
    """A configured bound on concurrent work is reached (see imagegen.limits)."""

    code = Code.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "SERVER_LIMIT_REACHED"


class RequestCancelledError(ImageGenError):
    """The caller cancelled the request or went away (reported to hooks, not sent).

    Named apart from asyncio.CancelledError, which it reports but is not."""

    code = Code.CANCELLED
    http_status = 499
    reason = "CANCELLED"


class ProviderError(ImageGenError):
    """An upstream provider refused or failed the call."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        upstream_status: int | None = None,
        request_sent: bool | None = None,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            redact_secrets(message),
            metadata={"provider": provider, **(metadata or {})},
            field_violations=field_violations,
            retry_after=retry_after,
            upstream_status=upstream_status,
            request_sent=request_sent,
        )
        self.provider = provider


class ProviderInvalidRequestError(ProviderError):
    """The provider rejected a parameter value the gateway could not check itself."""

    code = Code.INVALID_ARGUMENT
    http_status = 400
    reason = "PROVIDER_INVALID_REQUEST"


class ProviderAuthenticationError(ProviderError):
    """The provider rejected the gateway's configured credential: an operator must fix it."""

    code = Code.FAILED_PRECONDITION
    http_status = 500
    reason = "PROVIDER_AUTHENTICATION_FAILED"


class CallerCredentialRejectedError(ProviderError):
    """The provider rejected a credential the caller supplied in the request."""

    code = Code.UNAUTHENTICATED
    http_status = 401
    reason = "PROVIDER_CREDENTIAL_REJECTED"


class ProviderPermissionDeniedError(ProviderError):
    """The provider account may not use this model (e.g. an unverified organization)."""

    code = Code.PERMISSION_DENIED
    http_status = 403
    reason = "PROVIDER_PERMISSION_DENIED"


class ProviderModelNotFoundError(ProviderError):
    """The provider does not know the model or deployment the gateway asked for."""

    code = Code.NOT_FOUND
    http_status = 404
    reason = "PROVIDER_MODEL_NOT_FOUND"


class ProviderConflictError(ProviderError):
    """The provider reported a conflict (409); retry the whole operation later."""

    code = Code.ABORTED
    http_status = 409
    reason = "PROVIDER_CONFLICT"


class ProviderRateLimitedError(ProviderError):
    """The provider is rate limiting; a retry after `retry_after` seconds may work."""

    code = Code.UNAVAILABLE
    http_status = 429
    reason = "PROVIDER_RATE_LIMITED"


class ProviderQuotaExceededError(ProviderError):
    """The provider account is out of quota or credit; retrying will not help."""

    code = Code.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "PROVIDER_QUOTA_EXCEEDED"


class ProviderUnavailableError(ProviderError):
    """The provider failed (5xx) or could not be reached; transient."""

    code = Code.UNAVAILABLE
    http_status = 503
    reason = "PROVIDER_UNAVAILABLE"


class ProviderBadResponseError(ProviderError):
    """The provider answered success with a body the gateway cannot use."""

    code = Code.UNAVAILABLE
    http_status = 502
    reason = "PROVIDER_BAD_RESPONSE"


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within the time the call had left."""

    code = Code.DEADLINE_EXCEEDED
    http_status = 504
    reason = "PROVIDER_TIMEOUT"


def invalid_field(field: str, description: str) -> InvalidRequestError:
    """An InvalidRequestError about one field: named in the BadRequest violation and metadata."""
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation(field, description)],
        metadata={"field": field},
    )


class ConfigError(Exception):
    """A configuration problem found at start-up; never crosses an RPC."""


def all_error_classes() -> list[type[ImageGenError]]:
    """Every concrete class of the tree, for the mapping tests and the client's registry."""
    found: list[type[ImageGenError]] = []
    pending: list[type[ImageGenError]] = [ImageGenError]
    while pending:
        cls = pending.pop()
        if cls in found:  # a class with two bases in the tree is met twice
            continue
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


# reason → class, built once. The two abstract bases inherit INTERNAL; InternalError is the
# class that owns it.
_BY_REASON: dict[str, type[ImageGenError]] = {
    cls.reason: cls for cls in all_error_classes() if cls not in (ImageGenError, ProviderError)
}


def error_class_for_reason(reason: str) -> type[ImageGenError]:
    """The class whose `reason` is `reason` (ImageGenError when none matches)."""
    return _BY_REASON.get(reason, ImageGenError)


def __getattr__(name: str) -> Any:
    # The old name of RequestCancelledError, kept for hooks written against it.
    if name == "CancelledError":
        warnings.warn(
            "imagegen.errors.CancelledError is now RequestCancelledError",
            DeprecationWarning,
            stacklevel=2,
        )
        return RequestCancelledError
    raise AttributeError(f"module 'imagegen.errors' has no attribute {name!r}")


__all__ = [
    "ERROR_DOMAIN",
    "AlreadyExistsError",
    "BudgetExceededError",
    "CallerCredentialRejectedError",
    "Code",
    "ConfigError",
    "ContentPolicyViolationError",
    "CostUnknownError",
    "DeadlineExceededError",
    "DeploymentLimitError",
    "FailedPreconditionError",
    "FieldViolation",
    "GatewayUnavailableError",
    "GuardrailBlockedError",
    "GuardrailUnavailableError",
    "ImageGenError",
    "InternalError",
    "InvalidInputImageError",
    "InvalidRequestError",
    "KeyMissingError",
    "KeyRateLimitedError",
    "LoadShedError",
    "MasterKeyRequiredError",
    "ModelNotAllowedError",
    "ModelNotFoundError",
    "NoDeploymentAvailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionViolation",
    "ProviderAuthenticationError",
    "ProviderBadResponseError",
    "ProviderConflictError",
    "ProviderError",
    "ProviderInvalidRequestError",
    "ProviderModelNotFoundError",
    "ProviderNotConfiguredError",
    "ProviderPermissionDeniedError",
    "ProviderQuotaExceededError",
    "ProviderRateLimitedError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "QuotaError",
    "QuotaStateUnavailableError",
    "RequestCancelledError",
    "RouterStateUnavailableError",
    "ServerLimitError",
    "UnauthenticatedError",
    "UnsupportedParameterError",
    "all_error_classes",
    "error_class_for_reason",
    "invalid_field",
    "redact_secrets",
]
