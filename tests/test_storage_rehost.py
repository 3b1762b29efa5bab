"""Re-hosting provider URLs (opt-in): DALL·E's links to its own storage become the gateway's,
fetched from known hosts only, size-limited, through a real server and the OpenAI fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.storage.rehost import Rehoster, RehostError
from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake


@pytest.fixture
async def hosting_fake() -> AsyncIterator[OpenAIFake]:
    # self_hosted_urls: the fake's DALL·E URLs point at itself, so they can be downloaded.
    async with OpenAIFake(self_hosted_urls=True) as fake:
        yield fake


def dalle_config(fake: OpenAIFake, **storage: Any) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "dall-e-3",
                    "litellm_params": {
                        "model": "openai/dall-e-3",
                        "api_key": fake.api_key,
                        "api_base": f"{fake.base_url}/v1",
                    },
                }
            ],
            "storage_settings": storage,
        }
    )


async def test_provider_urls_are_rehosted_with_the_exact_bytes(
    serve: ServeFactory, hosting_fake: OpenAIFake
) -> None:
    served = await serve(
        dalle_config(hosting_fake, rehost_provider_urls=True, rehost_hosts=["127.0.0.1"])
    )
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt="a harbour", model="dall-e-3", response_format=pb.RESPONSE_FORMAT_URL
        )
    )
    (image,) = response.images
    assert image.url.startswith(served.http_base_url + "/v1/files/")
    originals = {blob.data for blob in hosting_fake.blobs.blobs.values()}
    async with aiohttp.ClientSession() as http, http.get(image.url) as got:
        assert got.status == 200
        assert await got.read() in originals


async def test_off_by_default_and_unknown_hosts_are_never_fetched(
    serve: ServeFactory, hosting_fake: OpenAIFake
) -> None:
    for storage in ({}, {"rehost_provider_urls": True}):
        served = await serve(dalle_config(hosting_fake, **storage))
        response = await served.stub.GenerateImages(
            pb.GenerateImagesRequest(
                prompt="a harbour", model="dall-e-3", response_format=pb.RESPONSE_FORMAT_URL
            )
        )
        # The provider's own link, untouched: 127.0.0.1 is not a provider host unless listed.
        assert response.images[0].url.startswith(hosting_fake.base_url)


async def test_rehoster_refuses_hosts_sizes_and_failures(hosting_fake: OpenAIFake) -> None:
    small = Rehoster(["127.0.0.1"], max_bytes=10)
    try:
        assert small.allowed("https://oaidalleapiprodscus.blob.core.windows.net/x.png")
        assert small.allowed("https://delivery-eu1.bfl.ai/x.png")
        assert not small.allowed("https://evilbfl.ai/x.png")
        assert not small.allowed("file:///etc/passwd")
        assert not small.allowed("https://169.254.169.254/latest/meta-data")
        with pytest.raises(RehostError, match="not a known provider host"):
            await small.fetch("https://example.com/x.png")
        with pytest.raises(RehostError, match="answered 404"):
            await small.fetch(f"{hosting_fake.base_url}/private/org/none.png")
        big = hosting_fake.blobs.publish(
            "/private/org/big.png", b"x" * 100, "image/png", hosting_fake.base_url
        )
        with pytest.raises(RehostError, match="size limit"):
            await small.fetch(big)
    finally:
        await small.aclose()
