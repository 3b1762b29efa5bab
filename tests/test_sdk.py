"""The in-process SDK: LiteLLM's image_generation()/aimage_generation() without a server."""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import json
import time
from decimal import Decimal
from typing import TypedDict

import aiohttp
import pytest
from PIL import Image

from imagegen import (
    ContentPolicyViolationError,
    ImageResponse,
    InvalidRequestError,
    ModelNotFoundError,
    UnsupportedParameterError,
    aimage_generation,
    image_generation,
)
from imagegen.errors import ProviderNotConfiguredError, ProviderRateLimitedError
from imagegen.types import CallFacts
from tests.fakes.openai import OpenAIFake
from tests.fakes.xinference import XinferenceFake

SEED_PARAMETERS = [
    "prompt",
    "model",
    "n",
    "quality",
    "response_format",
    "size",
    "style",
    "user",
    "timeout",
    "api_key",
    "api_base",
    "api_version",
    "custom_llm_provider",
    "kwargs",
]
# gpt-image-1 per million tokens (pricing/prices.toml).
GPT_IMAGE_1_TEXT_INPUT = Decimal("5.00")
GPT_IMAGE_1_IMAGE_OUTPUT = Decimal("40.00")


@pytest.fixture(autouse=True)
def no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials come only from what a test passes or sets."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "XINFERENCE_API_BASE"):
        monkeypatch.delenv(name, raising=False)


def png_size(b64: str | None) -> tuple[int, int]:
    assert b64 is not None
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    return image.size


class EndpointArgs(TypedDict):
    api_base: str
    api_key: str


def openai_args(fake: OpenAIFake) -> EndpointArgs:
    return {"api_base": f"{fake.base_url}/v1", "api_key": fake.api_key}


# ---------------------------------------------------------------- signature


