"""The Azure Blob result store against Azurite: SAS URLs that serve the exact bytes, and
that the storage service refuses once tampered with or expired."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.providers.local import render_placeholder
from imagegen.storage.azure import AzureBlobStore
from tests.azurite import ACCOUNT, ACCOUNT_KEY, azurite_url  # noqa: F401
from tests.conftest import ServeFactory


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def _tampered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


async def test_azure_urls_serve_the_exact_bytes(
    serve: ServeFactory,
    azurite_url: str,  # noqa: F811
    http: aiohttp.ClientSession,
) -> None:
    config = yaml.safe_dump(
        {
            "model_list": [
                {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
            ],
            "storage_settings": {
                "type": "azure",
                "container": f"c{uuid.uuid4().hex[:12]}",
                "azure_account_url": azurite_url,
                "azure_account_name": ACCOUNT,
                "azure_account_key": ACCOUNT_KEY,
            },
        }
    )
    served = await serve(config)
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt="a pier",
            model="placeholder",
            size="20x20",
            n=2,
            response_format=pb.RESPONSE_FORMAT_URL,
        )
    )
    for index, image in enumerate(response.images):
        assert image.url.startswith(azurite_url + "/")
        assert "sig=" in image.url and "sp=r" in image.url
        async with http.get(image.url) as got:
            assert got.status == 200
            assert got.headers["Content-Type"] == "image/png"
            assert await got.read() == render_placeholder("a pier", 0, index, 20, 20)


async def test_azure_refuses_tampered_and_expired_sas(
    azurite_url: str,  # noqa: F811
    http: aiohttp.ClientSession,
) -> None:
    store = AzureBlobStore(
        account_url=azurite_url,
        account_name=ACCOUNT,
        account_key=ACCOUNT_KEY,
        container=f"c{uuid.uuid4().hex[:12]}",
        prefix="t/",
        ttl_seconds=600,
    )
    try:
        stored = await store.put(b"\x89PNG azure", "image/png")
        async with http.get(stored.url) as fresh:
            assert fresh.status == 200
            assert await fresh.read() == b"\x89PNG azure"
        signature = parse_qs(urlsplit(stored.url).query)["sig"][0]
        forged = ("A" if signature[0] != "A" else "B") + signature[1:]
        later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        expired = store.url(stored.key, now=datetime.now(UTC) - timedelta(hours=2))
        for bad in (_tampered(stored.url, sig=forged), _tampered(stored.url, se=later), expired):
            async with http.get(bad) as refused:
                assert refused.status == 403
    finally:
        await store.aclose()


def test_azure_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="container: required with type azure"):
        parse_settings("storage_settings:\n  type: azure\n")
    with pytest.raises(ConfigError, match="container: only with type azure"):
        parse_settings("storage_settings:\n  container: c\n")
    with pytest.raises(ConfigError, match="azure_account_key: only with type azure"):
        parse_settings("storage_settings:\n  type: gcs\n  bucket: b\n  azure_account_key: k\n")
