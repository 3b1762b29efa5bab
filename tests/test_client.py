"""The gRPC client SDK (sync and asyncio) against a real server on loopback."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal, TypeVar

import pytest
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.client import AsyncImageGenClient, GenerateResult, ImageGenClient
from imagegen.config import embedded_settings
from imagegen.errors import (
    ContentPolicyViolationError,
    DeadlineExceededError,
    GatewayUnavailableError,
    ImageGenError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    UnsupportedParameterError,
)
from imagegen.types import CallFacts, ImageResponse
from tests.conftest import TRAILER_KEYS, Served, ServeFactory
from tests.fakes.openai import OpenAIFake

Flavor = Literal["sync", "async"]
T = TypeVar("T")


pytestmark = pytest.mark.parametrize("flavor", ["sync", "async"])


async def with_client(
    flavor: Flavor,
    address: str,
    sync_use: Callable[[ImageGenClient], T],
    async_use: Callable[[AsyncImageGenClient], Any],
) -> T:
    """Run one call with the chosen client.

    The server runs on this test's event loop, so the blocking client runs in a thread.
    """
    if flavor == "sync":

        def run() -> T:
            with ImageGenClient(address) as client:
                return sync_use(client)

        return await asyncio.to_thread(run)
    async with AsyncImageGenClient(address) as client:
        result: T = await async_use(client)
        return result


async def image_generation(
    flavor: Flavor, address: str, prompt: str, **kwargs: Any
) -> ImageResponse:
    return await with_client(
        flavor,
        address,
        lambda client: client.image_generation(prompt, **kwargs),
        lambda client: client.image_generation(prompt, **kwargs),
    )


async def generate_images(
    flavor: Flavor, address: str, prompt: str, **kwargs: Any
) -> GenerateResult:
    return await with_client(
        flavor,
        address,
        lambda client: client.generate_images(prompt, **kwargs),
        lambda client: client.generate_images(prompt, **kwargs),
    )


async def list_models(flavor: Flavor, address: str) -> list[pb.ModelInfo]:
    return await with_client(
        flavor,
        address,
        lambda client: client.list_models(),
        lambda client: client.list_models(),
    )


def openai_config(fake: OpenAIFake) -> str:
    return f"""\
model_list:
  - model_name: placeholder
    litellm_params: {{model: local/placeholder}}
  - model_name: gpt-image-1
    litellm_params:
      model: openai/gpt-image-1
      api_base: {fake.base_url}/v1
      api_key: {fake.api_key}
