"""POST /v1/images/variations (OpenAI's form: image, n, size, response_format, model, user) as
the variation operation, driven by the official OpenAI SDK; what a variation cannot take is
refused, named, before any provider call."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import yaml
from PIL import Image

from imagegen.config import embedded_settings
from tests.conftest import Served, ServeFactory
from tests.fakes.images import png_bytes
from tests.fakes.openai import OpenAIFake

W, H = 40, 24


def decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        return image.convert("RGB")


@pytest.fixture
async def sdk() -> AsyncIterator[Any]:
    made: list[openai.AsyncOpenAI] = []

    def factory(served: Served) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(
            api_key="unused", base_url=f"{served.http_base_url}/v1", max_retries=0
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.close()


# OpenAI's SDK marks create_variation deprecated (the route was dall-e-2's); it still sends it.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_sdk_variations_of_the_placeholder_differ_from_the_input_and_each_other(
    serve: ServeFactory, sdk: Any
) -> None:
    served = await serve(embedded_settings())
    photo = png_bytes(W, H, 7)

    response = await sdk(served).images.create_variation(
        image=("a.png", photo, "image/png"),
        model="placeholder",
        n=2,
        response_format="b64_json",
    )

    first, second = (decode(item.b64_json) for item in response.data or [])
    original = decode(base64.b64encode(photo).decode())
    assert first.size == second.size == original.size
    assert first.tobytes() != original.tobytes()
    assert second.tobytes() not in (original.tobytes(), first.tobytes())


def openai_config(fake: OpenAIFake) -> str:
    entry = {
        "model_name": "gpt-image-1",
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_key": fake.api_key,
            "api_base": f"{fake.base_url}/v1",
        },
    }
    return yaml.safe_dump({"model_list": [entry]})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_a_model_that_makes_no_variations_is_refused_naming_the_operation(
    serve: ServeFactory, sdk: Any, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))

    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(served).images.create_variation(
            image=("a.png", png_bytes(W, H), "image/png"), model="gpt-image-1"
        )

    body: Any = caught.value.body
    assert body["param"] == "operation"
    assert "does not serve variation" in body["message"]
    assert openai_fake.requests == []


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("mask", None, "mask"),
        ("operation", "inpaint", "operation"),
        ("stream", "true", "stream"),
    ],
)
async def test_what_a_variation_cannot_take_is_refused_by_name(
    serve: ServeFactory, field: str, value: str | None, param: str
) -> None:
    served = await serve(embedded_settings())
    form = aiohttp.FormData()
    form.add_field("image", png_bytes(W, H), filename="a.png", content_type="image/png")
    form.add_field("model", "placeholder")
    if value is None:
        form.add_field(field, png_bytes(W, H), filename="m.png", content_type="image/png")
    else:
        form.add_field(field, value)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.http_base_url}/v1/images/variations", data=form) as response,
    ):
        assert response.status == 400
        body = await response.json()
    assert body["error"]["param"] == param


async def test_variations_take_no_json_body(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{served.http_base_url}/v1/images/variations",
            json={"model": "placeholder", "images": []},
        ) as response,
    ):
        assert response.status == 400
        body = await response.json()
    message = body["error"]["message"]
    assert message.startswith("POST /v1/images/variations takes multipart/form-data")
    assert "application/json" not in message
