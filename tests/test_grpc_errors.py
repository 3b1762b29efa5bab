"""Errors over gRPC: codes, google.rpc.Status details and cost trailers on every failure.

Every failing call here goes through a real server to the fakes (or the offline placeholder
model) and is checked the way a client sees it: the status code, the rich status in
`grpc-status-details-bin`, and the x-imagegen-* trailers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.config import Settings, embedded_settings, parse_settings
from imagegen.deadline import Deadline
from imagegen.events import Generation, RequestState, StreamEvent
from imagegen.gateway import Gateway, ModelDescription, RequestCredentials
from imagegen.providers.base import HttpRequest
from imagegen.providers.transport import HttpResponse, HttpTransport
from imagegen.server.app import start_server
from imagegen.types import ImageRequest
from tests.conftest import TRAILER_KEYS, ServeFactory
from tests.fakes.azure import AzureFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.xinference import XinferenceFake

LEAK = "secret-leak-text"


@dataclass
class Failure:
    """A failed call as the client sees it."""

    code: grpc.StatusCode
    details: str
    status: status_pb2.Status
    info: error_details_pb2.ErrorInfo
    bad_request: error_details_pb2.BadRequest | None
    retry: error_details_pb2.RetryInfo | None
    quota: error_details_pb2.QuotaFailure | None
    trailers: dict[str, str]

    @property
    def fields(self) -> list[str]:
        if self.bad_request is None:
            return []
        return [violation.field for violation in self.bad_request.field_violations]

    @property
    def retry_seconds(self) -> float | None:
        if self.retry is None:
            return None
        delay = self.retry.retry_delay
        return float(delay.seconds + delay.nanos / 1e9)


def failure_of(error: grpc.aio.AioRpcError) -> Failure:
    """Check the parts every error response must have (AIP-193) and unpack the details."""
    assert error.code() not in (grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN)
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status in the trailers"
    assert status.code == error.code().value[0]
    unpacked: dict[str, Any] = {}
    for detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
            error_details_pb2.QuotaFailure,
        ):
            if detail.Is(kind.DESCRIPTOR):
                assert kind.__name__ not in unpacked, f"{kind.__name__} sent twice"
                message = kind()
                detail.Unpack(message)
                unpacked[kind.__name__] = message
    info = unpacked.get("ErrorInfo")
    assert isinstance(info, error_details_pb2.ErrorInfo), "every error needs an ErrorInfo"
    assert info.domain == "imagegen"
    trailers = {k: v for k, v in error.trailing_metadata() or () if isinstance(v, str)}
    assert trailers.keys() >= TRAILER_KEYS, f"missing trailers: {TRAILER_KEYS - trailers.keys()}"
    return Failure(
        code=error.code(),
        details=error.details() or "",
        status=status,
        info=info,
        bad_request=unpacked.get("BadRequest"),
        retry=unpacked.get("RetryInfo"),
        quota=unpacked.get("QuotaFailure"),
        trailers=trailers,
    )


async def fail(
    stub: pb_grpc.ImageGenerationAsyncStub,
    request: pb.GenerateImagesRequest,
    *,
    stream: bool = False,
) -> Failure:
    """Make the call (unary or streaming) and return its failure; no event may arrive first."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if stream:
            message = pb.StreamGenerateImagesRequest.FromString(request.SerializeToString())
            events = [event async for event in stub.StreamGenerateImages(message, timeout=30)]
            pytest.fail(f"the stream succeeded with {len(events)} events")
        await stub.GenerateImages(request, timeout=30)
    return failure_of(caught.value)


def config(*entries: dict[str, Any], **server_settings: Any) -> str:
    document: dict[str, Any] = {"model_list": list(entries)}
    if server_settings:
        document["server_settings"] = server_settings
    return yaml.safe_dump(document)


def openai_entry(
    fake: OpenAIFake, model: str = "gpt-image-1", *, api_key: str | None = None
) -> dict[str, Any]:
    return {
        "model_name": model,
        "litellm_params": {
            "model": f"openai/{model}",
            "api_key": api_key or fake.api_key,
            "api_base": f"{fake.base_url}/v1",
        },
        "model_info": {"id": f"oai-{model}"},
    }


