"""Metrics of the result store and the image cache, read from an in-memory reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.fakes.openai import OpenAIFake
from tests.telemetry.conftest import ObserveFactory


@pytest.fixture
async def fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as running:
        yield running


async def test_cache_lookups_saved_money_store_writes_and_bytes_served(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    config = yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "gpt-image-1",
                    "litellm_params": {
                        "model": "openai/gpt-image-1",
                        "api_key": fake.api_key,
                        "api_base": f"{fake.base_url}/v1",
                    },
                }
            ],
            "litellm_settings": {"cache": True},
        }
    )
    observed = await observe(config)
    fake.delay = 0.3
    request = pb.GenerateImagesRequest(
        prompt="an otter",
        model="gpt-image-1",
        response_format=pb.RESPONSE_FORMAT_URL,
        cache=pb.CacheControl(use_cache=True),
    )
    # One leader and two coalesced waiters, then one plain hit.
    first = await asyncio.gather(*(observed.stub.GenerateImages(request) for _ in range(3)))
    last = await observed.stub.GenerateImages(request)
    paid = max(Decimal(r.cost.response_cost) for r in first)
    assert paid > 0

    lookups = {
        dict(p.attributes)["result"]: p.value for p in observed.points("imagegen.cache.lookups")
    }
    assert lookups == {"miss": 1, "coalesced": 2, "hit": 1}
    saved = observed.point("imagegen.cache.saved", model="gpt-image-1", provider="openai")
    assert Decimal(str(saved.value)) == paid * 3

    # Every answer was a URL: four writes of the same content-addressed bytes.
    assert observed.point("imagegen.store.writes").value == 4
    written = observed.point("imagegen.store.bytes_written").value
    async with aiohttp.ClientSession() as http, http.get(last.images[0].url) as got:
        body = await got.read()
    assert written == 4 * len(body)
    assert observed.point("imagegen.store.bytes_served").value == len(body)
