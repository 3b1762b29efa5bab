"""The error tree's mappings: every class to a gRPC code, an AIP-193 reason and an HTTP status,
back again through the client, and every HTTP client exception into the tree."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import aiohttp
import grpc
import multidict
import pytest
import yarl
from google.rpc import error_details_pb2

import imagegen.errors
from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.client._convert import error_from
from imagegen.config import embedded_settings
from imagegen.deadline import Deadline
from imagegen.errors import (
    ContentPolicyViolationError,
    DeadlineExceededError,
    FieldViolation,
    GatewayUnavailableError,
    ImageGenError,
    InternalError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderQuotaExceededError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RequestCancelledError,
    UnsupportedParameterError,
    all_error_classes,
    error_class_for_reason,
)
from imagegen.providers.transport import map_transport_error
from imagegen.server.status import STATUS_DETAILS_KEY, grpc_code, to_rpc_status
from tests.conftest import ServeFactory

REASON = re.compile(r"[A-Z][A-Z0-9_]+[A-Z0-9]")
LEAK = "secret-leak-text"
# The two abstract bases are never raised; they share InternalError's reason.
ABSTRACT = (ImageGenError, ProviderError)
TRAILERS = {
    "x-imagegen-response-cost": "0.04",
    "x-imagegen-model-id": "oai-gpt-image-1",
    "x-imagegen-provider": "openai",
    "x-imagegen-api-base": "https://api.openai.com/v1",
    "x-imagegen-attempts": "1",
    "x-imagegen-overhead-ms": "1.250",
    "x-imagegen-request-id": "req-1",
}


def instance_of(cls: type[ImageGenError]) -> ImageGenError:
    """An instance with every optional part set, so the round trip has something to lose."""
    message = f"{cls.__name__} happened"
    metadata = {"field": "size"}
    violations = [FieldViolation("size", "must look like 1024x1024")]
    if issubclass(cls, ProviderError):
        return cls(
            message,
            provider="openai",
            upstream_status=499,
            metadata=metadata,
            field_violations=violations,
            retry_after=2.5,
        )
    return cls(message, metadata=metadata, field_violations=violations, retry_after=2.5)


def rpc_error_for(error: ImageGenError) -> grpc.aio.AioRpcError:
    """What the client receives when the server aborts with `error` (the servicer's trailers)."""
    status = to_rpc_status(error)
    trailing = grpc.aio.Metadata(
        *TRAILERS.items(), (STATUS_DETAILS_KEY, status.SerializeToString())
    )
    return grpc.aio.AioRpcError(grpc_code(error), grpc.aio.Metadata(), trailing, status.message)


CLASSES = all_error_classes()
CLASS_IDS = [cls.__name__ for cls in CLASSES]


def test_tree_is_complete() -> None:
    assert len(CLASSES) == len(set(CLASSES))
    assert {InternalError, ProviderQuotaExceededError, GatewayUnavailableError} <= set(CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_class_maps_to_a_real_grpc_code(cls: type[ImageGenError]) -> None:
    code = grpc_code(instance_of(cls))
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK)
    # The code is the class's own, not grpc_code's INTERNAL fallback.
    assert code.value[0] == int(cls.code)


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_class_has_aip193_reason_and_http_status(cls: type[ImageGenError]) -> None:
    assert REASON.fullmatch(cls.reason)
    assert len(cls.reason) <= 63
    assert 400 <= cls.http_status <= 599


def test_each_reason_names_one_raisable_class() -> None:
    concrete = [cls for cls in CLASSES if cls not in ABSTRACT]
    reasons = [cls.reason for cls in concrete]
    assert len(reasons) == len(set(reasons))


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_status_always_carries_error_info(cls: type[ImageGenError]) -> None:
    error = instance_of(cls)
    status = to_rpc_status(error)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.domain, info.reason) == ("imagegen", cls.reason)
    assert status.code == int(cls.code)
    assert status.message == error.message
    kinds = [detail.type_url.rsplit(".", 1)[-1] for detail in status.details]
    assert len(kinds) == len(set(kinds)), "each detail type at most once"


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_client_rebuilds_the_same_class(cls: type[ImageGenError]) -> None:
    original = instance_of(cls)
    rebuilt = error_from(rpc_error_for(original), dict(TRAILERS))

    expected = InternalError if cls in ABSTRACT else cls
    assert type(rebuilt) is expected
    assert rebuilt.message == original.message
    assert rebuilt.field_violations == original.field_violations
    assert rebuilt.retry_after == pytest.approx(2.5)
    assert rebuilt.metadata["field"] == "size"
    if isinstance(original, ProviderError) and cls not in ABSTRACT:
        assert isinstance(rebuilt, ProviderError)
        assert rebuilt.provider == "openai"
        assert rebuilt.upstream_status == 499
    assert rebuilt.request_sent is None
    assert rebuilt.facts is not None
    assert rebuilt.facts.response_cost == Decimal("0.04")
    assert rebuilt.facts.model_id == "oai-gpt-image-1"
    assert rebuilt.facts.request_id == "req-1"
    assert rebuilt.facts.attempts == 1


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceededError),
        (grpc.StatusCode.UNAVAILABLE, GatewayUnavailableError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, InternalError),
    ],
)
def test_client_maps_status_without_details_from_the_code(
    code: grpc.StatusCode, expected: type[ImageGenError]
) -> None:
    # What the client library itself produces: a client-side deadline, no server, too large.
    rebuilt = error_from(
        grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "transport"), {}
    )
    assert type(rebuilt) is expected
    assert rebuilt.metadata["grpc_code"] == code.name


