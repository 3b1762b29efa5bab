"""The Xinference adapter through the in-process Gateway against the Xinference fake.

Xinference speaks an OpenAI-shaped dialect with quirks: `W*H` sizes, provider parameters as a
JSON-encoded `kwargs` string, b64_json always, JPEG images, FastAPI `{"detail"}` errors.
"""

from __future__ import annotations

import base64
import io
import json
import socket
from decimal import Decimal
from typing import Any

import pytest
import yaml
from PIL import Image

from imagegen.config import parse_settings
from imagegen.deadline import Deadline
from imagegen.errors import (
    Code,
    ConfigError,
    ImageGenError,
    InvalidRequestError,
    ProviderAuthenticationError,
    ProviderBadResponseError,
    ProviderConflictError,
    ProviderModelNotFoundError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    UnsupportedParameterError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.providers.base import CallParams, Endpoint, ProviderCall
from imagegen.providers.transport import HttpResponse
from imagegen.providers.xinference import XINFERENCE_SPEC, XinferenceProvider
from imagegen.types import GeneratedImage, ImageRequest, ResponseFormat
from tests.conftest import GatewayFactory
from tests.fakes.images import png_bytes
from tests.fakes.xinference import XinferenceFake

MODEL = "sd3-medium"


def config(
    api_base: str,
    *,
    model: str = MODEL,
    model_info: dict[str, Any] | None = None,
    **params: Any,
) -> str:
    """One Xinference deployment served as "sd"."""
    item: dict[str, Any] = {
        "model_name": "sd",
        "litellm_params": {"model": f"xinference/{model}", "api_base": api_base, **params},
    }
    if model_info is not None:
        item["model_info"] = model_info
    return yaml.safe_dump({"model_list": [item]})


@pytest.fixture
def gateway(xinference_fake: XinferenceFake, gateway_for: GatewayFactory) -> Gateway:
    return gateway_for(config(xinference_fake.base_url))


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(model="sd", **fields))


async def rejected(gateway: Gateway, error: type[ImageGenError], **fields: Any) -> ImageGenError:
    """The error `gateway` raises for the request; its class must be exactly `error`."""
    with pytest.raises(ImageGenError) as info:
        await generate(gateway, **fields)
    assert type(info.value) is error, repr(info.value)
    return info.value


def field_of(error: ImageGenError) -> str:
    (violation,) = error.field_violations
    assert error.metadata["field"] == violation.field
    return violation.field


def pillow(image: GeneratedImage) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(image.data())) as decoded:
        decoded.load()
        return decoded.format, decoded.size


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- request mapping


async def test_size_is_sent_as_w_star_h_and_jpeg_images_come_back(
    xinference_fake: XinferenceFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, prompt="a red fox in snow", n=2, size="512x768")

    (sent,) = xinference_fake.requests
    assert sent.method == "POST"
    assert sent.path == "/v1/images/generations"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": MODEL,
        "prompt": "a red fox in snow",
        "n": 2,
        "response_format": "b64_json",
        "size": "512*768",
    }
    images = generation.result.images
    assert len(images) == 2
    for image in images:
        # Sniffed from the bytes: Xinference answers JPEG unless there is transparency.
        assert image.mime_type == "image/jpeg"
        assert (image.width, image.height) == (512, 768)
        assert pillow(image) == ("JPEG", (512, 768))
    assert images[0].data() != images[1].data()
    assert generation.result.usage is None
    assert generation.facts.provider == "xinference"
    assert generation.facts.provider_model == MODEL
    assert generation.facts.api_base == xinference_fake.base_url + "/v1"


async def test_png_images_are_sniffed_as_png(
    xinference_fake: XinferenceFake, gateway: Gateway
) -> None:
    # Xinference switches to PNG for images with transparency; nothing in the body says so.
    png = png_bytes(96, 64, transparent=True)
    xinference_fake.fail_next(
        200, {"created": 1, "data": [{"url": None, "b64_json": base64.b64encode(png).decode()}]}
    )
    generation = await generate(gateway, prompt="x", size="96x64")
    (image,) = generation.result.images
    assert image.mime_type == "image/png"
    assert image.data() == png
    assert pillow(image) == ("PNG", (96, 64))


