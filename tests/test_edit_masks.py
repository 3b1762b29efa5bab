"""Mask conventions converted pixel for pixel: OpenAI's alpha convention (alpha 0 = edit) to the
black/white masks of Recraft, Vertex and Bedrock, and back."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from imagegen.images.masks import EditValue, edit_area, from_grayscale_mask, to_grayscale_mask

WIDTH, HEIGHT = 37, 23  # odd sizes: no row or column lines up by accident


def encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def api_mask(seed: int) -> tuple[bytes, list[int]]:
    """An RGBA mask with random colours and alphas; alpha 0, 1, 254 and 255 all occur."""
    rng = random.Random(seed)
    alphas = [rng.choice((0, 0, 1, 128, 254, 255, 255)) for _ in range(WIDTH * HEIGHT)]
    image = Image.new("RGBA", (WIDTH, HEIGHT))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256), a) for a in alphas])
    return encode(image), alphas


def pixels(image: Image.Image) -> list[int]:
    """The values of a single-band 8-bit image, row by row."""
    assert image.mode in ("L", "A") or len(image.getbands()) == 1
    return list(image.tobytes())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_white_edits_mask_is_white_exactly_where_alpha_is_zero(seed: int) -> None:
    data, alphas = api_mask(seed)

    converted = decode(to_grayscale_mask(data, EditValue.WHITE))

    assert converted.mode == "L" and converted.size == (WIDTH, HEIGHT)
    # Only fully transparent pixels are edits: alpha 1 (nearly transparent) is kept.
    assert pixels(converted) == [255 if a == 0 else 0 for a in alphas]


@pytest.mark.parametrize("seed", [4, 5])
def test_black_edits_mask_is_black_exactly_where_alpha_is_zero(seed: int) -> None:
    data, alphas = api_mask(seed)

    converted = decode(to_grayscale_mask(data, EditValue.BLACK))

    assert pixels(converted) == [0 if a == 0 else 255 for a in alphas]


def test_converted_masks_hold_only_pure_black_and_pure_white() -> None:
    data, _ = api_mask(6)
    for value in EditValue:
        assert set(pixels(decode(to_grayscale_mask(data, value)))) == {0, 255}


@pytest.mark.parametrize("value", list(EditValue))
def test_round_trip_keeps_the_edit_area_pixel_for_pixel(value: EditValue) -> None:
    data, alphas = api_mask(7)

    back = decode(from_grayscale_mask(to_grayscale_mask(data, value), value))

    assert back.mode == "RGBA"
    back_alphas = pixels(back.getchannel("A"))
    assert [a == 0 for a in back_alphas] == [a == 0 for a in alphas]
    assert set(back_alphas) == {0, 255}


def test_inverse_reads_a_provider_mask_with_grey_edges_by_threshold() -> None:
    gray = Image.new("L", (4, 1))
    gray.putdata([0, 127, 128, 255])

    from_white = decode(from_grayscale_mask(encode(gray), EditValue.WHITE))
    from_black = decode(from_grayscale_mask(encode(gray), EditValue.BLACK))

    assert pixels(from_white.getchannel("A")) == [255, 255, 0, 0]
    assert pixels(from_black.getchannel("A")) == [0, 0, 255, 255]


def test_palette_and_grey_alpha_masks_convert_like_rgba_ones() -> None:
    palette = Image.new("P", (3, 1))
    palette.putpalette([10, 20, 30, 40, 50, 60])
    palette.putdata([0, 1, 0])
    la = Image.new("LA", (3, 1))
    la.putdata([(9, 0), (9, 255), (9, 0)])

    palette_area = edit_area(encode_with_transparency(palette, 0))
    la_area = edit_area(encode(la))

    assert pixels(palette_area) == pixels(la_area) == [255, 0, 255]


def encode_with_transparency(image: Image.Image, index: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=index)
    return out.getvalue()
