"""The GCS result store against a real GCS server (gcp-storage-emulator): V4 signed GET URLs
that serve the exact bytes, signed with the service account's key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.providers.local import render_placeholder
from imagegen.storage.gcs import GcsStore, load_credentials
from tests.conftest import ServeFactory
from tests.gcs_server import (  # noqa: F401
    SERVICE_ACCOUNT,
    gcs_endpoint,
    service_account_file,
    service_account_key,
)


@pytest.fixture
def bucket(gcs_endpoint: str) -> str:  # noqa: F811
    name = f"images-{uuid.uuid4().hex[:12]}"
    client = storage.Client(
        project="imagegen-test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": gcs_endpoint},
    )
    client.create_bucket(name)
    client.close()
    return name


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def gcs_config(endpoint: str, bucket: str, credentials: Path, **extra: Any) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
            ],
            "storage_settings": {
                "type": "gcs",
                "bucket": bucket,
                "endpoint_url": endpoint,
                "gcs_credentials_file": str(credentials),
                "prefix": "renders/",
                **extra,
            },
        }
    )


def assert_v4_signed(url: str, key: rsa.RSAPrivateKey) -> None:
    """The V4 signature checks out against the service account's public key (the emulator
    does not check signatures or expiry; Cloud Storage does)."""
    parts = urlsplit(url)
    pairs = parts.query.split("&")
    signature = next(p for p in pairs if p.startswith("X-Goog-Signature="))
    query = "&".join(sorted(p for p in pairs if p != signature))
    canonical_request = "\n".join(
        [
            "GET",
            parts.path,
            query,
            f"host:{parts.netloc}\n",
            "host",
            "UNSIGNED-PAYLOAD",
        ]
    )
    fields = {k: v[0] for k, v in parse_qs(parts.query).items()}
    scope = fields["X-Goog-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            fields["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    # Raises InvalidSignature on a mismatch.
    key.public_key().verify(
        bytes.fromhex(signature.split("=", 1)[1]),
        string_to_sign.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


async def test_gcs_urls_serve_the_exact_bytes(
    serve: ServeFactory,
    gcs_endpoint: str,  # noqa: F811
    bucket: str,
    service_account_file: Path,  # noqa: F811
    service_account_key: rsa.RSAPrivateKey,  # noqa: F811
    http: aiohttp.ClientSession,
) -> None:
    served = await serve(gcs_config(gcs_endpoint, bucket, service_account_file))
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt="a crane",
            model="placeholder",
            size="24x24",
            n=2,
            response_format=pb.RESPONSE_FORMAT_URL,
        )
    )
    assert len(response.images) == 2
    for index, image in enumerate(response.images):
        assert image.WhichOneof("content") == "url"
        parts = urlsplit(image.url)
        assert parts.path.startswith(f"/{bucket}/renders/")
        assert_v4_signed(image.url, service_account_key)
        async with http.get(image.url) as got:
            assert got.status == 200
            assert await got.read() == render_placeholder("a crane", 0, index, 24, 24)


async def test_gcs_urls_are_v4_signed_for_the_configured_ttl(
    gcs_endpoint: str,  # noqa: F811
    bucket: str,
    service_account_file: Path,  # noqa: F811
    service_account_key: rsa.RSAPrivateKey,  # noqa: F811
    http: aiohttp.ClientSession,
) -> None:
    store = GcsStore(
        bucket=bucket,
        prefix="t/",
        ttl_seconds=900,
        credentials=load_credentials(str(service_account_file)),
        endpoint_url=gcs_endpoint,
    )
    try:
        stored = await store.put(b"\x89PNG bytes", "image/png")
        assert stored.key.startswith("t/") and stored.key.endswith(".png")
        query = {k: v[0] for k, v in parse_qs(urlsplit(stored.url).query).items()}
        assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
        assert query["X-Goog-Expires"] == "900"
        assert query["X-Goog-Credential"].startswith(f"{SERVICE_ACCOUNT}/")
        assert query["X-Goog-SignedHeaders"] == "host"
        assert len(query["X-Goog-Signature"]) == 512  # hex of a 2048-bit RSA signature
        assert_v4_signed(stored.url, service_account_key)
        # A tampered URL no longer matches the key's signature.
        tampered = stored.url.replace("X-Goog-Expires=900", "X-Goog-Expires=604800")
        with pytest.raises(InvalidSignature):
            assert_v4_signed(tampered, service_account_key)
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
    gcs_endpoint: str,  # noqa: F811
    bucket: str,
) -> None:
    # A public bucket needs no signing key: anonymous credentials are accepted.
    store = GcsStore(
        bucket=bucket,
        prefix="p/",
        ttl_seconds=900,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint_url=gcs_endpoint,
        public_base_url="https://cdn.example/",
    )
    try:
        stored = await store.put(b"abc", "image/webp")
        assert stored.url == f"https://cdn.example/{stored.key}"
        assert stored.key.startswith("p/") and stored.key.endswith(".webp")
    finally:
        await store.aclose()


def test_credentials_that_cannot_sign_are_refused() -> None:
    with pytest.raises(ConfigError, match="cannot sign URLs"):
        GcsStore(
            bucket="b",
            prefix="p/",
            ttl_seconds=900,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )


def test_gcs_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bucket: required with type gcs"):
        parse_settings("storage_settings:\n  type: gcs\n")
    with pytest.raises(ConfigError, match="gcs_credentials_file: only with type gcs"):
        parse_settings("storage_settings:\n  gcs_credentials_file: /x.json\n")
    # A key file that is not one is refused by name, without its contents.
    bad = tmp_path / "sa.json"
    bad.write_text('{"type": "service_account", "private_key": "SECRET-MATERIAL"}')
    with pytest.raises(ConfigError, match="cannot load gcs_credentials_file") as refused:
        load_credentials(str(bad))
    assert "SECRET-MATERIAL" not in str(refused.value)


def test_missing_application_default_credentials_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # ADC names a file that is not there: refused at start, not at the first upload.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(ConfigError, match="cannot load Application Default Credentials"):
        load_credentials(None)


async def test_adc_service_account_signs(
    monkeypatch: pytest.MonkeyPatch,
    service_account_file: Path,  # noqa: F811
) -> None:
    # ADC pointing at a service-account key is honoured: those credentials sign URLs.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file))
    store = GcsStore(bucket="b", prefix="p/", ttl_seconds=600, credentials=load_credentials(None))
    try:
        query = parse_qs(urlsplit(store.url("p/x.png")).query)
        assert query["X-Goog-Credential"][0].startswith(f"{SERVICE_ACCOUNT}/")
        assert query["X-Goog-Expires"] == ["600"]
    finally:
        await store.aclose()
