"""POST /v1/images/edits on the HTTP door, driven by the official OpenAI SDK: two images and a
mask against the placeholder and against OpenAI's fake, streamed edit events, and refusals in
OpenAI's error envelope before any provider call."""

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
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.fakes.openai import OpenAIFake

W, H = 48, 32


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def api_mask(width: int = W, height: int = H) -> bytes:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 12, 12))
    return encode(mask)


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


def openai_config(fake: OpenAIFake) -> str:
    return yaml.safe_dump(
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
            ]
        }
    )


async def test_sdk_edit_with_two_images_and_a_mask_against_the_placeholder(
    serve: ServeFactory, sdk: Any
) -> None:
    served = await serve(embedded_settings())
    photo = png_bytes(W, H, 5)

    response = await sdk(served).images.edit(
        model="placeholder",
        image=[("a.png", photo, "image/png"), ("b.jpg", jpeg_bytes(8, 8), "image/jpeg")],
        mask=("m.png", api_mask(), "image/png"),
        prompt="a hat",
        extra_body={"operation": "inpaint"},
    )

    (item,) = response.data or []
    edited, original = decode(item.b64_json), decode(base64.b64encode(photo).decode())
    assert edited.getpixel((3, 3)) != original.getpixel((3, 3))
    assert edited.getpixel((30, 20)) == original.getpixel((30, 20))


async def test_sdk_edit_reaches_openai_with_every_file(
    serve: ServeFactory, sdk: Any, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    first, second = png_bytes(W, H, 1), jpeg_bytes(16, 16, 2)

    response = await sdk(served).images.edit(
        model="gpt-image-1",
        image=[("a.png", first, "image/png"), ("b.jpg", second, "image/jpeg")],
        mask=("m.png", api_mask(), "image/png"),
        prompt="combine",
        input_fidelity="high",
    )

    (received,) = openai_fake.edit_requests
    assert [f.data for f in received.images] == [first, second]
    assert received.input_fidelity == "high"
    assert response.usage is not None and response.usage.input_tokens_details.image_tokens > 0


async def test_streamed_edit_uses_openai_edit_event_names(
    serve: ServeFactory, sdk: Any, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    stream = await sdk(served).images.edit(
        model="gpt-image-1",
        image=("a.png", png_bytes(W, H), "image/png"),
        prompt="stream it",
        stream=True,
        partial_images=1,
    )
    kinds = [event.type async for event in stream]
    assert kinds == ["image_edit.partial_image", "image_edit.completed"]


async def test_bad_inputs_are_400_in_openai_envelope_before_any_provider_call(
    serve: ServeFactory, sdk: Any, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    gif = encode(Image.new("RGB", (8, 8)), "GIF")

    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(served).images.edit(
            model="gpt-image-1",
            image=[("a.png", png_bytes(W, H), "image/png"), ("b.png", gif, "image/png")],
            mask=("m.png", api_mask(W // 2, H), "image/png"),
            prompt="edit",
        )

    body: Any = caught.value.body
    assert body["code"] == "invalid_input_image" and body["param"] == "images[1]"
    assert openai_fake.requests == []


async def test_a_json_body_and_a_form_without_images_are_refused(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{served.http_base_url}/v1/images/edits", json={"prompt": "x"}
        ) as as_json:
            json_error = (await as_json.json())["error"]
        form = aiohttp.MultipartWriter("form-data")
        for name, value in (("prompt", "x"), ("model", "placeholder")):
            form.append(value).set_content_disposition("form-data", name=name)
        async with http.post(f"{served.http_base_url}/images/edits", data=form) as no_image:
            image_error = (await no_image.json())["error"]
    assert as_json.status == 400 and json_error["type"] == "invalid_request_error"
    assert no_image.status == 400 and image_error["param"] == "image"


async def test_a_form_larger_than_the_message_limit_is_413(serve: ServeFactory) -> None:
    served = await serve(
        "model_list:\n"
        "  - model_name: placeholder\n"
        "    litellm_params: {model: local/placeholder}\n"
        "server_settings:\n"
        "  max_message_mb: 4\n"
    )
    form = aiohttp.MultipartWriter("form-data")
    form.append("x").set_content_disposition("form-data", name="prompt")
    big = form.append(io.BytesIO(b"\0" * (5 * 1024 * 1024)))
    big.set_content_disposition("form-data", name="image", filename="big.png")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{served.http_base_url}/v1/images/edits", data=form) as response,
    ):
        assert response.status == 413
        assert set((await response.json())["error"]) == {"message", "type", "param", "code"}
