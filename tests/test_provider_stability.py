"""The Stability adapter against its fake: multipart in, JSON (base64) out, finish-reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from imagegen.errors import ContentPolicyViolationError, InvalidRequestError
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.types import ImageRequest
from tests.conftest import GatewayFactory
from tests.fakes.stability import StabilityFake

KEY = "sk-stability-test"


@pytest.fixture
async def stability_fake() -> AsyncIterator[StabilityFake]:
    async with StabilityFake(api_key=KEY) as fake:
        yield fake


def config(fake: StabilityFake, model: str = "stable-image-ultra") -> str:
    litellm_params = {"model": f"stability/{model}", "api_base": fake.base_url, "api_key": KEY}
    return yaml.safe_dump({"model_list": [{"model_name": "sd", "litellm_params": litellm_params}]})


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(model="sd", **fields))


async def test_ultra_gets_a_multipart_form_and_answers_base64_json(
    stability_fake: StabilityFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(stability_fake))
    generation = await generate(
        gateway, prompt="a fox", size="1920x1080", provider_params={"seed": 5}
    )
    request = stability_fake.last_request
    assert request.path == "/v2beta/stable-image/generate/ultra"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert stability_fake.forms == [{"prompt": "a fox", "aspect_ratio": "16:9", "seed": "5"}]
    (image,) = generation.result.images
    assert image.mime_type == "image/png"
    assert generation.facts.response_cost == Decimal("0.08")


async def test_sd3_models_go_to_the_sd3_route_with_their_model_field(
    stability_fake: StabilityFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(stability_fake, "sd3.5-large-turbo"))
    generation = await generate(gateway, prompt="a fox", n=2)
    assert stability_fake.last_request.path == "/v2beta/stable-image/generate/sd3"
    assert all(
        form == {"prompt": "a fox", "model": "sd3.5-large-turbo", "mode": "text-to-image"}
        for form in stability_fake.forms
    )
    assert len(stability_fake.forms) == 2  # one image per request
    assert generation.facts.response_cost == Decimal("0.08")


async def test_core_checks_its_style_presets(
    stability_fake: StabilityFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(stability_fake, "stable-image-core"))
    with pytest.raises(InvalidRequestError):
        await generate(gateway, prompt="a fox", provider_params={"style_preset": "nope"})
    await generate(gateway, prompt="a fox", provider_params={"style_preset": "anime"})
    assert stability_fake.forms[-1]["style_preset"] == "anime"


async def test_content_filtered_is_a_content_policy_violation(
    stability_fake: StabilityFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(stability_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="something filtered")


async def test_content_moderation_403_is_a_content_policy_violation(
    stability_fake: StabilityFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(stability_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="something banned")
