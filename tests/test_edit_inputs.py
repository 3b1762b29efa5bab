"""Validation of edit inputs on real encoded files: formats from bytes, bounds from headers,
decompression bombs refused unread, masks checked against the first image, every bad field
named, and summaries that never carry the bytes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from imagegen.errors import Code, InvalidInputImageError
from imagegen.images.formats import ImageFormat, sniff_format
from imagegen.images.limits import OPENAI_GPT_IMAGE, PLACEHOLDER, RECRAFT, InputLimits
from imagegen.images.operations import EditOperation, Outpaint
from imagegen.images.summary import DIGEST_PREFIX_CHARS
from imagegen.images.validate import EditInputs, validate_edit_inputs
from tests.fakes.images import jpeg_bytes, png_bytes, webp_bytes


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def mask_png(width: int, height: int, hole: tuple[int, int, int, int] = (0, 0, 1, 1)) -> bytes:
    """An API mask: opaque black, fully transparent inside `hole` (the area to edit)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), hole)
    return encode(mask, "PNG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height in its header, with one tiny compressed row.

    Pillow reads the size from IHDR without inflating anything, which is exactly what a
    decompression bomb exploits and what the validator must refuse from the header alone.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def refusal(
    images: list[bytes],
    mask: bytes | None = None,
    limits: InputLimits = PLACEHOLDER,
    *,
    mask_required: bool = False,
) -> InvalidInputImageError:
    with pytest.raises(InvalidInputImageError) as caught:
        validate_edit_inputs(images, mask, limits, mask_required=mask_required)
    return caught.value


def violations(error: InvalidInputImageError) -> dict[str, str]:
    return {v.field: v.description for v in error.field_violations}


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png_bytes(8, 8), ImageFormat.PNG),
        (jpeg_bytes(8, 8), ImageFormat.JPEG),
        (webp_bytes(8, 8), ImageFormat.WEBP),
        (encode(Image.new("RGB", (8, 8)), "GIF"), None),
        (encode(Image.new("RGB", (8, 8)), "BMP"), None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
    ids=["png", "jpeg", "webp", "gif", "bmp", "riff-wave", "empty"],
)
def test_format_is_sniffed_from_the_bytes(data: bytes, expected: ImageFormat | None) -> None:
    assert sniff_format(data) is expected


def test_accepted_inputs_come_back_in_order_with_their_facts() -> None:
    first, second, third = png_bytes(64, 48), jpeg_bytes(32, 32, 3), webp_bytes(16, 24, 5)

    inputs = validate_edit_inputs([first, second, third], mask_png(64, 48), PLACEHOLDER)

    assert [(i.field, i.format, i.width, i.height) for i in inputs.images] == [
        ("images[0]", ImageFormat.PNG, 64, 48),
        ("images[1]", ImageFormat.JPEG, 32, 32),
        ("images[2]", ImageFormat.WEBP, 16, 24),
    ]
    assert [i.data for i in inputs.images] == [first, second, third]
    assert inputs.mask is not None and inputs.mask.has_alpha


def test_a_gif_is_refused_whatever_it_is_called() -> None:
    gif = encode(Image.new("RGB", (8, 8), (1, 2, 3)), "GIF")

    error = refusal([png_bytes(8, 8), gif])

    assert error.code is Code.INVALID_ARGUMENT and error.reason == "INVALID_INPUT_IMAGE"
    assert violations(error) == {"images[1]": "images[1] is not a PNG, JPEG or WebP file"}
    assert error.metadata == {"field": "images[1]"}


def test_a_format_the_model_does_not_read_is_refused_by_name() -> None:
    nova_like = InputLimits(
        max_images=2, max_image_bytes=None, formats=frozenset({ImageFormat.PNG})
    )
    error = refusal([webp_bytes(8, 8)], limits=nova_like)
    assert violations(error) == {"images[0]": "images[0] is WEBP; this model takes PNG"}


def test_bytes_with_a_png_signature_that_do_not_decode_are_refused() -> None:
    truncated = png_bytes(64, 64)[:60]
    garbage = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40

    error = refusal([truncated, garbage])

    assert set(violations(error)) == {"images[0]", "images[1]"}
    assert all("cannot be decoded as PNG" in d for d in violations(error).values())


def test_every_bad_field_is_reported_at_once() -> None:
    error = refusal([b"", png_bytes(8, 8), b"not an image"], mask=jpeg_bytes(8, 8))

    assert list(violations(error)) == ["images[0]", "images[2]", "mask"]
    assert error.message.endswith("(and 2 more)")


# ----------------------------------------------------------------------------- bounds


def test_too_many_images_is_refused_on_the_count_before_any_decoding() -> None:
    # 17 undecodable inputs: only the count is reported, none of them was read.
    error = refusal([b"junk"] * 17, limits=OPENAI_GPT_IMAGE)
    assert violations(error) == {"images": "this model takes at most 16 input images, got 17"}


def test_no_image_at_all_is_refused() -> None:
    assert violations(refusal([])) == {"images": "at least one input image is required"}


