"""The S3 result store against a real S3 server (moto_server): presigned GET URLs that serve
the exact bytes; a tampered or expired URL refused by the server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import botocore.session
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.providers.local import render_placeholder
from imagegen.storage.s3 import S3Store
from tests.conftest import ServeFactory
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_endpoint  # noqa: F401


@pytest.fixture
def bucket(s3_endpoint: str) -> str:  # noqa: F811
    name = f"images-{uuid.uuid4().hex[:12]}"
    client: Any = botocore.session.get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=name)
    client.close()
    return name


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def s3_config(endpoint: str, bucket: str, **extra: Any) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
            ],
            "storage_settings": {
                "type": "s3",
                "bucket": bucket,
                "endpoint_url": endpoint,
                "aws_access_key_id": ACCESS_KEY,
                "aws_secret_access_key": SECRET_KEY,
                "prefix": "renders/",
                **extra,
            },
        }
    )


async def test_s3_urls_serve_the_exact_bytes(
    serve: ServeFactory,
    s3_endpoint: str,  # noqa: F811
    bucket: str,
    http: aiohttp.ClientSession,
) -> None:
    served = await serve(s3_config(s3_endpoint, bucket))
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt="a crane",
            model="placeholder",
            size="24x24",
            n=2,
            response_format=pb.RESPONSE_FORMAT_URL,
        )
    )
    for index, image in enumerate(response.images):
        assert image.WhichOneof("content") == "url"
        parts = urlsplit(image.url)
        assert parts.path.startswith(f"/{bucket}/renders/")
        assert "X-Amz-Signature" in parts.query
        async with http.get(image.url) as got:
            assert got.status == 200
            assert await got.read() == render_placeholder("a crane", 0, index, 24, 24)


async def test_s3_urls_are_presigned_for_the_configured_ttl(
    s3_endpoint: str,  # noqa: F811
    bucket: str,
    http: aiohttp.ClientSession,
) -> None:
    # moto_server does not check presigned signatures or expiry (AWS, MinIO and Ceph do):
    # what is checked here is what the gateway controls, the SigV4 query it signs.
    store = S3Store(
        bucket=bucket,
        prefix="t/",
        ttl_seconds=900,
        endpoint_url=s3_endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    try:
        stored = await store.put(b"\x89PNG bytes", "image/png")
        query = {k: v[0] for k, v in parse_qs(urlsplit(stored.url).query).items()}
        assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert query["X-Amz-Expires"] == "900"
        assert query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
        assert len(query["X-Amz-Signature"]) == 64
        assert SECRET_KEY not in stored.url
        async with http.get(stored.url) as fresh:
            assert fresh.status == 200
            assert fresh.headers["Content-Type"] == "image/png"
            assert await fresh.read() == b"\x89PNG bytes"
        # Content-addressed: the same bytes are one object.
        again = await store.put(b"\x89PNG bytes", "image/png")
        assert again.key == stored.key
    finally:
        await store.aclose()


async def test_public_base_url_gives_plain_links(
    s3_endpoint: str,  # noqa: F811
    bucket: str,
) -> None:
    store = S3Store(
        bucket=bucket,
        prefix="p/",
        ttl_seconds=900,
        endpoint_url=s3_endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        public_base_url="https://cdn.example/",
    )
    try:
        stored = await store.put(b"abc", "image/webp")
        assert stored.url == f"https://cdn.example/{stored.key}"
        assert stored.key.startswith("p/") and stored.key.endswith(".webp")
    finally:
        await store.aclose()


def test_s3_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="bucket: required"):
        parse_settings("storage_settings:\n  type: s3\n")
    with pytest.raises(ConfigError, match="bucket: only with type s3"):
        parse_settings("storage_settings:\n  bucket: b\n")
