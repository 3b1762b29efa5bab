"""The in-process `image_edit()` / `aimage_edit()`: LiteLLM's signature, inputs as bytes,
paths, files or lists of them, the placeholder offline and OpenAI through its fake."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from imagegen import aimage_edit, image_edit
from imagegen.errors import InvalidInputImageError, InvalidRequestError, UnsupportedParameterError
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.fakes.openai import OpenAIFake

W, H = 40, 30


def encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 10, 10))
    return encode(mask)


def decoded(b64: str | None) -> Image.Image:
    assert b64 is not None
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        return image.convert("RGB")


def test_sync_edit_from_paths_with_a_mask(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(W, H, 7))
    mask = tmp_path / "mask.png"
    mask.write_bytes(api_mask())

    response = image_edit(str(photo), "paint it", model="placeholder", mask=mask)

    (item,) = response.data
    result, original = (
        decoded(item.b64_json),
        decoded(base64.b64encode(photo.read_bytes()).decode()),
    )
    assert result.getpixel((2, 2)) != original.getpixel((2, 2))
    assert result.getpixel((30, 20)) == original.getpixel((30, 20))
    assert response._hidden_params["response_cost"] == 0.0


async def test_async_operations_with_files_and_lists() -> None:
    upscaled = await aimage_edit(
        io.BytesIO(png_bytes(W, H)), model="placeholder", operation="upscale"
    )
    outpainted = await aimage_edit(
        [png_bytes(W, H), jpeg_bytes(8, 8)],
        "more beach",
        model="placeholder",
        operation="outpaint",
        outpaint={"left": 4, "right": 6},
        n=2,
    )

    assert decoded(upscaled.data[0].b64_json).size == (2 * W, 2 * H)
    assert len(outpainted.data) == 2
    assert decoded(outpainted.data[0].b64_json).size == (W + 10, H)


async def test_refusals_name_the_field() -> None:
    with pytest.raises(InvalidInputImageError) as bad_image:
        await aimage_edit([png_bytes(8, 8), b"GIF89a..."], "x", model="placeholder")
    with pytest.raises(InvalidRequestError) as bad_operation:
        await aimage_edit(png_bytes(8, 8), "x", model="placeholder", operation="sharpen")
    with pytest.raises(InvalidRequestError) as no_prompt:
        await aimage_edit(png_bytes(8, 8), model="placeholder")
    with pytest.raises(InvalidRequestError) as bad_type:
        await aimage_edit(12345, "x", model="placeholder")  # type: ignore[arg-type]

    assert bad_image.value.field_violations[0].field == "images[1]"
    assert bad_operation.value.field_violations[0].field == "operation"
    assert no_prompt.value.field_violations[0].field == "prompt"
    assert bad_type.value.field_violations[0].field == "images[0]"


async def test_openai_edit_through_the_fake_sends_every_image(openai_fake: OpenAIFake) -> None:
    first, second = png_bytes(W, H, 1), jpeg_bytes(16, 16, 2)

    response = await aimage_edit(
        [first, second],
        "combine",
        model="openai/gpt-image-1",
        mask=api_mask(),
        api_key=openai_fake.api_key,
        api_base=f"{openai_fake.base_url}/v1",
        input_fidelity="high",
    )

    (received,) = openai_fake.edit_requests
    assert [f.data for f in received.images] == [first, second]
    assert received.input_fidelity == "high"
    assert response.usage is not None and response.usage.input_tokens_details is not None
    assert response.usage.input_tokens_details.image_tokens > 0


async def test_an_operation_openai_does_not_serve_never_reaches_it(
    openai_fake: OpenAIFake,
) -> None:
    with pytest.raises(UnsupportedParameterError) as caught:
        await aimage_edit(
            png_bytes(8, 8),
            model="openai/gpt-image-1",
            operation="vectorize",
            api_key=openai_fake.api_key,
            api_base=f"{openai_fake.base_url}/v1",
        )
    assert caught.value.field_violations[0].field == "operation"
    assert openai_fake.requests == []