@pytest.mark.parametrize("function", [image_generation, aimage_generation])
def test_signature_is_the_seeds(function: object) -> None:
    assert callable(function)
    parameters = inspect.signature(function).parameters
    assert list(parameters) == SEED_PARAMETERS
    assert parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    assert parameters["prompt"].default is inspect.Parameter.empty
    for name in SEED_PARAMETERS[1:-1]:
        assert parameters[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        if name != "timeout":
            assert parameters[name].default is None, name


def test_positional_arguments_follow_the_seed_order() -> None:
    response = image_generation("a lighthouse", "placeholder", 1, None, None, "48x32")
    assert png_size(response.data[0].b64_json) == (48, 32)


# ---------------------------------------------------------------- placeholder, offline


def test_placeholder_sync() -> None:
    before = int(time.time())
    response = image_generation("a sea otter", model="placeholder", size="64x48")
    assert isinstance(response, ImageResponse)
    assert before - 1 <= response.created <= int(time.time()) + 1
    (image,) = response.data
    assert png_size(image.b64_json) == (64, 48)
    assert image.url is None
    hidden = response._hidden_params
    assert hidden["model_id"] == "local/placeholder"
    assert hidden["api_base"] == "local://"
    assert hidden["provider"] == "local"
    assert hidden["response_cost"] == 0.0
    assert isinstance(hidden["response_cost"], float)
    assert isinstance(hidden["cost"], CallFacts)
    assert hidden["cost"].response_cost == Decimal(0)
    # The placeholder calls no provider, so there are no provider headers to pass on.
    assert response._response_headers == {}


async def test_placeholder_async_several_images() -> None:
    response = await aimage_generation("a sea otter", model="placeholder", n=3, size="40x40")
    assert len(response.data) == 3
    assert {png_size(image.b64_json) for image in response.data} == {(40, 40)}
    assert len({image.b64_json for image in response.data}) == 3
    assert response._hidden_params["response_cost"] == 0.0
    assert response._hidden_params["attempts"] == 1


async def test_placeholder_seed_is_a_provider_param() -> None:
    async def render(seed: int) -> str | None:
        response = await aimage_generation("otter", model="placeholder", size="32x32", seed=seed)
        return response.data[0].b64_json

    assert await render(1) == await render(1)
    assert await render(1) != await render(2)


def test_model_dump_is_openai_shaped() -> None:
    response = image_generation("a sea otter", model="placeholder", size="16x16")
    dumped = response.model_dump()
    assert set(dumped) == {"created", "data", "usage"}
    assert set(dumped["data"][0]) == {"b64_json", "url", "revised_prompt"}
    # Serialisable as the JSON body an OpenAI client would parse.
    parsed = json.loads(response.model_dump_json())
    assert parsed["data"][0]["b64_json"] == response.data[0].b64_json
    assert "_hidden_params" not in parsed


# ---------------------------------------------------------------- against the OpenAI fake


async def test_gpt_image_1_against_the_fake(openai_fake: OpenAIFake) -> None:
    response = await aimage_generation(
        "a sea otter", model="openai/gpt-image-1", **openai_args(openai_fake)
    )
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {openai_fake.api_key}"
    assert sent.json == {"prompt": "a sea otter", "model": "gpt-image-1", "n": 1}

    (image,) = response.data
    assert png_size(image.b64_json) == (1024, 1024)
    assert response.usage is not None
    assert response.usage.output_tokens > 0

    hidden = response._hidden_params
    assert hidden["model_id"] == "openai/gpt-image-1"
    assert hidden["api_base"] == f"{openai_fake.base_url}/v1"
    assert hidden["provider"] == "openai"
    details = response.usage.input_tokens_details
    text_tokens = details.text_tokens if details else response.usage.input_tokens
    expected = (
        text_tokens * GPT_IMAGE_1_TEXT_INPUT
        + response.usage.output_tokens * GPT_IMAGE_1_IMAGE_OUTPUT
    ) / 1_000_000
    assert hidden["cost"].response_cost == expected
    assert hidden["response_cost"] == pytest.approx(float(expected))
    assert hidden["response_cost"] > 0

    headers = response._response_headers
    assert headers["x-request-id"].startswith("req_")
    assert headers["openai-organization"] == openai_fake.organization
    assert openai_fake.api_key not in repr(hidden)


async def test_sync_sdk_against_the_fake(openai_fake: OpenAIFake) -> None:
    # The fake serves on this test's loop; the blocking call must not block that loop.
    response = await asyncio.to_thread(
        image_generation, "a sea otter", model="openai/gpt-image-1", **openai_args(openai_fake)
    )
    assert png_size(response.data[0].b64_json) == (1024, 1024)
    assert response._hidden_params["response_cost"] > 0
    assert response._response_headers["x-request-id"].startswith("req_")
    assert len(openai_fake.requests) == 1


@pytest.mark.parametrize("model", ["openai/gpt-image-1", "gpt-image-1"])
async def test_credentials_from_the_environment(
    openai_fake: OpenAIFake, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{openai_fake.base_url}/v1")
    response = await aimage_generation("a sea otter", model=model, quality="low")
    assert openai_fake.requests[-1].headers["authorization"] == f"Bearer {openai_fake.api_key}"
    assert openai_fake.requests[-1].json["quality"] == "low"
    assert response._hidden_params["model_id"] == "openai/gpt-image-1"
    assert response._hidden_params["api_base"] == f"{openai_fake.base_url}/v1"


async def test_key_from_environment_with_api_base_argument(
    openai_fake: OpenAIFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    response = await aimage_generation(
        "a sea otter", model="gpt-image-1", api_base=f"{openai_fake.base_url}/v1"
    )
    assert len(response.data) == 1
    assert len(openai_fake.requests) == 1


async def test_missing_key_is_provider_not_configured(openai_fake: OpenAIFake) -> None:
    with pytest.raises(ProviderNotConfiguredError) as caught:
        await aimage_generation(
            "a sea otter", model="openai/gpt-image-1", api_base=f"{openai_fake.base_url}/v1"
        )
    assert "OPENAI_API_KEY" in caught.value.message
    assert openai_fake.requests == []


async def test_dall_e_3_returns_urls(openai_fake: OpenAIFake) -> None:
    response = await aimage_generation(
        "a sea otter", model="openai/dall-e-3", style="natural", **openai_args(openai_fake)
    )
    (image,) = response.data
    assert image.b64_json is None
    assert image.url is not None
    assert image.url.startswith("https://")
    assert image.revised_prompt is not None
    assert "natural" in image.revised_prompt
    assert openai_fake.requests[-1].json["style"] == "natural"
    # standard quality, 1024x1024: the per-image price.
    assert response._hidden_params["response_cost"] == pytest.approx(0.04)
    assert response.model_dump()["data"][0]["url"] == image.url


async def test_unknown_kwargs_become_provider_params(openai_fake: OpenAIFake) -> None:
    await aimage_generation(
        "a sea otter",
        model="openai/gpt-image-1",
        background="transparent",
        output_format="webp",
        **openai_args(openai_fake),
    )
    body = openai_fake.requests[-1].json
    assert body["background"] == "transparent"
    assert body["output_format"] == "webp"


async def test_custom_llm_provider_with_a_bare_model(openai_fake: OpenAIFake) -> None:
    response = await aimage_generation(
        "a sea otter",
        model="gpt-image-1",
        custom_llm_provider="openai",
        **openai_args(openai_fake),
    )
    assert response._hidden_params["model_id"] == "openai/gpt-image-1"
    assert openai_fake.requests[-1].json["model"] == "gpt-image-1"


async def test_custom_llm_provider_names_a_provider_bare_names_do_not(
    xinference_fake: XinferenceFake,
) -> None:
    with pytest.raises(ModelNotFoundError):
        await aimage_generation(
            "a lighthouse", model="sd3-medium", api_base=xinference_fake.base_url
        )
    response = await aimage_generation(
        "a lighthouse",
        model="sd3-medium",
        custom_llm_provider="xinference",
        api_base=xinference_fake.base_url,
        size="64x64",
    )
    assert xinference_fake.requests[-1].json["model"] == "sd3-medium"
    assert response._hidden_params["model_id"] == "xinference/sd3-medium"
    # Self-hosted models have no price row: unknown, never a silent $0.
    assert response._hidden_params["response_cost"] is None
    assert response._hidden_params["cost"].response_cost_text == "unknown"


# ---------------------------------------------------------------- errors


async def test_unsupported_parameter(openai_fake: OpenAIFake) -> None:
    with pytest.raises(UnsupportedParameterError) as caught:
        await aimage_generation(
            "a sea otter", model="openai/gpt-image-1", style="vivid", **openai_args(openai_fake)
        )
    error = caught.value
    assert [v.field for v in error.field_violations] == ["style"]
    assert error.facts is not None
    assert error.facts.model_id == "openai/gpt-image-1"
    assert error.facts.attempts == 0
    assert error.facts.response_cost == Decimal(0)
    assert openai_fake.requests == []


async def test_drop_params_drops_the_unsupported_parameter(openai_fake: OpenAIFake) -> None:
    response = await aimage_generation(
        "a sea otter",
        model="openai/gpt-image-1",
        style="vivid",
        drop_params=True,
        **openai_args(openai_fake),
    )
    assert len(response.data) == 1
    body = openai_fake.requests[-1].json
    assert "style" not in body
    assert "drop_params" not in body


async def test_content_policy_violation(openai_fake: OpenAIFake) -> None:
    with pytest.raises(ContentPolicyViolationError) as caught:
        await aimage_generation(
            "something forbidden", model="openai/gpt-image-1", **openai_args(openai_fake)
        )
    error = caught.value
    assert error.metadata["provider"] == "openai"
    assert error.metadata["upstream_status"] == "400"
    assert error.facts is not None
    assert error.facts.provider == "openai"
    assert error.facts.attempts == 1
    # A refused request is not billed.
    assert error.facts.response_cost == Decimal(0)
    assert len(openai_fake.requests) == 1


async def test_rate_limit_carries_retry_after(openai_fake: OpenAIFake) -> None:
    with pytest.raises(ProviderRateLimitedError) as caught:
        await aimage_generation(
            "ratelimit please", model="openai/gpt-image-1", **openai_args(openai_fake)
        )
    assert caught.value.retry_after == 7
    assert caught.value.upstream_status == 429


async def test_unknown_model() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await aimage_generation("a sea otter", model="nope/x")
    assert "nope/x" in caught.value.message
    assert caught.value.facts is not None
    assert caught.value.facts.model_id == ""
    assert caught.value.facts.attempts == 0


def test_errors_cross_the_sync_wrapper_unchanged() -> None:
    with pytest.raises(UnsupportedParameterError) as caught:
        image_generation("a sea otter", model="placeholder", quality="hd")
    assert [v.field for v in caught.value.field_violations] == ["quality"]
    assert caught.value.facts is not None
    assert caught.value.facts.model_id == "local/placeholder"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"n": 0}, "n"),
        ({"response_format": "png"}, "response_format"),
        ({"timeout": -1.0}, "timeout"),
    ],
)
async def test_invalid_arguments(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await aimage_generation("a sea otter", model="placeholder", **arguments)  # type: ignore[arg-type]
    assert [v.field for v in caught.value.field_violations] == [field]


def test_each_event_loops_gateway_is_closed_when_its_loop_ends() -> None:
    from imagegen.sdk import calls

    async def one_call() -> aiohttp.ClientSession:
        fake = OpenAIFake()
        await fake.start()
        try:
            await aimage_generation("a sea otter", model="gpt-image-1", **openai_args(fake))
            session = calls._gateway().transport._session
            assert session is not None and not session.closed
            return session
        finally:
            await fake.stop()

    sessions = [asyncio.run(one_call()) for _ in range(2)]
    assert sessions[0] is not sessions[1]  # one pool per loop
    # asyncio.run has ended both loops: each gateway closed its connection pool with it.
    assert all(session.closed for session in sessions)
