"""The gRPC client SDK's edits, sync and asyncio, against a real server: LiteLLM's
image_edit() signature, raw results with cost, and the server's refusals rebuilt."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from PIL import Image

from imagegen.client import AsyncImageGenClient, ImageGenClient
from imagegen.config import embedded_settings
from imagegen.errors import InvalidInputImageError, InvalidRequestError
from tests.conftest import ServeFactory
from tests.fakes.images import jpeg_bytes, png_bytes

W, H = 40, 24


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 8, 8))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


async def test_sync_image_edit_returns_an_openai_style_response(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    photo = png_bytes(W, H, 3)

    def run() -> tuple[str | None, float | None]:
        with ImageGenClient(served.address) as client:
            response = client.image_edit(
                [photo, jpeg_bytes(8, 8)], "paint", model="placeholder", mask=api_mask()
            )
        return response.data[0].b64_json, response._hidden_params["response_cost"]

    b64, cost = await asyncio.to_thread(run)

    assert b64 is not None and cost == 0.0
    with (
        Image.open(io.BytesIO(base64.b64decode(b64))) as edited,
        Image.open(io.BytesIO(photo)) as original,
    ):
        assert edited.convert("RGB").getpixel((2, 2)) != original.convert("RGB").getpixel((2, 2))
        assert edited.convert("RGB").getpixel((30, 20)) == original.convert("RGB").getpixel(
            (30, 20)
        )


async def test_async_edit_images_gives_raw_bytes_and_cost(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    async with AsyncImageGenClient(served.address) as client:
        result = await client.edit_images(
            io.BytesIO(png_bytes(W, H)),
            model="placeholder",
            operation="outpaint",
            prompt="wider",
            outpaint={"left": 8, "right": 8},
        )
        upscaled = await client.image_edit(
            png_bytes(W, H), model="placeholder", operation="upscale"
        )

    (image,) = result.images
    assert (image.width, image.height) == (W + 16, H)
    assert result.cost.provider == "local" and result.trailers["x-imagegen-provider"] == "local"
    assert upscaled.data[0].b64_json is not None


async def test_refusals_come_back_as_the_servers_error_classes(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    async with AsyncImageGenClient(served.address) as client:
        with pytest.raises(InvalidInputImageError) as bad_image:
            await client.image_edit([png_bytes(8, 8), b"junk"], "x", model="placeholder")
        with pytest.raises(InvalidRequestError) as bad_operation:
            await client.image_edit(png_bytes(8, 8), "x", model="placeholder", operation="blur")

    assert [v.field for v in bad_image.value.field_violations] == ["images[1]"]
    assert bad_operation.value.field_violations[0].field == "operation"
