"""The placeholder model's edits, checked on their pixels: each operation changes what it
should, leaves the rest alone, honours the mask and is deterministic."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from imagegen.images.operations import EditOperation, Outpaint
from imagegen.providers.local_edits import (
    PNG_MIME,
    SVG_MIME,
    EditedImage,
    EditRequest,
    prompt_colour,
    render_edit,
)

W, H = 40, 30
BACKGROUND = (250, 250, 250, 255)
SUBJECT = (20, 90, 200, 255)
SUBJECT_BOX = (10, 8, 30, 22)  # left, top, right, bottom (exclusive)


def encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def decode(result: EditedImage) -> Image.Image:
    assert result.mime_type == PNG_MIME
    with Image.open(io.BytesIO(result.data)) as image:
        converted = image.convert("RGBA")
    assert converted.size == (result.width, result.height)
    return converted


def product_photo() -> Image.Image:
    """A light background with a blue subject: something to edit and a background to find."""
    image = Image.new("RGBA", (W, H), BACKGROUND)
    image.paste(SUBJECT, SUBJECT_BOX)
    return image


def api_mask(box: tuple[int, int, int, int]) -> bytes:
    """Transparent (edit) inside `box`, opaque elsewhere."""
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return encode(mask)


def inside(box: tuple[int, int, int, int], x: int, y: int) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def edit(operation: EditOperation, index: int = 0, **fields: object) -> EditedImage:
    request = EditRequest(
        operation=operation,
        images=fields.pop("images", [encode(product_photo())]),  # type: ignore[arg-type]
        mask=fields.pop("mask", None),  # type: ignore[arg-type]
        prompt=str(fields.pop("prompt", "a red hat")),
        seed=int(fields.pop("seed", 0)),  # type: ignore[call-overload]
        outpaint=fields.pop("outpaint", None),  # type: ignore[arg-type]
    )
    assert not fields
    return render_edit(request, index)


MASK_BOX = (0, 0, 12, 10)


@pytest.mark.parametrize(
    "operation",
    [EditOperation.EDIT, EditOperation.INPAINT, EditOperation.VARIATION, EditOperation.ERASE],
)
def test_masked_operations_change_only_the_masked_pixels(operation: EditOperation) -> None:
    original = product_photo()

    result = decode(edit(operation, mask=api_mask(MASK_BOX)))

    changed = {
        (x, y)
        for x in range(W)
        for y in range(H)
        if result.getpixel((x, y)) != original.getpixel((x, y))
    }
    assert changed, "the edit must be visible"
    assert all(inside(MASK_BOX, x, y) for x, y in changed)


def test_inpaint_paints_the_masked_area_in_the_prompt_colour() -> None:
    result = decode(edit(EditOperation.INPAINT, mask=api_mask(MASK_BOX), prompt="a cat"))
    assert result.getpixel((3, 3)) == (*prompt_colour("a cat", 0, 0), 255)
    assert result.getpixel((20, 15)) == SUBJECT


def test_instruction_edit_without_a_mask_tints_everything_and_is_deterministic() -> None:
    first = edit(EditOperation.EDIT, prompt="sepia")
    again = edit(EditOperation.EDIT, prompt="sepia")
    other_prompt = edit(EditOperation.EDIT, prompt="neon")
    second_image = edit(EditOperation.EDIT, index=1, prompt="sepia")

    assert first.data == again.data
    assert len({first.data, other_prompt.data, second_image.data}) == 3
    result = decode(first)
    assert result.getpixel((0, 0)) != BACKGROUND and result.getpixel((20, 15)) != SUBJECT


def test_every_reference_image_appears_in_the_edit_in_order() -> None:
    red = encode(Image.new("RGBA", (8, 8), (255, 0, 0, 255)))
    green = encode(Image.new("RGBA", (8, 8), (0, 255, 0, 255)))

    result = decode(edit(EditOperation.EDIT, images=[encode(product_photo()), red, green]))

    slot = min(W // 2, H // 4)  # two references: thumbnails of this side along the bottom
    assert result.getpixel((1, H - 1)) == (255, 0, 0, 255)
    assert result.getpixel((slot + 1, H - 1)) == (0, 255, 0, 255)


def test_outpaint_extends_the_canvas_and_keeps_the_original_in_place() -> None:
    sides = Outpaint(left=5, top=2, right=7, bottom=3)

    result = decode(edit(EditOperation.OUTPAINT, outpaint=sides, prompt="more sky"))

    assert result.size == (W + 12, H + 5)
    assert result.crop((5, 2, 5 + W, 2 + H)).tobytes() == product_photo().tobytes()
    assert result.getpixel((0, 0)) == (*prompt_colour("more sky", 0, 0), 255)


def test_remove_background_makes_the_background_transparent_and_keeps_the_subject() -> None:
    result = decode(edit(EditOperation.REMOVE_BACKGROUND))

    alpha = result.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((W - 1, H - 1)) == 0
    assert result.getpixel((20, 15)) == SUBJECT
    subject_pixels = (SUBJECT_BOX[2] - SUBJECT_BOX[0]) * (SUBJECT_BOX[3] - SUBJECT_BOX[1])
    assert alpha.histogram()[255] == subject_pixels


def test_remove_background_with_a_mask_removes_exactly_the_masked_area() -> None:
    result = decode(edit(EditOperation.REMOVE_BACKGROUND, mask=api_mask(MASK_BOX)))
    alpha = result.getchannel("A")
    for x in range(W):
        for y in range(H):
            assert (alpha.getpixel((x, y)) == 0) is inside(MASK_BOX, x, y)


def test_replace_background_paints_behind_the_subject() -> None:
    result = decode(edit(EditOperation.REPLACE_BACKGROUND, prompt="a beach"))
    assert result.getpixel((0, 0)) == (*prompt_colour("a beach", 0, 0), 255)
    assert result.getpixel((20, 15)) == SUBJECT


def test_upscale_doubles_each_pixel_into_a_two_by_two_block() -> None:
    original = product_photo()
    result = decode(edit(EditOperation.UPSCALE))

    assert result.size == (2 * W, 2 * H)
    for x, y in [(0, 0), (10, 8), (29, 21), (39, 29)]:
        block = {result.getpixel((2 * x + dx, 2 * y + dy)) for dx in (0, 1) for dy in (0, 1)}
        assert block == {original.getpixel((x, y))}


def test_variations_differ_from_the_input_and_from_each_other() -> None:
    variations = [edit(EditOperation.VARIATION, index=i).data for i in range(3)]
    assert len(set(variations)) == 3
    assert encode(product_photo()) not in variations


def test_erase_fills_the_masked_subject_with_its_surroundings() -> None:
    result = decode(edit(EditOperation.ERASE, mask=api_mask(SUBJECT_BOX)))
    # Everything left unmasked is background, so the subject is painted over with it.
    assert result.getpixel((20, 15)) == BACKGROUND
    assert result.getpixel((0, 0)) == BACKGROUND


def test_vectorize_returns_a_small_svg_of_the_image_colours() -> None:
    result = edit(EditOperation.VECTORIZE)

    assert result.mime_type == SVG_MIME and (result.width, result.height) == (W, H)
    assert len(result.data) < 4096
    root = ET.fromstring(result.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == f"0 0 {W} {H}"
    fills = [rect.get("fill") for rect in root]
    assert len(fills) == 16
    assert fills[0] == "#fafafa"  # the top-left cell is pure background