async def test_defaults_send_no_size_and_no_kwargs(
    xinference_fake: XinferenceFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, prompt="a lighthouse")
    assert xinference_fake.requests[-1].json == {
        "model": MODEL,
        "prompt": "a lighthouse",
        "n": 1,
        "response_format": "b64_json",
    }
    assert xinference_fake.last_kwargs == {}
    (image,) = generation.result.images
    assert pillow(image) == ("JPEG", (1024, 1024))


async def test_provider_params_travel_as_a_json_string_in_kwargs(
    xinference_fake: XinferenceFake, gateway: Gateway
) -> None:
    params: dict[str, Any] = {
        "negative_prompt": "blurry, low quality",
        "num_inference_steps": 20,
        "guidance_scale": 7.5,
        "seed": 42,
        "request_id": "req-1",
    }
    await generate(gateway, prompt="a fox", size="256x256", provider_params=params)

    sent = xinference_fake.requests[-1].json
    assert isinstance(sent["kwargs"], str)
    assert json.loads(sent["kwargs"]) == params
    assert xinference_fake.last_kwargs == params
    # Provider params never leak into the top level of the body.
    assert set(sent) == {"model", "prompt", "n", "response_format", "size", "kwargs"}


async def test_deployment_params_merge_into_kwargs_and_the_request_wins(
    xinference_fake: XinferenceFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(xinference_fake.base_url, num_inference_steps=30, negative_prompt="text")
    )
    await generate(gateway, prompt="a fox", provider_params={"num_inference_steps": 8})
    assert xinference_fake.last_kwargs == {"num_inference_steps": 8, "negative_prompt": "text"}


@pytest.mark.parametrize("name", ["prompt", "model", "size", "n"])
async def test_request_fields_are_not_accepted_as_kwargs(
    xinference_fake: XinferenceFake, gateway: Gateway, name: str
) -> None:
    error = await rejected(gateway, InvalidRequestError, prompt="x", provider_params={name: "1"})
    assert field_of(error) == f"provider_params.{name}"
    assert xinference_fake.requests == []


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_api_base_with_or_without_v1(
    xinference_fake: XinferenceFake, gateway_for: GatewayFactory, suffix: str
) -> None:
    gateway = gateway_for(config(xinference_fake.base_url + suffix))
    generation = await generate(gateway, prompt="x", size="64x64")
    assert xinference_fake.requests[-1].path == "/v1/images/generations"
    assert generation.facts.api_base == xinference_fake.base_url + "/v1"


async def test_b64_json_is_accepted_and_url_is_unsupported(
    xinference_fake: XinferenceFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, prompt="x", size="64x64", response_format="b64_json")
    assert generation.result.images[0].has_content

    error = await rejected(gateway, UnsupportedParameterError, prompt="x", response_format="url")
    assert error.reason == "UNSUPPORTED_PARAMETER"
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == "response_format"
    assert len(xinference_fake.requests) == 1

    await generate(gateway, prompt="x", size="64x64", response_format="url", drop_params=True)
    assert xinference_fake.requests[-1].json["response_format"] == "b64_json"


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"quality": "hd"}, UnsupportedParameterError, "quality"),
        ({"style": "vivid"}, UnsupportedParameterError, "style"),
        ({"user": "u1"}, UnsupportedParameterError, "user"),
        ({"size": "32x32"}, InvalidRequestError, "size"),
        ({"size": "8192x512"}, InvalidRequestError, "size"),
        ({"size": "big"}, InvalidRequestError, "size"),
    ],
)
async def test_parameters_xinference_does_not_take_are_rejected_before_calling(
    xinference_fake: XinferenceFake,
    gateway: Gateway,
    fields: dict[str, Any],
    error: type[ImageGenError],
    field: str,
) -> None:
    raised = await rejected(gateway, error, prompt="x", **fields)
    assert raised.code is Code.INVALID_ARGUMENT
    assert field_of(raised) == field
    assert xinference_fake.requests == []


