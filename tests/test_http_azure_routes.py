"""Azure OpenAI's deployment routes on the HTTP door, as LiteLLM's proxy serves them:
`/openai/deployments/{name}/images/{generations,edits}?api-version=...`, driven by the
official SDK's AsyncAzureOpenAI client (which also sends its key as `api-key`)."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import yaml
from PIL import Image

from imagegen.config import embedded_settings
from tests.conftest import Served, ServeFactory
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.spend_helpers import MASTER

W, H = 48, 32
API_VERSION = "2025-04-01-preview"


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 12, 12))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        return image.convert("RGB")


@pytest.fixture
async def azure() -> AsyncIterator[Any]:
    made: list[openai.AsyncAzureOpenAI] = []

    def factory(
        served: Served, *, key: str = "unused", deployment: str | None = None
    ) -> openai.AsyncAzureOpenAI:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=served.http_base_url,
            azure_deployment=deployment,
            api_version=API_VERSION,
            api_key=key,
            max_retries=0,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.close()


async def test_azure_sdk_edits_two_images_with_a_mask_on_the_deployment_route(
    serve: ServeFactory, azure: Any
) -> None:
    served = await serve(embedded_settings())
    photo = png_bytes(W, H, 5)

    raw = await azure(served).images.with_raw_response.edit(
        model="placeholder",
        image=[("a.png", photo, "image/png"), ("b.jpg", jpeg_bytes(8, 8), "image/jpeg")],
        mask=("m.png", api_mask(), "image/png"),
        prompt="a hat",
        extra_body={"operation": "inpaint"},
    )

    assert raw.http_request.url.path == "/openai/deployments/placeholder/images/edits"
    assert raw.http_request.url.params["api-version"] == API_VERSION
    (item,) = raw.parse().data or []
    edited, original = decode(item.b64_json), decode(base64.b64encode(photo).decode())
    assert edited.getpixel((3, 3)) != original.getpixel((3, 3))
    assert edited.getpixel((30, 20)) == original.getpixel((30, 20))


async def test_azure_sdk_generates_on_the_deployment_route(serve: ServeFactory, azure: Any) -> None:
    served = await serve(embedded_settings())

    raw = await azure(served).images.with_raw_response.generate(
        model="placeholder", prompt="a lighthouse", size="64x64"
    )

    assert raw.http_request.url.path == "/openai/deployments/placeholder/images/generations"
    assert raw.headers["x-imagegen-provider"] == "local"
    assert decode(raw.parse().data[0].b64_json).size == (64, 64)


async def test_the_deployment_in_the_path_is_the_model(serve: ServeFactory, azure: Any) -> None:
    served = await serve(embedded_settings())
    # A client bound to one deployment: the body's model (not served here) does not decide.
    client = azure(served, deployment="placeholder")

    response = await client.images.generate(model="gpt-image-1", prompt="p", size="32x32")

    assert decode((response.data or [])[0].b64_json).size == (32, 32)


async def test_an_unserved_deployment_is_404_in_openai_envelope(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    url = f"{served.http_base_url}/openai/deployments/no-such/images/generations"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, params={"api-version": API_VERSION}, json={"prompt": "p"}) as response,
    ):
        assert response.status == 404
        body = await response.json()
    assert body["error"]["code"] == "model_not_found"


async def test_the_api_key_header_authenticates_on_the_deployment_route(
    serve: ServeFactory, azure: Any, tmp_path: Path
) -> None:
    document = {
        "model_list": [
            {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
        ],
        "general_settings": {
            "master_key": MASTER,
            "spend_log_path": str(tmp_path / "spend.sqlite3"),
        },
    }
    served = await serve(yaml.safe_dump(document))
    image = ("a.png", png_bytes(W, H), "image/png")

    with pytest.raises(openai.AuthenticationError):
        await azure(served, key="sk-wrong").images.edit(
            model="placeholder", image=image, prompt="p"
        )
    response = await azure(served, key=MASTER).images.edit(
        model="placeholder", image=image, prompt="p"
    )
    assert response.data and response.data[0].b64_json
