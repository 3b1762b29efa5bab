"""The Replicate adapter against the Replicate fake: `Prefer: wait`, polling, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from imagegen.errors import ContentPolicyViolationError, ProviderUnavailableError
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.providers.progress import JobProgress, progress_sink
from imagegen.types import ImageRequest
from tests.conftest import GatewayFactory
from tests.fakes.replicate import ReplicateFake

KEY = "r8_test"
SCHNELL = "black-forest-labs/flux-schnell"


@pytest.fixture
async def replicate_fake() -> AsyncIterator[ReplicateFake]:
    async with ReplicateFake(api_key=KEY) as fake:
        yield fake


def config(fake: ReplicateFake, model: str = SCHNELL, **params: Any) -> str:
    litellm_params = {
        "model": f"replicate/{model}",
        "api_base": f"{fake.base_url}/v1",
        "api_key": KEY,
        "poll_interval": 0.02,
        **params,
    }
    return yaml.safe_dump(
        {"model_list": [{"model_name": "flux", "litellm_params": litellm_params}]}
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(model="flux", **fields))


async def test_a_quick_prediction_is_served_from_the_waiting_submit_alone(
    replicate_fake: ReplicateFake, gateway_for: GatewayFactory
) -> None:
    replicate_fake.run_polls = 0
    gateway = gateway_for(config(replicate_fake))
    generation = await generate(gateway, prompt="a fox", size="1024x576")
    (submit,) = replicate_fake.requests  # no poll at all
    assert submit.path == f"/v1/models/{SCHNELL}/predictions"
    assert submit.headers["authorization"] == f"Bearer {KEY}"
    assert submit.headers["prefer"] == "wait=5"
    assert submit.json == {"input": {"prompt": "a fox", "aspect_ratio": "16:9"}}
    (image,) = generation.result.images
    assert image.mime_type == "image/webp"
    assert generation.facts.response_cost == Decimal("0.003")


async def test_a_slow_prediction_is_polled_with_its_percentage_reported(
    replicate_fake: ReplicateFake, gateway_for: GatewayFactory
) -> None:
    replicate_fake.run_polls = 3
    gateway = gateway_for(config(replicate_fake))
    seen: list[JobProgress] = []
    with progress_sink(seen.append):
        generation = await generate(gateway, prompt="a fox", n=2)
    assert len(generation.result.images) == 2
    statuses = [p.status for p in seen]
    assert statuses[0] == "starting" and "processing" in statuses
    assert any(p.percent is not None and 0 < p.percent < 100 for p in seen)
    assert generation.facts.response_cost == Decimal("0.006")


async def test_a_pinned_version_goes_to_the_predictions_route(
    replicate_fake: ReplicateFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(replicate_fake, "someone/some-model:abc123"))
    generation = await generate(gateway, prompt="a fox", provider_params={"lora_scale": 0.8})
    submit = replicate_fake.requests[0]
    assert submit.path == "/v1/predictions"
    assert submit.json == {"version": "abc123", "input": {"prompt": "a fox", "lora_scale": 0.8}}
    assert generation.facts.response_cost is None  # billed by run time: unknown


async def test_an_nsfw_failure_is_a_content_policy_violation(
    replicate_fake: ReplicateFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(replicate_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="an nsfw scene")


async def test_a_failed_prediction_is_provider_unavailable_without_its_log(
    replicate_fake: ReplicateFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(replicate_fake))
    with pytest.raises(ProviderUnavailableError) as info:
        await generate(gateway, prompt="an oom scene")
    assert "CUDA" not in info.value.message
    assert replicate_fake.cancelled == []


async def test_the_caller_cancelling_cancels_the_prediction(
    replicate_fake: ReplicateFake, gateway_for: GatewayFactory
) -> None:
    replicate_fake.run_polls = 10_000
    gateway = gateway_for(config(replicate_fake))
    task = asyncio.ensure_future(generate(gateway, prompt="a fox"))
    while len(replicate_fake.requests) < 3:
        replicate_fake.received.clear()
        await asyncio.wait_for(replicate_fake.received.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(replicate_fake.cancel_seen.wait(), 5)
    (prediction_id,) = replicate_fake.predictions
    assert replicate_fake.cancelled == [prediction_id]
    assert replicate_fake.last_request.path == f"/v1/predictions/{prediction_id}/cancel"