async def test_bearer_key_is_sent_when_configured(gateway_for: GatewayFactory) -> None:
    async with XinferenceFake(api_key="xinf-secret-key") as fake:
        gateway = gateway_for(config(fake.base_url, api_key="xinf-secret-key"))
        generation = await generate(gateway, prompt="x", size="64x64")
        assert fake.requests[-1].headers["authorization"] == "Bearer xinf-secret-key"
    assert len(generation.result.images) == 1


async def test_missing_api_base_fails_at_config_load() -> None:
    text = yaml.safe_dump(
        {"model_list": [{"model_name": "sd", "litellm_params": {"model": f"xinference/{MODEL}"}}]}
    )
    with pytest.raises(ConfigError, match="needs api_base"):
        parse_settings(text)


# --------------------------------------------------------------------------- pricing


async def test_cost_is_unknown_without_a_configured_price(gateway: Gateway) -> None:
    generation = await generate(gateway, prompt="x", size="64x64")
    # Self-hosted: no shipped price, and never a silent $0.
    assert generation.facts.response_cost is None
    assert generation.facts.response_cost_text == "unknown"


async def test_model_info_price_per_image(
    xinference_fake: XinferenceFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(xinference_fake.base_url, model_info={"output_cost_per_image": 0.0025})
    )
    generation = await generate(gateway, prompt="x", n=3, size="64x64")
    assert generation.facts.response_cost == Decimal("0.0075")
    assert generation.facts.response_cost_text == "0.0075"


# --------------------------------------------------------------------------- errors


async def test_unknown_model_uid_is_provider_model_not_found(
    xinference_fake: XinferenceFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(xinference_fake.base_url, model="not-launched"))
    error = await rejected(gateway, ProviderModelNotFoundError, prompt="x")
    assert error.reason == "PROVIDER_MODEL_NOT_FOUND"
    assert error.code is Code.NOT_FOUND
    assert "not-launched" in error.message
    assert xinference_fake.requests[-1].json["model"] == "not-launched"
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_loading_model_is_unavailable_with_retry_after(gateway: Gateway) -> None:
    error = await rejected(gateway, ProviderUnavailableError, prompt="still loading")
    assert error.reason == "PROVIDER_UNAVAILABLE"
    assert error.code is Code.UNAVAILABLE
    assert error.retry_after == 30
    assert "still loading" in error.message
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_rate_limit_is_provider_rate_limited(gateway: Gateway) -> None:
    error = await rejected(gateway, ProviderRateLimitedError, prompt="ratelimit")
    assert error.code is Code.UNAVAILABLE
    assert error.retry_after is None


async def test_server_error_is_provider_unavailable(gateway: Gateway) -> None:
    error = await rejected(gateway, ProviderUnavailableError, prompt="servererror")
    assert error.metadata["upstream_status"] == "500"
    assert "CUDA" in error.message


async def test_cancelled_request_is_a_conflict(
    xinference_fake: XinferenceFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ProviderConflictError, prompt="cancelled", provider_params={"request_id": "r-9"}
    )
    assert error.code is Code.ABORTED
    assert xinference_fake.last_kwargs == {"request_id": "r-9"}


async def test_plain_text_500_is_unavailable_without_echoing_the_body(
    xinference_fake: XinferenceFake, gateway: Gateway
) -> None:
    xinference_fake.fail_next(
        500,
        "Internal Server Error: 1 validation error for TextToImageRequest",
        content_type="text/plain",
    )
    error = await rejected(gateway, ProviderUnavailableError, prompt="x")
    assert "TextToImageRequest" not in error.message


