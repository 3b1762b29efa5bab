"""The Black Forest Labs adapter and the polling engine, against the BFL fake.

BFL (docs.bfl.ai): `x-key`, submit to `/v1/{model}`, poll `polling_url` until `Ready`, fetch
`result.sample` from a delivery host; moderation and failure come back as poll statuses.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from imagegen.errors import (
    ContentPolicyViolationError,
    DeadlineExceededError,
    ImageGenError,
    InvalidRequestError,
    ProviderBadResponseError,
    ProviderUnavailableError,
    UnsupportedParameterError,
)
from imagegen.events import Generation, Progress
from imagegen.gateway import Gateway
from imagegen.providers.progress import JobProgress, progress_sink
from imagegen.types import ImageRequest
from tests.conftest import GatewayFactory
from tests.fakes.bfl import BflFake

KEY = "bfl-test-key"
POLL = 0.02


@pytest.fixture
async def bfl_fake() -> AsyncIterator[BflFake]:
    async with BflFake(api_key=KEY) as fake:
        yield fake


def config(fake: BflFake, model: str = "flux-pro-1.1", **params: Any) -> str:
    litellm_params = {
        "model": f"black_forest_labs/{model}",
        "api_base": fake.base_url,
        "api_key": KEY,
        "poll_interval": POLL,
        **params,
    }
    return yaml.safe_dump({"model_list": [{"model_name": model, "litellm_params": litellm_params}]})


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    fields.setdefault("model", "flux-pro-1.1")
    return await gateway.generate(ImageRequest.create(**fields))


async def test_a_job_pending_for_several_polls_yields_the_fetched_image_and_its_price(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    bfl_fake.pending_polls = 3
    gateway = gateway_for(config(bfl_fake))
    seen: list[JobProgress] = []
    with progress_sink(seen.append):
        generation = await generate(gateway, prompt="a lighthouse", size="1024x768")
    (image,) = generation.result.images
    assert image.data()[:3] == b"\xff\xd8\xff"  # the delivery file's JPEG bytes, not a URL
    assert (image.width, image.height) == (1024, 768)
    submit, *polls = bfl_fake.requests
    assert submit.path == "/v1/flux-pro-1.1"
    assert submit.headers["x-key"] == KEY
    assert submit.json == {"prompt": "a lighthouse", "width": 1024, "height": 768}
    assert len(polls) == 4 and all(p.path == "/v1/get_result" for p in polls)
    assert all(p.headers["x-key"] == KEY for p in polls)
    # The delivery file is fetched without the key.
    (delivery,) = bfl_fake.aux_requests
    assert "x-key" not in delivery.headers
    # Each pending poll reported something new: the status with a rising percentage.
    assert [p.status for p in seen] == ["pending"] * 3
    percents = [p.percent or 0.0 for p in seen]
    assert percents == sorted(percents) and percents[0] > 0
    assert generation.facts.response_cost == Decimal("0.04")


async def test_n_fans_out_one_job_per_image(bfl_fake: BflFake, gateway_for: GatewayFactory) -> None:
    gateway = gateway_for(config(bfl_fake))
    generation = await generate(gateway, prompt="two boats", n=2)
    assert len(generation.result.images) == 2
    assert len(bfl_fake.jobs) == 2
    assert generation.facts.response_cost == Decimal("0.08")


async def test_ultra_is_sized_by_aspect_ratio_and_takes_raw(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(bfl_fake, "flux-pro-1.1-ultra"))
    generation = await generate(
        gateway,
        model="flux-pro-1.1-ultra",
        prompt="a canyon",
        size="1920x1080",
        provider_params={"raw": True, "seed": 7},
    )
    assert bfl_fake.requests[0].json == {
        "prompt": "a canyon",
        "aspect_ratio": "16:9",
        "raw": True,
        "seed": 7,
    }
    assert generation.facts.response_cost == Decimal("0.06")


async def test_request_moderated_is_a_content_policy_violation(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(bfl_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="something moderated")


async def test_content_moderated_after_pending_polls_is_a_content_policy_violation(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    bfl_fake.pending_polls = 2
    gateway = gateway_for(config(bfl_fake))
    with pytest.raises(ContentPolicyViolationError):
        await generate(gateway, prompt="something explicit")
    assert len(bfl_fake.requests) == 4  # submit, two pending polls, the moderated one


async def test_a_failed_job_is_provider_unavailable_and_not_retried_forever(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(bfl_fake))
    with pytest.raises(ProviderUnavailableError) as info:
        await generate(gateway, prompt="a broken job")
    assert info.value.metadata["job_state"] == "failed"


async def test_validation_errors_are_invalid_requests_before_any_call(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(bfl_fake))
    with pytest.raises(InvalidRequestError):
        await generate(gateway, prompt="odd", size="1000x1000")  # not multiples of 32
    with pytest.raises(UnsupportedParameterError):
        await generate(gateway, prompt="odd", provider_params={"raw": True})
    assert bfl_fake.requests == []


async def test_the_deadline_stops_polling_before_a_poll_that_cannot_finish(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    bfl_fake.pending_polls = 1000
    gateway = gateway_for(config(bfl_fake, poll_interval=0.1))
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        await generate(gateway, prompt="slow", timeout=0.55)
    elapsed = time.monotonic() - started
    # It gave up at the deadline, not a poll interval after it.
    assert elapsed < 0.55 + 0.05
    polls = len(bfl_fake.requests) - 1
    assert 3 <= polls <= 6


async def test_a_polling_url_on_a_foreign_host_is_not_followed(
    gateway_for: GatewayFactory,
) -> None:
    async with BflFake(api_key=KEY) as api, BflFake(api_key=KEY) as elsewhere:
        api.polling_base = elsewhere.base_url  # same address, another port: another origin
        gateway = gateway_for(config(api))
        with pytest.raises(ProviderBadResponseError) as info:
            await generate(gateway, prompt="a lighthouse")
        assert elsewhere.requests == []
        assert elsewhere.base_url not in info.value.message


async def test_a_sample_on_a_foreign_host_is_not_fetched(gateway_for: GatewayFactory) -> None:
    async with BflFake(api_key=KEY) as api, BflFake(api_key=KEY) as elsewhere:
        api.delivery_base = elsewhere.base_url
        gateway = gateway_for(config(api))
        with pytest.raises(ProviderBadResponseError):
            await generate(gateway, prompt="a lighthouse")
        assert elsewhere.aux_requests == [] and elsewhere.requests == []


async def test_a_wrong_key_is_an_authentication_error_naming_no_key(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(bfl_fake, api_key="wrong-key"))
    with pytest.raises(ImageGenError) as info:
        await generate(gateway, prompt="a lighthouse")
    assert info.value.code.name in ("PERMISSION_DENIED", "FAILED_PRECONDITION")
    assert "wrong-key" not in str(info.value)


async def test_streaming_shows_job_progress_before_the_image(
    bfl_fake: BflFake, gateway_for: GatewayFactory
) -> None:
    bfl_fake.pending_polls = 3
    gateway = gateway_for(config(bfl_fake))
    kinds: list[str] = []
    async for event in gateway.stream(
        ImageRequest.create(model="flux-pro-1.1", prompt="a lighthouse"), keepalive_seconds=30
    ):
        if isinstance(event, Progress):
            assert event.job is not None  # not a keep-alive: the interval is 30 s
            kinds.append(f"progress:{event.job.status}")
        else:
            kinds.append(type(event).__name__)
    assert kinds == [
        "Accepted",
        "progress:pending",
        "progress:pending",
        "progress:pending",
        "ImageReady",
        "Generation",
    ]
