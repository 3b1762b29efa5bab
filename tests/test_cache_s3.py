"""The image cache with `cache_params.type: s3` against a real S3 server (moto_server): a seeded
request paid once and answered again with the same bytes (by another replica too), expiry kept
in object metadata and checked on read, nothing readable in the bucket, LiteLLM's s3 keys
honoured and unknown ones refused at start."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import botocore.session
import pytest

from imagegen.cache.backends import S3Backend
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from tests.conftest import ServeFactory
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_endpoint  # noqa: F401
from tests.test_cache import cache_config, generate, image_bytes


def _client(endpoint: str) -> Any:
    return botocore.session.get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> str:  # noqa: F811
    name = f"cache-{uuid.uuid4().hex[:12]}"
    client = _client(s3_endpoint)
    client.create_bucket(Bucket=name)
    client.close()
    return name


def s3_params(endpoint: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "s3",
        "s3_bucket_name": bucket,
        "s3_region_name": "us-east-1",
        "s3_endpoint_url": endpoint,
        "s3_aws_access_key_id": ACCESS_KEY,
        "s3_aws_secret_access_key": SECRET_KEY,
        "s3_path": "imagegen-cache",
        **extra,
    }


def _objects(endpoint: str, bucket: str) -> list[tuple[str, bytes, dict[str, str]]]:
    client = _client(endpoint)
    try:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        found = []
        for item in listed:
            got = client.get_object(Bucket=bucket, Key=item["Key"])
            found.append((item["Key"], got["Body"].read(), got["Metadata"]))
        return found
    finally:
        client.close()


async def test_two_identical_seeded_requests_cost_one_provider_call_and_hold_nothing_in_clear(
    serve: ServeFactory,
    s3_endpoint: str,  # noqa: F811
    bucket: str,
) -> None:
    config = cache_config(s3_params(s3_endpoint, bucket, namespace="s3t"))
    one = await serve(config)
    prompt = "a very private prompt about a walrus"
    first, miss = await generate(one, prompt=prompt, seed=11, n=2)
    second, hit = await generate(one, prompt=prompt, seed=11, n=2)
    assert (miss["x-imagegen-cache"], miss["x-imagegen-attempts"]) == ("miss", "1")
    assert (hit["x-imagegen-cache"], hit["x-imagegen-attempts"]) == ("hit", "0")
    assert hit["x-imagegen-response-cost"] == "0"
    assert second.cost.cache == "hit"
    assert image_bytes(second) == image_bytes(first)

    # Another replica on the same bucket and namespace reads the entry.
    two = await serve(config)
    third, again = await generate(two, prompt=prompt, seed=11, n=2)
    assert (again["x-imagegen-cache"], again["x-imagegen-attempts"]) == ("hit", "0")
    assert image_bytes(third) == image_bytes(first)

    objects = _objects(s3_endpoint, bucket)
    assert len(objects) == 1
    key, value, metadata = objects[0]
    assert key.startswith("imagegen-cache/")
    assert b"walrus" not in value and "walrus" not in key
    for image in first.images:
        assert image.data[:64] not in value  # the image is sealed too
    assert float(metadata["expires"]) > 0


async def test_an_expired_entry_is_a_miss(
    serve: ServeFactory,
    s3_endpoint: str,  # noqa: F811
    bucket: str,
) -> None:
    served = await serve(cache_config(s3_params(s3_endpoint, bucket, ttl=1)))
    _, miss = await generate(served, prompt="a glacier", seed=9)
    _, hit = await generate(served, prompt="a glacier", seed=9)
    assert (miss["x-imagegen-cache"], hit["x-imagegen-cache"]) == ("miss", "hit")
    await asyncio.sleep(1.2)  # S3 keeps the object: the metadata's expiry makes it a miss
    _, expired = await generate(served, prompt="a glacier", seed=9)
    assert (expired["x-imagegen-cache"], expired["x-imagegen-attempts"]) == ("miss", "1")


async def test_backend_expiry_is_checked_on_read_and_flight_is_per_replica(
    s3_endpoint: str,  # noqa: F811
    bucket: str,
) -> None:
    backend = S3Backend(
        bucket=bucket,
        path="/p/",
        endpoint_url=s3_endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    try:
        assert backend.shared is False  # single flight is per replica with s3
        assert await backend.get("imagegen:cache:absent") is None
        await backend.set("imagegen:cache:k1", b"sealed", ttl=60)
        assert await backend.get("imagegen:cache:k1") == b"sealed"
        await backend.set("imagegen:cache:k2", b"stale", ttl=0.05)
        await asyncio.sleep(0.1)
        assert await backend.get("imagegen:cache:k2") is None
        assert [key for key, _, _ in _objects(s3_endpoint, bucket)] == ["p/imagegen/cache/k1"]
    finally:
        await backend.aclose()


def test_s3_cache_keys_are_honoured_or_refused() -> None:
    head = "litellm_settings:\n  cache: true\n  cache_params:\n    type: s3\n"
    settings = parse_settings(
        head + "    s3_bucket_name: b\n    s3_region_name: eu-west-1\n    s3_use_ssl: false\n"
        "    s3_verify: false\n    s3_api_version: '2006-03-01'\n    s3_path: x/y\n"
        "    s3_aws_session_token: t\n"
    )
    assert settings.cache is not None
    params = settings.cache.params
    assert (params.s3_bucket_name, params.s3_region_name) == ("b", "eu-west-1")
    assert params.s3_path == "x/y"
    assert (params.s3_use_ssl, params.s3_verify) == (False, False)
    for body, message in (
        ("", "type s3 needs s3_bucket_name"),
        ("    s3_bucket_name: b\n    s3_bucket: c\n", "cache_params.s3_bucket: not a cache"),
        ("    s3_bucket_name: b\n    s3_storage_class: X\n", "s3_storage_class: not a cache"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_settings(head + body)
    with pytest.raises(ConfigError, match="s3_bucket_name: only with type s3"):
        parse_settings("litellm_settings:\n  cache: true\n  cache_params:\n    s3_bucket_name: b\n")
