"""The OpenRouter adapter against its fake: image output through chat completions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from imagegen.errors import ContentPolicyViolationError, UnsupportedParameterError
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.types import ImageRequest, ResponseFormat
from tests.conftest import GatewayFactory
from tests.fakes.openrouter import OpenRouterFake

KEY = "sk-or-test"
MODEL = "google/gemini-2.5-flash-image"


@pytest.fixture
async def openrouter_fake() -> AsyncIterator[OpenRouterFake]:
    async with OpenRouterFake(api_key=KEY) as fake:
        yield fake


def config(fake: OpenRouterFake) -> str:
    litellm_params = {
        "model": f"openrouter/{MODEL}",
        "api_base": f"{fake.base_url}/api/v1",
        "api_key": KEY,
    }
    return yaml.safe_dump(
        {"model_list": [{"model_name": "nano", "litellm_params": litellm_params}]}
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(model="nano", **fields))


async def test_the_prompt_goes_as_a_chat_message_and_the_data_url_comes_back_as_bytes(
    openrouter_fake: OpenRouterFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(openrouter_fake))
    generation = await generate(gateway, prompt="a fox", size="1920x1080", n=2)
    assert openrouter_fake.last_request.json == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "a fox"}],
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9"},
    }
    assert len(openrouter_fake.requests) == 2  # one image per call
    images = generation.result.images
    assert [i.mime_type for i in images] == ["image/png"] * 2
    assert generation.result.usage is not None
    assert generation.result.usage.output_tokens == 2 * 1290
    # Priced by what OpenRouter says each call cost (usage.cost), summed over the fan-out.
    assert generation.facts.response_cost == Decimal("0.0774072")


async def test_a_text_only_answer_is_a_content_policy_violation(
    openrouter_fake: OpenRouterFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(openrouter_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="please refuse")


async def test_a_url_response_format_is_unsupported(
    openrouter_fake: OpenRouterFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(openrouter_fake))
    with pytest.raises(UnsupportedParameterError):
        await generate(gateway, prompt="a fox", response_format=ResponseFormat.URL)
    assert openrouter_fake.requests == []