def azure_entry(fake: AzureFake) -> dict[str, Any]:
    return {
        "model_name": "azure-dalle3",
        "litellm_params": {
            "model": "azure/dalle3",
            "api_key": fake.api_key,
            "api_base": fake.base_url,
            "api_version": "2024-02-01",
        },
        "model_info": {"base_model": "dall-e-3"},
    }


BOTH_RPCS = pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])


# ----------------------------------------------------------------------------- trailers


@BOTH_RPCS
async def test_provider_error_status_sends_all_trailers_with_zero_cost(
    serve: ServeFactory, openai_fake: OpenAIFake, stream: bool
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    failure = await fail(
        served.stub,
        pb.GenerateImagesRequest(
            prompt="servererror", model="gpt-image-1", request_id="req-failed"
        ),
        stream=stream,
    )

    assert failure.code == grpc.StatusCode.UNAVAILABLE
    trailers = failure.trailers
    # The provider answered with an error status: it generated nothing and bills nothing.
    assert trailers["x-imagegen-response-cost"] == "0"
    assert trailers["x-imagegen-model-id"] == "oai-gpt-image-1"
    assert trailers["x-imagegen-provider"] == "openai"
    assert trailers["x-imagegen-api-base"] == f"{openai_fake.base_url}/v1"
    assert trailers["x-imagegen-attempts"] == "1"
    assert trailers["x-imagegen-request-id"] == "req-failed"
    assert float(trailers["x-imagegen-overhead-ms"]) >= 0


@BOTH_RPCS
async def test_unreadable_provider_answer_reports_unknown_cost(
    serve: ServeFactory, openai_fake: OpenAIFake, stream: bool
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    openai_fake.fail_next(200, "<html>gateway page</html>", content_type="text/html")
    failure = await fail(
        served.stub, pb.GenerateImagesRequest(prompt="otter", model="gpt-image-1"), stream=stream
    )

    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.info.reason == "PROVIDER_BAD_RESPONSE"
    # A 200 answer means the provider may have generated (and billed) the images.
    assert failure.trailers["x-imagegen-response-cost"] == "unknown"
    assert failure.trailers["x-imagegen-provider"] == "openai"


@BOTH_RPCS
async def test_invalid_request_still_sends_trailers(serve: ServeFactory, stream: bool) -> None:
    served = await serve(embedded_settings())
    failure = await fail(served.stub, pb.GenerateImagesRequest(prompt=""), stream=stream)

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.trailers["x-imagegen-response-cost"] == "0"
    assert failure.trailers["x-imagegen-attempts"] == "0"


# ----------------------------------------------------------------------------- bad input


def _request(**fields: Any) -> pb.GenerateImagesRequest:
    provider_params = fields.pop("provider_params", None)
    request = pb.GenerateImagesRequest(**{"prompt": "an otter", **fields})
    if provider_params is not None:
        request.provider_params.update(provider_params)
    return request


INVALID = grpc.StatusCode.INVALID_ARGUMENT


def case(
    name: str,
    request: pb.GenerateImagesRequest,
    reason: str,
    field: str | None,
    code: grpc.StatusCode = INVALID,
) -> Any:
    return pytest.param(request, code, reason, field, id=name)


BAD_INPUT = [
    case("empty-prompt", _request(prompt=""), "INVALID_PARAMETER", "prompt"),
    case(
        "huge-prompt", _request(prompt=("otter " * 40_000)[:200_000]), "INVALID_PARAMETER", "prompt"
    ),
    case("n-zero", _request(n=0), "INVALID_PARAMETER", "n"),
    case("n-1000", _request(n=1000), "INVALID_PARAMETER", "n"),
    case("n-negative", _request(n=-1), "INVALID_PARAMETER", "n"),
    case(
        "unknown-model",
        _request(model="no-such-model"),
        "MODEL_NOT_FOUND",
        None,
        grpc.StatusCode.NOT_FOUND,
    ),
    case("size-huge", _request(size="huge"), "INVALID_PARAMETER", "size"),
    case("size-0x0", _request(size="0x0"), "INVALID_PARAMETER", "size"),
    case("size-1024x", _request(size="1024x"), "INVALID_PARAMETER", "size"),
    case("size-too-big", _request(size="99999x99999"), "INVALID_PARAMETER", "size"),
    case(
        "seed-abc",
        _request(provider_params={"seed": "abc"}),
        "INVALID_PARAMETER",
        "provider_params.seed",
    ),
    case(
        "seed-negative",
        _request(provider_params={"seed": -1}),
        "INVALID_PARAMETER",
        "provider_params.seed",
    ),
    case(
        "seed-fraction",
        _request(provider_params={"seed": 1.5}),
        "INVALID_PARAMETER",
        "provider_params.seed",
    ),
    case(
        "unknown-provider-param",
        _request(provider_params={"steps": 20}),
        "UNSUPPORTED_PARAMETER",
        "provider_params.steps",
    ),
    case("unsupported-quality", _request(quality="hd"), "UNSUPPORTED_PARAMETER", "quality"),
    case("unsupported-style", _request(style="vivid"), "UNSUPPORTED_PARAMETER", "style"),
    case(
        "negative-timeout",
        _request(timeout=duration_pb2.Duration(seconds=-1)),
        "INVALID_PARAMETER",
        "timeout",
    ),
    case("long-request-id", _request(request_id="r" * 200), "INVALID_PARAMETER", "request_id"),
    case(
        "too-many-tags",
        _request(tags=[f"t{i}" for i in range(100)]),
        "INVALID_PARAMETER",
        "tags",
    ),
    case(
        "api-key-not-allowed",
        _request(api_key="sk-caller-key"),
        "REQUEST_CREDENTIALS_NOT_ALLOWED",
        "api_key",
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    case(
        "api-base-not-allowed",
        _request(api_base="http://169.254.169.254/v1"),
        "REQUEST_CREDENTIALS_NOT_ALLOWED",
        "api_base",
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    case(
        "api-version-not-allowed",
        _request(api_version="2024-02-01"),
        "REQUEST_CREDENTIALS_NOT_ALLOWED",
        "api_version",
        grpc.StatusCode.PERMISSION_DENIED,
    ),
]


@BOTH_RPCS
@pytest.mark.parametrize(("request_message", "code", "reason", "field"), BAD_INPUT)
async def test_bad_input_gets_a_clear_status(
    serve: ServeFactory,
    request_message: pb.GenerateImagesRequest,
    code: grpc.StatusCode,
    reason: str,
    field: str | None,
    stream: bool,
) -> None:
    served = await serve(embedded_settings())
    failure = await fail(served.stub, request_message, stream=stream)

    assert failure.code == code
    assert failure.info.reason == reason
    if field is not None:
        assert field in failure.fields
    # Messages name the problem without echoing what was sent.
    assert len(failure.details) < 600
    assert "otter otter" not in failure.details
    assert "sk-caller-key" not in failure.details


async def test_unknown_model_lists_served_models(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    failure = await fail(served.stub, _request(model="dall-e-7"))

    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.info.metadata["model"] == "dall-e-7"
    assert "placeholder" in failure.details


async def test_request_credentials_are_not_sent_upstream_when_refused(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    failure = await fail(
        served.stub,
        _request(model="gpt-image-1", api_key="sk-caller", api_base=f"{openai_fake.base_url}/v1"),
    )

    assert failure.code == grpc.StatusCode.PERMISSION_DENIED
    assert sorted(failure.fields) == ["api_base", "api_key"]
    assert openai_fake.requests == []


async def test_request_credentials_are_used_when_the_server_allows_them(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    # The configured key and base are wrong: only the caller's can make this work.
    entry = openai_entry(openai_fake, api_key="sk-configured-but-wrong")
    entry["litellm_params"]["api_base"] = "http://127.0.0.1:9/v1"
    served = await serve(config(entry, allow_request_credentials=True))
    call = served.stub.GenerateImages(
        _request(
            model="gpt-image-1", api_key=openai_fake.api_key, api_base=f"{openai_fake.base_url}/v1"
        )
    )
    response = await call
    trailers = dict(await call.trailing_metadata())

    assert len(response.images) == 1
    assert openai_fake.last_request.headers["authorization"] == f"Bearer {openai_fake.api_key}"
    assert trailers["x-imagegen-api-base"] == f"{openai_fake.base_url}/v1"


async def test_configured_key_is_never_sent_to_a_caller_chosen_host(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    # The caller points the gateway at its own host and sends no key of its own: the
    # operator's configured key must not go there.
    async with OpenAIFake(api_key="sk-attacker-host") as attacker_host:
        served = await serve(config(openai_entry(openai_fake), allow_request_credentials=True))
        failure = await fail(
            served.stub, _request(model="gpt-image-1", api_base=f"{attacker_host.base_url}/v1")
        )

        assert failure.code == grpc.StatusCode.PERMISSION_DENIED
        assert failure.info.reason == "REQUEST_CREDENTIALS_NOT_ALLOWED"
        assert failure.fields == ["api_key"]
        assert attacker_host.requests == []
        assert openai_fake.requests == []


@pytest.mark.parametrize("api_base", ["http://[::1", "ftp://example.com/v1", "not a url"])
async def test_malformed_caller_api_base_is_invalid_argument(
    serve: ServeFactory, openai_fake: OpenAIFake, api_base: str
) -> None:
    served = await serve(config(openai_entry(openai_fake), allow_request_credentials=True))
    failure = await fail(served.stub, _request(model="gpt-image-1", api_base=api_base))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert openai_fake.requests == []


async def test_provider_without_credentials_is_failed_precondition(
    serve: ServeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    served = await serve(config(serve_unlisted_models=True))
    failure = await fail(served.stub, _request(model="openai/gpt-image-1"))

    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.info.reason == "PROVIDER_NOT_CONFIGURED"
    assert "OPENAI_API_KEY" in failure.details
    assert failure.trailers["x-imagegen-provider"] == "openai"
    assert failure.trailers["x-imagegen-response-cost"] == "0"


# ----------------------------------------------------------------------------- provider errors


def _openai_error(message: str, code: str | None = None, param: str | None = None) -> Any:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return {"error": error}


# (upstream status, code, reason)
PROVIDER_STATUSES: list[tuple[int, grpc.StatusCode, str]] = [
    (400, grpc.StatusCode.INVALID_ARGUMENT, "PROVIDER_INVALID_REQUEST"),
    (401, grpc.StatusCode.FAILED_PRECONDITION, "PROVIDER_AUTHENTICATION_FAILED"),
    (403, grpc.StatusCode.PERMISSION_DENIED, "PROVIDER_PERMISSION_DENIED"),
    (404, grpc.StatusCode.NOT_FOUND, "PROVIDER_MODEL_NOT_FOUND"),
    (408, grpc.StatusCode.DEADLINE_EXCEEDED, "PROVIDER_TIMEOUT"),
    (409, grpc.StatusCode.ABORTED, "PROVIDER_CONFLICT"),
    (413, grpc.StatusCode.INVALID_ARGUMENT, "PROVIDER_INVALID_REQUEST"),
    (422, grpc.StatusCode.INVALID_ARGUMENT, "PROVIDER_INVALID_REQUEST"),
    (429, grpc.StatusCode.UNAVAILABLE, "PROVIDER_RATE_LIMITED"),
    (500, grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    (502, grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    (503, grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    (504, grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    (418, grpc.StatusCode.UNAVAILABLE, "PROVIDER_BAD_RESPONSE"),
]


@pytest.mark.parametrize(("upstream", "code", "reason"), PROVIDER_STATUSES)
async def test_provider_status_maps_to_grpc_code(
    serve: ServeFactory,
    openai_fake: OpenAIFake,
    upstream: int,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    openai_fake.fail_next(upstream, _openai_error(f"scripted {upstream}"))
    failure = await fail(served.stub, _request(model="gpt-image-1"))

    assert failure.code == code
    assert failure.info.reason == reason
    assert failure.info.metadata["provider"] == "openai"
    assert failure.info.metadata["upstream_status"] == str(upstream)
    assert failure.trailers["x-imagegen-response-cost"] == "0"
    assert failure.retry is None


async def test_provider_invalid_parameter_names_the_field(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    openai_fake.fail_next(
        400, _openai_error("Invalid value for 'background'.", code="invalid_value", param="size")
    )
    failure = await fail(served.stub, _request(model="gpt-image-1"))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "PROVIDER_INVALID_REQUEST"
    assert failure.fields == ["size"]
    assert failure.info.metadata["upstream_code"] == "invalid_value"


async def test_service_unavailable_with_retry_after_carries_retry_info(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    openai_fake.fail_next(503, _openai_error("overloaded"), headers={"retry-after": "2.5"})
    failure = await fail(served.stub, _request(model="gpt-image-1"))

    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.retry_seconds == pytest.approx(2.5)


@BOTH_RPCS
async def test_rate_limit_is_unavailable_with_retry_info(
    serve: ServeFactory, openai_fake: OpenAIFake, stream: bool
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    failure = await fail(
        served.stub, _request(prompt="ratelimit", model="gpt-image-1"), stream=stream
    )

    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.info.reason == "PROVIDER_RATE_LIMITED"
    assert failure.info.metadata["upstream_status"] == "429"
    assert failure.retry_seconds == 7
    assert failure.quota is None


@BOTH_RPCS
async def test_insufficient_quota_is_resource_exhausted_with_quota_failure(
    serve: ServeFactory, openai_fake: OpenAIFake, stream: bool
) -> None:
    served = await serve(config(openai_entry(openai_fake)))
    failure = await fail(
        served.stub, _request(prompt="insufficient_quota", model="gpt-image-1"), stream=stream
    )

    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.info.reason == "PROVIDER_QUOTA_EXCEEDED"
    assert failure.quota is not None
    (violation,) = failure.quota.violations
    assert violation.subject == "provider:openai"
    assert "quota" in violation.description
    # Out of credit is not fixed by waiting: no retry hint.
    assert failure.retry is None


async def test_wrong_configured_key_is_failed_precondition_without_the_key(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_entry(openai_fake, api_key="sk-configured-wrong-1234")))
    failure = await fail(served.stub, _request(model="gpt-image-1"))

    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.info.reason == "PROVIDER_AUTHENTICATION_FAILED"
    assert failure.info.metadata["upstream_status"] == "401"
    everything = failure.status.SerializeToString().decode("latin-1") + str(failure.trailers)
    assert "sk-" not in everything
    assert "1234" not in everything


async def test_wrong_caller_key_is_unauthenticated(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_entry(openai_fake), allow_request_credentials=True))
    failure = await fail(served.stub, _request(model="gpt-image-1", api_key="sk-caller-wrong-9876"))

    assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    assert failure.info.reason == "PROVIDER_CREDENTIAL_REJECTED"
    assert "9876" not in failure.status.SerializeToString().decode("latin-1")


async def test_unknown_xinference_model_is_not_found(
    serve: ServeFactory, xinference_fake: XinferenceFake
) -> None:
    entry = {
        "model_name": "flux",
        "litellm_params": {"model": "xinference/flux-dev", "api_base": xinference_fake.base_url},
    }
    served = await serve(config(entry))
    failure = await fail(served.stub, _request(model="flux"))

    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.info.reason == "PROVIDER_MODEL_NOT_FOUND"
    assert failure.info.metadata["provider"] == "xinference"
    assert failure.trailers["x-imagegen-response-cost"] == "0"


# ----------------------------------------------------------------------------- safety refusals


@pytest.mark.parametrize(
    ("model", "upstream_code"),
    [("gpt-image-1", "moderation_blocked"), ("dall-e-3", "content_policy_violation")],
)
async def test_openai_safety_refusal_is_content_policy_violation(
    serve: ServeFactory, openai_fake: OpenAIFake, model: str, upstream_code: str
) -> None:
    served = await serve(config(openai_entry(openai_fake, model)))
    failure = await fail(served.stub, _request(prompt="something forbidden", model=model))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "CONTENT_POLICY_VIOLATION"
    assert failure.info.metadata["provider"] == "openai"
    assert failure.info.metadata["upstream_status"] == "400"
    assert failure.info.metadata["upstream_code"] == upstream_code
    assert "safety system" in failure.details
    assert failure.trailers["x-imagegen-response-cost"] == "0"


async def test_azure_safety_refusal_is_content_policy_violation(
    serve: ServeFactory, azure_fake: AzureFake
) -> None:
    served = await serve(config(azure_entry(azure_fake)))
    failure = await fail(served.stub, _request(prompt="something forbidden", model="azure-dalle3"))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "CONTENT_POLICY_VIOLATION"
    assert failure.info.metadata["provider"] == "azure"
    assert failure.trailers["x-imagegen-provider"] == "azure"


async def test_azure_responsible_ai_inner_error_alone_is_a_safety_refusal(
    serve: ServeFactory, azure_fake: AzureFake
) -> None:
    served = await serve(config(azure_entry(azure_fake)))
    azure_fake.fail_next(
        400,
        {
            "error": {
                "code": "content_filter",
                "message": "The response was filtered due to the prompt triggering a policy.",
                "inner_error": {"code": "ResponsibleAIPolicyViolation"},
            }
        },
    )
    failure = await fail(served.stub, _request(model="azure-dalle3"))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "CONTENT_POLICY_VIOLATION"


# ----------------------------------------------------------------------------- unexpected errors


class BrokenGateway(Gateway):
    """A gateway with a bug: every call raises an exception that is not an ImageGenError."""

    async def generate(
        self,
        request: ImageRequest,
        *,
        deadline: Deadline | None = None,
        state: RequestState | None = None,
    ) -> Generation:
        raise RuntimeError(LEAK)

    async def stream(
        self, request: ImageRequest, **options: Any
    ) -> AsyncGenerator[StreamEvent, None]:
        raise RuntimeError(LEAK)
        yield  # an async generator that fails on its first step

    def describe_models(self) -> list[ModelDescription]:
        raise RuntimeError(LEAK)


@pytest.fixture
async def broken_stub() -> AsyncIterator[pb_grpc.ImageGenerationAsyncStub]:
    settings: Settings = embedded_settings()
    running = await start_server(
        settings, gateway=BrokenGateway(settings), host="127.0.0.1", port=0
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    yield pb_grpc.ImageGenerationStub(channel)
    await channel.close()
    await running.stop(grace=0)


def _assert_internal_without_leak(failure: Failure, error: grpc.aio.AioRpcError) -> None:
    assert failure.code == grpc.StatusCode.INTERNAL
    assert failure.info.reason == "INTERNAL"
    assert failure.details == "internal error"
    assert failure.status.message == "internal error"
    assert LEAK not in (error.debug_error_string() or "")
    for _, value in error.trailing_metadata() or ():
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        assert LEAK not in text
        assert "RuntimeError" not in text


@BOTH_RPCS
async def test_unexpected_exception_is_internal_with_fixed_message(
    broken_stub: pb_grpc.ImageGenerationAsyncStub, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="imagegen"),
        pytest.raises(grpc.aio.AioRpcError) as caught,
    ):
        request = _request(request_id="req-bug")
        if stream:
            message = pb.StreamGenerateImagesRequest.FromString(request.SerializeToString())
            async for _ in broken_stub.StreamGenerateImages(message):
                pass
        else:
            await broken_stub.GenerateImages(request)
    failure = failure_of(caught.value)

    _assert_internal_without_leak(failure, caught.value)
    assert failure.trailers["x-imagegen-request-id"] == "req-bug"
    # The operator still gets the exception, in the server's log.
    assert any(
        record.exc_info is not None and LEAK in str(record.exc_info[1]) for record in caplog.records
    )


async def test_unexpected_exception_in_list_models_is_internal(
    broken_stub: pb_grpc.ImageGenerationAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await broken_stub.ListModels(pb.ListModelsRequest())
    _assert_internal_without_leak(failure_of(caught.value), caught.value)


class BrokenAfterSendTransport(HttpTransport):
    """The real transport with a bug after the provider has answered."""

    async def send(
        self, request: HttpRequest, *, deadline: Deadline, provider: str
    ) -> HttpResponse:
        await super().send(request, deadline=deadline, provider=provider)
        raise RuntimeError(LEAK)


async def test_unexpected_exception_after_provider_call_reports_unknown_cost(
    openai_fake: OpenAIFake,
) -> None:
    settings = parse_settings(config(openai_entry(openai_fake)))
    gateway = Gateway(
        settings,
        transport=BrokenAfterSendTransport(),
        request_credentials=RequestCredentials.REFUSE,
    )
    running = await start_server(settings, gateway=gateway, host="127.0.0.1", port=0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.ImageGenerationStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GenerateImages(_request(model="gpt-image-1"))
    finally:
        await running.stop(grace=0)
    failure = failure_of(caught.value)

    _assert_internal_without_leak(failure, caught.value)
    assert len(openai_fake.requests) == 1
    # The provider generated (and billed) before the bug struck: the cost is not known to be 0.
    assert failure.trailers["x-imagegen-response-cost"] == "unknown"
    assert failure.trailers["x-imagegen-model-id"] == "oai-gpt-image-1"
    assert failure.trailers["x-imagegen-provider"] == "openai"
    assert failure.trailers["x-imagegen-attempts"] == "1"


async def test_an_overlong_tag_is_invalid_argument_naming_tags(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="x", tags=["t" * 257]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tags" in (caught.value.details() or "")
