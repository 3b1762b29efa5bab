"""The fal adapter (queue API) and the polling engine's cancellation, against the fal fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from imagegen.errors import (
    ContentPolicyViolationError,
    DeadlineExceededError,
    ProviderBadResponseError,
    ProviderUnavailableError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.providers.progress import JobProgress, progress_sink
from imagegen.types import ImageRequest
from tests.conftest import GatewayFactory
from tests.fakes.fal import FalFake

KEY = "fal-test-key"
DEV = "fal-ai/flux/dev"
ULTRA = "fal-ai/flux-pro/v1.1-ultra"


@pytest.fixture
async def fal_fake() -> AsyncIterator[FalFake]:
    async with FalFake(api_key=KEY) as fake:
        yield fake


def config(fake: FalFake, app: str = DEV, **params: Any) -> str:
    litellm_params = {
        "model": f"fal_ai/{app}",
        "api_base": fake.base_url,
        "api_key": KEY,
        "poll_interval": 0.02,
        **params,
    }
    return yaml.safe_dump(
        {"model_list": [{"model_name": "flux", "litellm_params": litellm_params}]}
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(model="flux", **fields))


async def test_queue_positions_and_progress_are_reported_then_the_images_fetched(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    fal_fake.queue_polls, fal_fake.progress_polls = 3, 2
    gateway = gateway_for(config(fal_fake))
    seen: list[JobProgress] = []
    with progress_sink(seen.append):
        generation = await generate(gateway, prompt="a fox", n=2, size="1024x768")
    assert [(p.status, p.queue_position) for p in seen] == [
        ("in_queue", 2),
        ("in_queue", 1),
        ("in_queue", 0),
        ("in_progress", None),
    ]
    submit = fal_fake.requests[0]
    assert submit.method == "POST" and submit.path == f"/{DEV}"
    assert submit.headers["authorization"] == f"Key {KEY}"
    assert submit.json == {
        "prompt": "a fox",
        "num_images": 2,
        "image_size": {"width": 1024, "height": 768},
    }
    # Status and result routes hang off the app's owner/name.
    assert all(r.path.startswith("/fal-ai/flux/requests/") for r in fal_fake.requests[1:])
    images = generation.result.images
    assert len(images) == 2 and all(i.data()[:4] == b"\x89PNG" for i in images)
    assert all("authorization" not in r.headers for r in fal_fake.aux_requests)
    assert fal_fake.cancelled == []


async def test_flagged_images_are_dropped_and_counted_as_filtered(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(fal_fake))
    generation = await generate(gateway, prompt="a halfnsfw scene", n=2)
    assert len(generation.result.images) == 1
    assert generation.result.filtered == 1


async def test_every_image_flagged_is_a_content_policy_violation(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(fal_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="an nsfw scene", n=2)
    assert fal_fake.cancelled == []


async def test_a_run_that_fails_is_reported_and_not_cancelled(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(fal_fake))
    with pytest.raises(ProviderUnavailableError) as info:
        await generate(gateway, prompt="a crash")
    assert info.value.metadata["job_state"] == "failed"
    await asyncio.sleep(0.05)
    assert fal_fake.cancelled == []


async def test_the_caller_cancelling_cancels_the_job_upstream(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    fal_fake.queue_polls = 10_000
    gateway = gateway_for(config(fal_fake))
    task = asyncio.ensure_future(generate(gateway, prompt="a fox"))
    while len(fal_fake.requests) < 3:  # submitted and polled twice
        fal_fake.received.clear()
        await asyncio.wait_for(fal_fake.received.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(fal_fake.cancel_seen.wait(), 5)
    (job_id,) = fal_fake.jobs
    assert fal_fake.cancelled == [job_id]
    cancel = fal_fake.last_request
    assert cancel.method == "PUT" and cancel.path.endswith(f"/requests/{job_id}/cancel")
    assert cancel.headers["authorization"] == f"Key {KEY}"


async def test_the_deadline_passing_cancels_the_job_upstream(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    fal_fake.queue_polls = 10_000
    gateway = gateway_for(config(fal_fake))
    with pytest.raises(DeadlineExceededError):
        await generate(gateway, prompt="a fox", timeout=0.3)
    await asyncio.wait_for(fal_fake.cancel_seen.wait(), 5)
    assert len(fal_fake.cancelled) == 1


async def test_an_image_url_on_a_foreign_host_is_not_fetched(
    gateway_for: GatewayFactory,
) -> None:
    async with FalFake(api_key=KEY) as api, FalFake(api_key=KEY) as elsewhere:
        api.file_base = elsewhere.base_url
        gateway = gateway_for(config(api))
        with pytest.raises(ProviderBadResponseError):
            await generate(gateway, prompt="a fox")
        assert elsewhere.aux_requests == [] and elsewhere.requests == []


async def test_ultra_takes_an_aspect_ratio_and_is_priced_per_image(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(fal_fake, ULTRA))
    generation = await generate(gateway, prompt="a fox", size="1024x1024", n=3)
    assert fal_fake.requests[0].json == {"prompt": "a fox", "num_images": 3, "aspect_ratio": "1:1"}
    assert generation.facts.response_cost == Decimal("0.18")


async def test_an_unlisted_app_is_served_with_its_params_unchecked_and_an_unknown_cost(
    fal_fake: FalFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(fal_fake, "fal-ai/some-new-model"))
    generation = await generate(gateway, prompt="a fox", provider_params={"loras": "x"})
    assert fal_fake.requests[0].json == {"prompt": "a fox", "num_images": 1, "loras": "x"}
    assert generation.facts.response_cost is None