async def test_wrong_key_is_an_operator_problem(gateway_for: GatewayFactory) -> None:
    async with XinferenceFake(api_key="right-key-0123456789") as fake:
        gateway = gateway_for(config(fake.base_url, api_key="wrong-key-0123456789"))
        error = await rejected(gateway, ProviderAuthenticationError, prompt="x")
    assert error.code is Code.FAILED_PRECONDITION
    assert "wrong-key-0123456789" not in str(error)


@pytest.mark.parametrize(
    "body",
    [
        "<html>bad gateway</html>",
        {"created": 1, "data": []},
        {"created": 1, "data": [{"url": None, "b64_json": "!!!"}]},
        {"created": 1, "data": [{"url": None, "b64_json": None}]},
    ],
)
async def test_unusable_success_answer_is_a_bad_response_of_unknown_cost(
    xinference_fake: XinferenceFake, gateway_for: GatewayFactory, body: dict[str, Any] | str
) -> None:
    # Even a priced deployment reports unknown: the images may have been made and billed.
    gateway = gateway_for(
        config(xinference_fake.base_url, model_info={"output_cost_per_image": 0.01})
    )
    xinference_fake.fail_next(200, body)
    error = await rejected(gateway, ProviderBadResponseError, prompt="x")
    assert error.reason == "PROVIDER_BAD_RESPONSE"
    assert error.facts is not None
    assert error.facts.response_cost is None


async def test_connection_refused_is_provider_unavailable(gateway_for: GatewayFactory) -> None:
    gateway = gateway_for(config(f"http://127.0.0.1:{closed_port()}"))
    error = await rejected(gateway, ProviderUnavailableError, prompt="x")
    assert error.metadata["provider"] == "xinference"


# --------------------------------------------------------------------------- pure transforms


def provider_call(
    *, size: str | None, extra: dict[str, Any], api_key: str | None = None
) -> ProviderCall:
    return ProviderCall(
        provider_model="my-sdxl",
        spec=XINFERENCE_SPEC,
        params=CallParams(
            n=3,
            quality=None,
            size=size,
            style=None,
            user=None,
            response_format=ResponseFormat.B64_JSON,
            extra=extra,
        ),
        prompt="a red fox",
        endpoint=Endpoint(api_base="http://gpu-box:9997", api_key=api_key),
        deadline=Deadline.after(60),
    )


def test_build_request_is_a_pure_transform() -> None:
    call = provider_call(size="1024x768", extra={"seed": 1, "guidance_scale": 7.0}, api_key="k")
    request = XinferenceProvider().build_request(call)
    assert request.method == "POST"
    assert request.url == "http://gpu-box:9997/v1/images/generations"
    assert dict(request.headers) == {"authorization": "Bearer k"}
    assert dict(request.json) == {
        "model": "my-sdxl",
        "prompt": "a red fox",
        "n": 3,
        "response_format": "b64_json",
        "size": "1024*768",
        "kwargs": '{"seed":1,"guidance_scale":7.0}',
    }


def test_build_request_without_size_params_or_key() -> None:
    request = XinferenceProvider().build_request(provider_call(size=None, extra={}))
    assert dict(request.headers) == {}
    assert "size" not in request.json
    assert "kwargs" not in request.json


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        (400, "Model not found in the model list, uid: my-sdxl", ProviderModelNotFoundError),
        (409, "The request has been cancelled: r", ProviderConflictError),
        (429, "Rate limit reached for the model.", ProviderRateLimitedError),
        (503, "Model my-sdxl is still loading", ProviderUnavailableError),
    ],
)
def test_parse_error_reads_fastapi_detail(
    status: int, detail: str, expected: type[ImageGenError]
) -> None:
    response = HttpResponse(status, {}, json.dumps({"detail": detail}).encode())
    error = XinferenceProvider().parse_error(provider_call(size=None, extra={}), response)
    assert type(error) is expected
    assert error.metadata["upstream_status"] == str(status)
