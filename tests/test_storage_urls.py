"""response_format=url for every model: the local result store behind the HTTP door.

Through a real server (both doors on loopback): the URL a caller gets serves exactly the
bytes the model made, and a tampered or expired URL is refused with 403.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import embedded_settings, parse_settings
from imagegen.errors import ConfigError
from imagegen.paths import data_dir
from imagegen.providers.local import render_placeholder
from imagegen.storage.local import LocalStore
from imagegen.storage.signing import SECRET_FILE, UrlSigner, load_or_create_secret
from tests.conftest import ServeFactory


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


async def test_grpc_url_serves_the_exact_bytes_and_refuses_a_tampered_copy(
    serve: ServeFactory, http: aiohttp.ClientSession
) -> None:
    served = await serve(embedded_settings())
    request = pb.GenerateImagesRequest(
        prompt="an otter",
        model="placeholder",
        size="64x48",
        n=2,
        response_format=pb.RESPONSE_FORMAT_URL,
    )
    response = await served.stub.GenerateImages(request)
    assert len(response.images) == 2
    for index, image in enumerate(response.images):
        # The image carries the URL and no bytes.
        assert image.WhichOneof("content") == "url"
        assert image.url.startswith(served.http_base_url + "/v1/files/")
        async with http.get(image.url) as got:
            assert got.status == 200
            assert got.headers["Content-Type"] == "image/png"
            body = await got.read()
        assert body == render_placeholder("an otter", 0, index, 64, 48)
    url = response.images[0].url
    signature = parse_qs(urlsplit(url).query)["sig"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    later = str(int(parse_qs(urlsplit(url).query)["expires"][0]) + 3600)
    other_key = url.replace(urlsplit(url).path, "/v1/files/" + "0" * 64 + ".png")
    for bad in (
        _with_query(url, sig=flipped),
        _with_query(url, expires=later),
        _with_query(url, sig=""),
        other_key,
    ):
        async with http.get(bad) as refused:
            assert refused.status == 403
            assert (await refused.json())["error"]["code"] == "URL_INVALID_OR_EXPIRED"


async def test_stream_sends_one_url_per_image_event(
    serve: ServeFactory, http: aiohttp.ClientSession
) -> None:
    served = await serve(embedded_settings())
    request = pb.StreamGenerateImagesRequest(
        prompt="a heron",
        model="placeholder",
        size="32x32",
        n=3,
        response_format=pb.RESPONSE_FORMAT_URL,
    )
    urls = []
    async for message in served.stub.StreamGenerateImages(request):
        kind = message.WhichOneof("event")
        assert kind != "image_chunk"
        if kind == "image":
            assert message.image.WhichOneof("content") == "url"
            urls.append((message.image.index, message.image.url))
    assert sorted(index for index, _ in urls) == [0, 1, 2]
    for index, url in urls:
        async with http.get(url) as got:
            assert await got.read() == render_placeholder("a heron", 0, index, 32, 32)


async def test_http_door_answers_data_url_for_a_b64_only_model(
    serve: ServeFactory, http: aiohttp.ClientSession
) -> None:
    served = await serve(embedded_settings())
    body = {"model": "placeholder", "prompt": "a fox", "size": "16x16", "response_format": "url"}
    async with http.post(f"{served.http_base_url}/v1/images/generations", json=body) as got:
        assert got.status == 200
        answer = await got.json()
    (entry,) = answer["data"]
    assert "b64_json" not in entry
    async with http.get(entry["url"]) as image:
        assert await image.read() == render_placeholder("a fox", 0, 0, 16, 16)


async def test_expired_url_is_refused(serve: ServeFactory, http: aiohttp.ClientSession) -> None:
    served = await serve(embedded_settings())
    store = served.running.gateway.results
    assert isinstance(store, LocalStore)
    stored = await store.put(b"\x89PNG fake", "image/png")
    async with http.get(stored.url) as fresh:
        assert fresh.status == 200
        assert await fresh.read() == b"\x89PNG fake"
    # Signed correctly, but longer ago than a URL lives.
    expired = store.url(stored.key, now=time.time() - store.ttl_seconds - 5)
    async with http.get(expired) as refused:
        assert refused.status == 403


def test_signature_checks_are_exact() -> None:
    signer = UrlSigner(b"k" * 32)
    sig = signer.signature("a.png", 2_000_000_000)
    assert signer.valid("a.png", "2000000000", sig, now=1.0)
    assert not signer.valid("b.png", "2000000000", sig, now=1.0)
    assert not signer.valid("a.png", "2000000001", sig, now=1.0)
    assert not signer.valid("a.png", "2000000000", sig, now=2_000_000_001.0)
    assert not signer.valid("a.png", "-1", sig, now=1.0)
    assert not signer.valid("a.png", "2000000000", "é" * 64, now=1.0)


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first
    assert len(first) >= 32
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o077 == 0


async def test_store_is_content_addressed_under_the_data_dir(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    store = served.running.gateway.results
    assert isinstance(store, LocalStore)
    one = await store.put(b"same", "image/png")
    two = await store.put(b"same", "image/png")
    assert one.key == two.key == f"{hashlib.sha256(b'same').hexdigest()}.png"
    assert store.directory == data_dir() / "results"


def test_unknown_backends_are_refused_loudly() -> None:
    with pytest.raises(ConfigError, match=r"storage_settings\.type"):
        parse_settings("storage_settings:\n  type: ftp\n")


def test_local_store_needs_a_door_or_a_base_url() -> None:
    with pytest.raises(ConfigError, match="served by the HTTP door"):
        parse_settings("server_settings:\n  http_port: null\nstorage_settings:\n  type: local\n")
    settings = parse_settings(
        "server_settings:\n  http_port: null\nstorage_settings:\n"
        "  public_base_url: https://img.example\n"
    )
    assert settings.storage is not None


async def test_files_go_once_every_url_for_them_has_expired(tmp_path: Path) -> None:
    # No background sweep: this test sweeps by hand, at a known moment.
    store = LocalStore(
        tmp_path, UrlSigner(b"s" * 32), ttl_seconds=600, base_url="http://x", sweep_every=None
    )
    old = await store.put(b"old image", "image/png")
    kept = await store.put(b"kept image", "image/png")
    long_ago = time.time() - 3600
    for stored in (old, kept):
        path = tmp_path / stored.key[:2] / stored.key
        os.utime(path, (long_ago, long_ago))
    # Handed out again: the file must live as long as the new URL.
    again = await store.put(b"kept image", "image/png")
    assert again.key == kept.key
    assert store.sweep() == 1
    assert not (tmp_path / old.key[:2] / old.key).exists()
    assert store.open(kept.key, *_signed(again.url)) is not None
    await store.aclose()


def _signed(url: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(url).query)
    return query["expires"][0], query["sig"][0]


async def test_the_same_image_stored_concurrently_is_one_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, UrlSigner(b"s" * 32), ttl_seconds=600, base_url="http://x")
    stored = await asyncio.gather(*(store.put(b"same bytes", "image/png") for _ in range(20)))
    assert {s.key for s in stored} == {stored[0].key}
    assert _names(tmp_path, "??/*") == [stored[0].key]
    assert _names(tmp_path, "??/.*") == []  # no temporary file left behind
    await store.aclose()


def _names(directory: Path, pattern: str) -> list[str]:
    return [path.name for path in directory.glob(pattern)]


async def test_a_put_sweeps_in_the_background(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, UrlSigner(b"s" * 32), ttl_seconds=600, base_url="http://x")
    stale = await store.put(b"stale", "image/png")
    await store.aclose()  # waits for the sweep that first put started (nothing to remove)
    path = tmp_path / stale.key[:2] / stale.key
    long_ago = time.time() - 3600
    os.utime(path, (long_ago, long_ago))
    fresh = LocalStore(tmp_path, UrlSigner(b"s" * 32), ttl_seconds=600, base_url="http://x")
    await fresh.put(b"fresh", "image/png")
    await fresh.aclose()
    assert _names(tmp_path, "??/*") == [fresh_key(b"fresh")]


def fresh_key(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.png"