def test_byte_size_pixel_count_and_sides_follow_the_model_limits() -> None:
    small = InputLimits(max_images=3, max_image_bytes=2000, max_pixels=5000, max_side=100)
    big_file = encode(Image.effect_noise((40, 40), 100).convert("RGB"), "PNG")
    assert len(big_file) > 2000

    error = refusal([big_file, png_bytes(80, 80), png_bytes(101, 10)], limits=small)

    assert violations(error) == {
        "images[0]": f"images[0] is {len(big_file)} bytes; this model takes at most 2000",
        "images[1]": "images[1] is 80x80 (6400 pixels); this model takes at most 5000 pixels",
        "images[2]": "images[2] is 101x10; this model takes sides of at most 100 pixels",
    }


def test_recraft_minimum_side_is_enforced() -> None:
    error = refusal([png_bytes(255, 300)], limits=RECRAFT)
    assert violations(error) == {
        "images[0]": "images[0] is 255x300; this model takes sides of at least 256 pixels"
    }


@pytest.mark.parametrize("size", [(9000, 9000), (60000, 60000), (20000, 10)])
def test_a_decompression_bomb_is_refused_from_its_header(size: tuple[int, int]) -> None:
    bomb = png_header_only(*size)
    assert len(bomb) < 200

    error = refusal([bomb])

    assert violations(error) == {"images[0]": "images[0] has too many pixels to decode"}


def test_an_animated_image_is_refused() -> None:
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(3)]
    animated = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    error = refusal([animated])
    assert violations(error) == {"images[0]": "images[0] is animated; send a single frame"}


def test_opaque_only_models_refuse_transparent_pixels_but_not_an_opaque_alpha_channel() -> None:
    opaque_only = InputLimits(max_images=2, max_image_bytes=None, opaque_only=True)
    opaque_rgba = encode(Image.new("RGBA", (8, 8), (9, 9, 9, 255)), "PNG")
    translucent = Image.new("RGBA", (8, 8), (9, 9, 9, 255))
    translucent.putpixel((3, 3), (9, 9, 9, 254))

    inputs = validate_edit_inputs([opaque_rgba], None, opaque_only)
    error = refusal([opaque_rgba, encode(translucent, "PNG")], limits=opaque_only)

    assert inputs.images[0].has_alpha
    assert list(violations(error)) == ["images[1]"]


# ----------------------------------------------------------------------------- masks


def test_mask_must_match_the_first_image_dimensions() -> None:
    error = refusal([png_bytes(64, 48), png_bytes(48, 64)], mask=mask_png(48, 64))
    assert violations(error) == {"mask": "mask is 48x64; it must match the first image, 64x48"}


def test_mask_must_be_a_png_with_an_alpha_channel() -> None:
    no_alpha = encode(Image.new("L", (16, 16), 255), "PNG")
    assert violations(refusal([png_bytes(16, 16)], mask=no_alpha)) == {
        "mask": "mask has no alpha channel: its fully transparent pixels mark the area to edit"
    }
    assert violations(refusal([png_bytes(16, 16)], mask=webp_bytes(16, 16))) == {
        "mask": "mask is WEBP; this model takes PNG"
    }


def test_a_palette_png_with_a_transparent_index_is_a_valid_mask() -> None:
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.putpixel((0, 0), 0)
    data = encode(palette, "PNG", transparency=0)

    inputs = validate_edit_inputs([png_bytes(16, 16)], data, PLACEHOLDER)

    assert inputs.mask is not None and inputs.mask.has_alpha


def test_mask_over_the_model_byte_limit_is_refused() -> None:
    limits = InputLimits(max_images=1, max_image_bytes=None, max_mask_bytes=100)
    data = mask_png(64, 64)
    assert len(data) > 100
    assert "mask is" in violations(refusal([png_bytes(64, 64)], mask=data, limits=limits))["mask"]


def test_an_operation_that_needs_a_mask_says_so() -> None:
    assert violations(refusal([png_bytes(8, 8)], mask_required=True)) == {
        "mask": "this operation needs a mask"
    }


# ----------------------------------------------------------------------------- summaries


def test_summaries_carry_digest_size_and_dimensions_never_the_bytes() -> None:
    image = png_bytes(40, 30, 11)
    inputs: EditInputs = validate_edit_inputs([image], mask_png(40, 30), PLACEHOLDER)

    summaries = [s.as_dict() for s in inputs.summaries()]

    assert [s["field"] for s in summaries] == ["images[0]", "mask"]
    first = summaries[0]
    assert first["bytes"] == len(image) and (first["width"], first["height"]) == (40, 30)
    assert first["format"] == "png"
    assert isinstance(first["sha256"], str) and len(first["sha256"]) == DIGEST_PREFIX_CHARS
    assert inputs.total_bytes == len(image) + len(inputs.mask.data if inputs.mask else b"")
    # The data never shows in a repr that might end up in a log line.
    assert repr(image[:16]) not in repr(inputs)
    assert "data=" not in repr(inputs.images[0])


# ----------------------------------------------------------------------------- operations


def test_operations_say_what_they_need() -> None:
    assert {op for op in EditOperation if op.needs_mask} == {
        EditOperation.INPAINT,
        EditOperation.ERASE,
    }
    assert not EditOperation.UPSCALE.needs_prompt and EditOperation.OUTPAINT.needs_prompt


def test_outpaint_sides_must_be_non_negative_and_extend_something() -> None:
    assert Outpaint(left=8).problems() == []
    assert Outpaint().problems() == ["at least one side must be extended"]
    assert Outpaint(top=-1, bottom=4).problems() == ["top must not be negative"]
