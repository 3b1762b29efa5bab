"""The Together AI adapter against its fake: width/height, base64 spelled "base64", n ≤ 4."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from imagegen.errors import ContentPolicyViolationError, InvalidRequestError
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.types import ImageRequest
from tests.conftest import GatewayFactory
from tests.fakes.together import TogetherFake

KEY = "together-test-key"
SCHNELL = "black-forest-labs/FLUX.1-schnell"


@pytest.fixture
async def together_fake() -> AsyncIterator[TogetherFake]:
    async with TogetherFake(api_key=KEY) as fake:
        yield fake


def config(fake: TogetherFake) -> str:
    litellm_params = {
        "model": f"together_ai/{SCHNELL}",
        "api_base": f"{fake.base_url}/v1",
        "api_key": KEY,
    }
    return yaml.safe_dump(
        {"model_list": [{"model_name": "flux", "litellm_params": litellm_params}]}
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(model="flux", **fields))


async def test_size_is_sent_as_width_and_height_and_base64_comes_back_as_bytes(
    together_fake: TogetherFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(together_fake))
    generation = await generate(
        gateway,
        prompt="a fox",
        size="1024x576",
        response_format="b64_json",
        provider_params={"steps": 4},
    )
    assert together_fake.last_request.json == {
        "model": SCHNELL,
        "prompt": "a fox",
        "n": 1,
        "width": 1024,
        "height": 576,
        "response_format": "base64",
        "steps": 4,
    }
    (image,) = generation.result.images
    assert image.mime_type == "image/jpeg" and (image.width, image.height) == (1024, 576)
    assert generation.facts.response_cost is None  # per megapixel: not in the table


async def test_n_above_four_fans_out(
    together_fake: TogetherFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(together_fake))
    generation = await generate(gateway, prompt="a fox", n=6)
    assert len(generation.result.images) == 6
    assert sorted(r.json["n"] for r in together_fake.requests) == [2, 4]


async def test_sizes_outside_the_rule_are_refused_before_any_call(
    together_fake: TogetherFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(together_fake))
    with pytest.raises(InvalidRequestError):
        await generate(gateway, prompt="a fox", size="1000x1000")
    assert together_fake.requests == []


async def test_the_safety_checker_is_a_content_policy_violation(
    together_fake: TogetherFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(together_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="an nsfw scene")
