"""The xAI adapter against the xAI fake: OpenAI-shaped, sized by aspect ratio, no `size`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from imagegen.errors import (
    ContentPolicyViolationError,
    ProviderAuthenticationError,
    UnsupportedParameterError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.types import ImageRequest, ResponseFormat
from tests.conftest import GatewayFactory
from tests.fakes.xai import XaiFake

KEY = "xai-test-key"


@pytest.fixture
async def xai_fake() -> AsyncIterator[XaiFake]:
    async with XaiFake(api_key=KEY) as fake:
        yield fake


def config(fake: XaiFake, model: str = "grok-imagine-image", **params: Any) -> str:
    litellm_params = {
        "model": f"xai/{model}",
        "api_base": f"{fake.base_url}/v1",
        "api_key": KEY,
        **params,
    }
    return yaml.safe_dump(
        {"model_list": [{"model_name": "grok", "litellm_params": litellm_params}]}
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(model="grok", **fields))


async def test_size_becomes_an_aspect_ratio_and_images_come_back_as_bytes(
    xai_fake: XaiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(xai_fake))
    generation = await generate(
        gateway, prompt="a fox", size="1920x1080", n=2, response_format="b64_json"
    )
    assert xai_fake.last_request.json == {
        "model": "grok-imagine-image",
        "prompt": "a fox",
        "n": 2,
        "aspect_ratio": "16:9",
        "response_format": "b64_json",
    }
    assert xai_fake.last_request.headers["authorization"] == f"Bearer {KEY}"
    assert [i.mime_type for i in generation.result.images] == ["image/jpeg"] * 2
    assert generation.facts.response_cost == Decimal("0.04")


async def test_a_url_is_handed_back_unfetched(
    xai_fake: XaiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(xai_fake))
    generation = await generate(gateway, prompt="a fox", response_format=ResponseFormat.URL)
    (image,) = generation.result.images
    assert image.url is not None and image.url.startswith(xai_fake.base_url)
    assert xai_fake.aux_requests == []


async def test_grok_2_image_takes_no_size(xai_fake: XaiFake, gateway_for: GatewayFactory) -> None:
    gateway = gateway_for(config(xai_fake, "grok-2-image-1212"))
    with pytest.raises(UnsupportedParameterError):
        await generate(gateway, prompt="a fox", size="1024x1024")
    generation = await generate(gateway, prompt="a fox")
    assert "aspect_ratio" not in xai_fake.last_request.json
    assert generation.facts.response_cost == Decimal("0.07")


async def test_moderation_is_a_content_policy_violation(
    xai_fake: XaiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(xai_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="something forbidden")


async def test_a_wrong_key_is_an_operator_problem_and_names_no_key(
    xai_fake: XaiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(xai_fake, api_key="xai-wrong"))
    with pytest.raises(ProviderAuthenticationError) as info:
        await generate(gateway, prompt="a fox")
    assert "xai-wrong" not in str(info.value)
