"""The HTTP door's error mapping: every class of the tree to OpenAI's envelope, in agreement
with the gRPC status the other door sends for the same error."""

from __future__ import annotations

import pytest
from google.rpc import error_details_pb2

from imagegen.errors import (
    Code,
    DeploymentLimitError,
    FieldViolation,
    ImageGenError,
    LoadShedError,
    ProviderError,
    ProviderQuotaExceededError,
    ProviderRateLimitedError,
    UnsupportedParameterError,
    all_error_classes,
)
from imagegen.http.errors import (
    OPENAI_ERROR_TYPES,
    error_body,
    error_headers,
    error_param,
)
from imagegen.server.status import grpc_code, to_rpc_status

CLASSES = all_error_classes()
CLASS_IDS = [cls.__name__ for cls in CLASSES]
# The words OpenAI's own API and its SDKs use, plus the few the gateway adds for cases OpenAI
# has no word for (timeouts, conflicts, rate limits apart from quota).
OPENAI_TYPES = {
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "rate_limit_error",
    "insufficient_quota",
    "conflict_error",
    "timeout_error",
    "server_error",
}


def instance_of(cls: type[ImageGenError], retry_after: float | None = None) -> ImageGenError:
    violations = [FieldViolation("provider_params.seed", "bad"), FieldViolation("n", "bad")]
    if issubclass(cls, ProviderError):
        return cls(
            "it failed", provider="openai", field_violations=violations, retry_after=retry_after
        )
    return cls("it failed", field_violations=violations, retry_after=retry_after)


def test_every_error_class_has_exactly_one_row() -> None:
    assert set(OPENAI_ERROR_TYPES) == set(CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_envelope_agrees_with_the_grpc_status(cls: type[ImageGenError]) -> None:
    error = instance_of(cls)
    body = error_body(error)
    envelope = body["error"]
    assert isinstance(envelope, dict)
    assert set(envelope) == {"message", "type", "param", "code"}
    assert envelope["type"] in OPENAI_TYPES

    status = to_rpc_status(error)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert envelope["code"] == info.reason.lower()
    assert envelope["message"] == status.message
    # The HTTP status and the gRPC code come from the same class attributes.
    assert grpc_code(error).value[0] == int(cls.code)
    assert 400 <= cls.http_status <= 599
    bad = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad)
    assert envelope["param"] == bad.field_violations[0].field.removeprefix("provider_params.")


def test_status_class_and_type_agree() -> None:
    # A 5xx is never blamed on the request, a caller's mistake never called a server error.
    for cls in CLASSES:
        kind = OPENAI_ERROR_TYPES[cls]
        if cls.http_status >= 500:
            assert kind in ("server_error", "timeout_error"), cls
        if kind == "invalid_request_error":
            assert cls.http_status in (400, 404), cls


def test_param_is_the_first_violation_named_as_in_the_body() -> None:
    assert error_param(instance_of(UnsupportedParameterError)) == "seed"
    assert error_param(UnsupportedParameterError("x")) is None


def test_retry_headers_follow_the_grpc_semantics() -> None:
    limited = error_headers(instance_of(ProviderRateLimitedError, retry_after=2.5))
    assert limited == {"retry-after": "3", "retry-after-ms": "2500"}
    quota = error_headers(instance_of(ProviderQuotaExceededError))
    assert quota == {"x-should-retry": "false"}
    for cls in CLASSES:
        headers = error_headers(instance_of(cls))
        # A call shed under load, or refused until a deployment's minute ends, is worth
        # retrying after Retry-After; other exhausted quotas and preconditions are not.
        refuses = cls.code in (Code.RESOURCE_EXHAUSTED, Code.FAILED_PRECONDITION)
        refuses = refuses and cls not in (LoadShedError, DeploymentLimitError)
        assert ("x-should-retry" in headers) == refuses, cls
