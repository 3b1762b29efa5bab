"""TLS and mTLS on both doors of the real server, with certificates made for this run."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import yaml

from imagegen.client import AsyncImageGenClient
from imagegen.config import parse_settings
from imagegen.errors import ConfigError, GatewayUnavailableError, ImageGenError
from imagegen.server.app import start_server
from tests.certs import Certs, make_certs


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "certs")


def tls_config(certs: Certs, *, mutual: bool) -> str:
    server = {"tls_cert_file": str(certs.server_cert), "tls_key_file": str(certs.server_key)}
    if mutual:
        server["tls_client_ca_file"] = str(certs.ca)
    document = {
        "model_list": [{"model_name": "dev", "litellm_params": {"model": "local/placeholder"}}],
        "server_settings": server,
    }
    return yaml.safe_dump(document)


async def test_tls_serves_both_doors(certs: Certs) -> None:
    running = await start_server(
        parse_settings(tls_config(certs, mutual=False)), host="127.0.0.1", port=0, http_port=0
    )
    try:
        target = f"localhost:{running.port}"
        async with AsyncImageGenClient(target, root_certificates=certs.ca) as secure:
            done = await secure.generate_images("a cat", model="dev")
        assert len(done.images) == 1
        async with AsyncImageGenClient(target) as plain:
            with pytest.raises(GatewayUnavailableError):
                await plain.list_models(timeout=5)
        context = ssl.create_default_context(cafile=str(certs.ca))
        async with httpx.AsyncClient(verify=context) as http:
            models = await http.get(f"https://localhost:{running.http_port}/v1/models")
        assert models.status_code == 200
        assert [m["id"] for m in models.json()["data"]] == ["dev"]
    finally:
        await running.stop(grace=0)


async def test_mtls_requires_a_client_certificate_signed_by_the_ca(
    certs: Certs, tmp_path: Path
) -> None:
    running = await start_server(
        parse_settings(tls_config(certs, mutual=True)), host="127.0.0.1", port=0, http_port=0
    )
    try:
        target = f"localhost:{running.port}"
        async with AsyncImageGenClient(
            target,
            root_certificates=certs.ca,
            certificate_chain=certs.client_cert,
            private_key=certs.client_key,
        ) as mutual:
            done = await mutual.generate_images("a cat", model="dev")
        assert len(done.images) == 1
        async with AsyncImageGenClient(target, root_certificates=certs.ca) as no_cert:
            with pytest.raises(ImageGenError):
                await no_cert.list_models(timeout=5)
        strangers = make_certs(tmp_path / "other", ca_name="another CA")
        async with AsyncImageGenClient(
            target,
            root_certificates=certs.ca,
            certificate_chain=strangers.client_cert,
            private_key=strangers.client_key,
        ) as foreign:
            with pytest.raises(ImageGenError):
                await foreign.list_models(timeout=5)
    finally:
        await running.stop(grace=0)


def test_tls_config_errors_name_the_key(certs: Certs, tmp_path: Path) -> None:
    only_cert = yaml.safe_dump({"server_settings": {"tls_cert_file": str(certs.server_cert)}})
    with pytest.raises(ConfigError, match="tls_cert_file and tls_key_file together"):
        parse_settings(only_cert)
    missing = yaml.safe_dump(
        {
            "server_settings": {
                "tls_cert_file": str(tmp_path / "nope.pem"),
                "tls_key_file": str(certs.server_key),
            }
        }
    )
    with pytest.raises(ConfigError, match=r"server_settings\.tls_cert_file: no file"):
        parse_settings(missing)