@pytest.mark.parametrize(
    ("request_message", "expected"),
    [
        (pb.GenerateImagesRequest(prompt=""), InvalidRequestError),
        (pb.GenerateImagesRequest(prompt="otter", quality="hd"), UnsupportedParameterError),
        (pb.GenerateImagesRequest(prompt="otter", model="nope"), ModelNotFoundError),
        (pb.GenerateImagesRequest(prompt="otter", api_key="sk-x"), PermissionDeniedError),
    ],
    ids=["invalid", "unsupported", "not-found", "permission"],
)
async def test_client_rebuilds_class_from_a_real_server_status(
    serve: ServeFactory, request_message: pb.GenerateImagesRequest, expected: type[ImageGenError]
) -> None:
    served = await serve(embedded_settings())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(request_message)
    trailers = {k: v for k, v in caught.value.trailing_metadata() or () if isinstance(v, str)}

    rebuilt = error_from(caught.value, trailers)
    assert type(rebuilt) is expected
    assert rebuilt.message == caught.value.details()


# ----------------------------------------------------------------------------- aiohttp


def _aiohttp_exception_classes() -> list[type[Exception]]:
    exported = (getattr(aiohttp, name) for name in aiohttp.client_exceptions.__all__)
    return sorted(
        (obj for obj in exported if isinstance(obj, type) and issubclass(obj, Exception)),
        key=lambda cls: cls.__name__,
    )


CLIENT_CLASSES = [*_aiohttp_exception_classes(), asyncio.TimeoutError]
_KEY = aiohttp.client_reqrep.ConnectionKey("provider.invalid", 443, True, True, None, None, None)
_INFO = aiohttp.RequestInfo(
    yarl.URL("https://provider.invalid/v1/images/generations"),
    "POST",
    multidict.CIMultiDictProxy(multidict.CIMultiDict()),
    yarl.URL("https://provider.invalid/v1/images/generations"),
)