"""


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


@pytest.fixture
async def embedded(serve: ServeFactory) -> Served:
    return await serve(embedded_settings())


@pytest.fixture
async def with_openai(serve: ServeFactory, openai_fake: OpenAIFake) -> Served:
    return await serve(openai_config(openai_fake))


# ---------------------------------------------------------------- success


async def test_image_generation_returns_an_image_response(flavor: Flavor, embedded: Served) -> None:
    response = await image_generation(
        flavor, embedded.address, "a sea otter", model="placeholder", size="48x32", n=2
    )
    assert isinstance(response, ImageResponse)
    assert response.created > 0
    assert len(response.data) == 2
    for item in response.data:
        assert item.b64_json is not None
        assert item.url is None
        assert png(base64.b64decode(item.b64_json)).size == (48, 32)
    assert set(response.model_dump()) == {"created", "data", "usage"}

    hidden = response._hidden_params
    assert hidden["response_cost"] == 0.0
    assert hidden["model_id"] == "local/placeholder"
    assert hidden["provider"] == "local"
    assert hidden["attempts"] == 1
    assert isinstance(hidden["cost"], CallFacts)

    headers = response._response_headers
    assert set(headers) >= TRAILER_KEYS
    assert headers["x-imagegen-response-cost"] == "0"
    assert headers["x-imagegen-model-id"] == "local/placeholder"
    assert headers["x-imagegen-request-id"] == hidden["request_id"]


async def test_default_model_is_used_without_one(flavor: Flavor, embedded: Served) -> None:
    response = await image_generation(flavor, embedded.address, "a sea otter", size="16x16")
    assert response._hidden_params["model_id"] == "local/placeholder"


async def test_generate_images_returns_raw_bytes_cost_and_trailers(
    flavor: Flavor, embedded: Served
) -> None:
    result = await generate_images(
        flavor, embedded.address, "a sea otter", model="placeholder", size="40x24"
    )
    (image,) = result.images
    assert image.mime_type == "image/png"
    assert png(image.data).size == (40, 24)
    assert (image.width, image.height) == (40, 24)
    assert result.cost.response_cost == Decimal(0)
    assert result.cost.model_id == "local/placeholder"
    assert result.cost.provider == "local"
    assert result.cost.provider_model == "placeholder"
    assert result.cost.attempts == 1
    assert set(result.trailers) >= TRAILER_KEYS
    assert result.trailers["x-imagegen-request-id"] == result.cost.request_id


async def test_kwargs_become_provider_params(flavor: Flavor, embedded: Served) -> None:
    async def render(seed: int) -> bytes:
        result = await generate_images(
            flavor, embedded.address, "otter", model="placeholder", size="32x32", seed=seed
        )
        return result.images[0].data

    first = await render(5)
    assert first == await render(5)
    assert first != await render(6)


async def test_provider_params_argument_and_kwargs_merge(
    flavor: Flavor, with_openai: Served, openai_fake: OpenAIFake
) -> None:
    await generate_images(
        flavor,
        with_openai.address,
        "a sea otter",
        model="gpt-image-1",
        provider_params={"background": "transparent"},
        output_format="webp",
    )
    body = openai_fake.requests[-1].json
    assert body["background"] == "transparent"
    assert body["output_format"] == "webp"


async def test_priced_model_reports_cost_in_response_and_trailers(
    flavor: Flavor, with_openai: Served, openai_fake: OpenAIFake
) -> None:
    response = await image_generation(
        flavor, with_openai.address, "a sea otter", model="gpt-image-1", quality="low"
    )
    assert openai_fake.requests[-1].json["quality"] == "low"
    assert response.usage is not None
    assert response.usage.output_tokens > 0
    hidden = response._hidden_params
    cost_text = response._response_headers["x-imagegen-response-cost"]
    assert hidden["cost"].response_cost == Decimal(cost_text)
    assert hidden["response_cost"] == pytest.approx(float(cost_text))
    assert hidden["response_cost"] > 0
    assert response._response_headers["x-imagegen-api-base"] == f"{openai_fake.base_url}/v1"
    assert response._response_headers["x-imagegen-provider"] == "openai"
    # Trailers carry where the call went, never the credential that paid for it.
    assert all(openai_fake.api_key not in value for value in response._response_headers.values())


async def test_list_models(flavor: Flavor, with_openai: Served) -> None:
    models = await list_models(flavor, with_openai.address)
    assert [m.name for m in models] == ["placeholder", "gpt-image-1"]
    placeholder, gpt = models
    assert placeholder.provider == "local"
    assert placeholder.price_basis == "free"
    assert "provider_params.seed" in placeholder.supported_params
    assert gpt.provider == "openai"
    assert gpt.price_basis == "per_token"
    assert "1024x1024" in gpt.sizes
    assert "style" not in gpt.supported_params


async def test_drop_params(flavor: Flavor, with_openai: Served, openai_fake: OpenAIFake) -> None:
    response = await image_generation(
        flavor,
        with_openai.address,
        "a sea otter",
        model="gpt-image-1",
        style="vivid",
        drop_params=True,
    )
    assert len(response.data) == 1
    assert "style" not in openai_fake.requests[-1].json


# ---------------------------------------------------------------- errors


async def test_unsupported_parameter(flavor: Flavor, embedded: Served) -> None:
    with pytest.raises(UnsupportedParameterError) as caught:
        await image_generation(
            flavor, embedded.address, "a sea otter", model="placeholder", quality="hd"
        )
    error = caught.value
    assert [v.field for v in error.field_violations] == ["quality"]
    assert error.metadata["field"] == "quality"
    assert error.facts is not None
    assert error.facts.model_id == "local/placeholder"
    assert error.facts.provider == "local"
    assert error.facts.attempts == 0
    assert error.facts.response_cost == Decimal(0)


async def test_model_not_found(flavor: Flavor, embedded: Served) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await generate_images(flavor, embedded.address, "a sea otter", model="nope")
    error = caught.value
    assert "nope" in error.message
    assert error.metadata["model"] == "nope"
    assert error.facts is not None
    assert error.facts.model_id == ""
    assert error.facts.request_id != ""


async def test_content_policy_violation(
    flavor: Flavor, with_openai: Served, openai_fake: OpenAIFake
) -> None:
    with pytest.raises(ContentPolicyViolationError) as caught:
        await image_generation(
            flavor, with_openai.address, "something forbidden", model="gpt-image-1"
        )
    error = caught.value
    assert error.metadata["provider"] == "openai"
    assert error.metadata["upstream_code"] == "moderation_blocked"
    assert error.facts is not None
    assert error.facts.provider == "openai"
    assert error.facts.api_base == f"{openai_fake.base_url}/v1"
    assert error.facts.attempts == 1
    assert error.facts.response_cost == Decimal(0)


async def test_rate_limited_with_retry_after(flavor: Flavor, with_openai: Served) -> None:
    with pytest.raises(ProviderRateLimitedError) as caught:
        await image_generation(flavor, with_openai.address, "ratelimit now", model="gpt-image-1")
    error = caught.value
    assert error.retry_after == 7
    assert error.provider == "openai"
    assert error.upstream_status == 429
    assert error.facts is not None
    assert error.facts.attempts == 1


async def test_deadline(flavor: Flavor, with_openai: Served, openai_fake: OpenAIFake) -> None:
    with pytest.raises((DeadlineExceededError, ProviderTimeoutError)):
        await image_generation(
            flavor, with_openai.address, "hang on", model="gpt-image-1", timeout=0.3
        )
    # The gateway gives up on the provider too instead of leaving the call running.
    await asyncio.wait_for(openai_fake.disconnected.wait(), timeout=10)


async def test_request_credentials_refused_by_default(flavor: Flavor, embedded: Served) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        await image_generation(
            flavor, embedded.address, "a sea otter", model="placeholder", api_key="sk-mine-1234"
        )
    assert [v.field for v in caught.value.field_violations] == ["api_key"]
    assert "sk-mine-1234" not in str(caught.value)


async def test_unreachable_gateway(flavor: Flavor) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now: the connection is refused.
    with pytest.raises(GatewayUnavailableError) as caught:
        await image_generation(flavor, f"127.0.0.1:{port}", "a sea otter", timeout=10)
    error = caught.value
    assert isinstance(error, ImageGenError)
    assert error.metadata["grpc_code"] == "UNAVAILABLE"
    assert error.facts is not None
    assert error.facts.model_id == ""


async def test_client_side_validation(flavor: Flavor, embedded: Served) -> None:
    with pytest.raises(ValueError, match="response_format"):
        await image_generation(flavor, embedded.address, "a sea otter", response_format="png")