def _make(cls: type[Exception]) -> Exception:
    """An instance of `cls` whose text carries LEAK wherever the class takes text."""
    if issubclass(cls, aiohttp.ClientConnectorError):
        if issubclass(cls, aiohttp.ClientConnectorCertificateError):
            return cls(_KEY, ValueError(LEAK))
        return cls(_KEY, OSError(1, LEAK))
    if issubclass(cls, aiohttp.ClientResponseError):
        return cls(_INFO, (), status=500, message=LEAK)
    if issubclass(cls, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return cls(f"https://{LEAK}")
    if issubclass(cls, aiohttp.WSMessageTypeError):
        return cls(LEAK)
    if issubclass(cls, aiohttp.ServerFingerprintMismatch):
        return cls(b"a", b"b", LEAK, 443)
    try:
        return cls(LEAK)
    except TypeError:
        return cls()


def test_client_exception_list_is_the_real_one() -> None:
    names = {cls.__name__ for cls in CLIENT_CLASSES}
    assert {"ClientConnectorError", "SocketTimeoutError", "InvalidURL", "ClientPayloadError"} <= (
        names
    )
    assert len(CLIENT_CLASSES) >= 25


@pytest.mark.parametrize("cls", CLIENT_CLASSES, ids=[cls.__name__ for cls in CLIENT_CLASSES])
def test_every_client_exception_maps_into_the_tree(cls: type[Exception]) -> None:
    error = map_transport_error(_make(cls), provider="openai", deadline=Deadline.after(60))

    assert isinstance(error, ImageGenError)
    assert not isinstance(error, InternalError)
    assert type(error) not in ABSTRACT
    assert grpc_code(error) not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    assert LEAK not in str(error)
    assert LEAK not in to_rpc_status(error).SerializeToString().decode("latin-1")


@pytest.mark.parametrize("cls", [aiohttp.SocketTimeoutError, asyncio.TimeoutError])
def test_timeout_is_deadline_exceeded_only_once_the_deadline_passed(
    cls: type[Exception],
) -> None:
    exc = _make(cls)
    passed = map_transport_error(exc, provider="openai", deadline=Deadline.after(-1))
    early = map_transport_error(exc, provider="openai", deadline=Deadline.after(60))

    assert type(passed) is DeadlineExceededError
    assert type(early) is ProviderTimeoutError
    assert grpc_code(early) == grpc.StatusCode.DEADLINE_EXCEEDED
    # The request may have reached the provider: nothing says it was not sent.
    assert "request_sent" not in early.metadata


def test_timeout_before_the_request_left_is_marked_not_sent() -> None:
    exc = _make(aiohttp.ConnectionTimeoutError)
    passed = map_transport_error(exc, provider="openai", deadline=Deadline.after(-1))
    early = map_transport_error(exc, provider="openai", deadline=Deadline.after(60))

    assert type(passed) is DeadlineExceededError
    # No connection yet: retryable, and the provider cannot have billed.
    assert type(early) is ProviderUnavailableError
    assert grpc_code(early) == grpc.StatusCode.UNAVAILABLE
    assert passed.metadata["request_sent"] == "false"
    assert early.metadata["request_sent"] == "false"
    assert passed.request_sent is False and early.request_sent is False
    assert early.upstream_status is None


def test_not_sent_and_upstream_status_survive_the_wire_as_attributes() -> None:
    not_sent = ProviderUnavailableError("no connection", provider="openai", request_sent=False)
    rebuilt = error_from(rpc_error_for(not_sent), dict(TRAILERS))
    assert rebuilt.request_sent is False
    assert rebuilt.upstream_status is None

    answered = ContentPolicyViolationError("refused", upstream_status=400)
    assert answered.metadata["upstream_status"] == "400"
    rebuilt = error_from(rpc_error_for(answered), dict(TRAILERS))
    assert (rebuilt.upstream_status, rebuilt.request_sent) == (400, None)


def test_reason_lookup_names_each_concrete_class() -> None:
    for cls in CLASSES:
        if cls not in ABSTRACT:
            assert error_class_for_reason(cls.reason) is cls
    assert error_class_for_reason("NO_SUCH_REASON") is ImageGenError


def test_annotating_an_error_wraps_it_and_leaves_it_unchanged() -> None:
    original = ProviderRateLimitedError(
        "slow down", provider="openai", upstream_status=429, retry_after=3.0
    )
    wrapped = original.annotated("tried: a, b", {"tried": "a,b"})

    assert type(wrapped) is ProviderRateLimitedError
    assert wrapped is not original and wrapped.__cause__ is original
    assert wrapped.message == "slow down (tried: a, b)"
    assert str(wrapped) == "PROVIDER_RATE_LIMITED: slow down (tried: a, b)"
    assert wrapped.metadata["tried"] == "a,b"
    assert (wrapped.provider, wrapped.upstream_status, wrapped.retry_after) == ("openai", 429, 3.0)
    # What a hook or the attempt log saw keeps its own words.
    assert original.message == "slow down"
    assert "tried" not in original.metadata


def test_the_old_cancellation_name_still_works_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="RequestCancelledError"):
        old = imagegen.errors.CancelledError
    assert old is RequestCancelledError
    assert not issubclass(RequestCancelledError, asyncio.CancelledError)


@pytest.mark.parametrize(
    "cls",
    [
        aiohttp.ClientConnectorError,
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        aiohttp.ClientProxyConnectionError,
        aiohttp.ClientConnectionResetError,
    ],
)
def test_connection_failures_are_retryable_unavailable(cls: type[Exception]) -> None:
    error = map_transport_error(_make(cls), provider="openai", deadline=Deadline.after(60))
    assert type(error) is ProviderUnavailableError
    assert grpc_code(error) == grpc.StatusCode.UNAVAILABLE
    assert error.metadata["provider"] == "openai"
