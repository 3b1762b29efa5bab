"""Outpainting for providers that take a canvas and a mask instead of per-side extensions.

Vertex Imagen (EDIT_MODE_OUTPAINT) and Bedrock Titan / Nova Canvas (OUTPAINTING) do not take
"add N pixels on the left": they take an image already of the final size and a mask saying
which pixels to fill. The gateway's contract takes the sides (`Outpaint`), so the adapters build
both here: the first input image pasted at (left, top) on a larger canvas, and a black/white
mask of the same size whose new area carries the provider's "edit" value.

The new area of the canvas is filled with mid grey: the provider repaints every pixel of it,
so its colour only has to be neutral (black or white would bias the fill's brightness).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from imagegen.images.masks import EditValue
from imagegen.images.operations import Outpaint

_NEUTRAL = (128, 128, 128)


@dataclass(frozen=True, slots=True)
class Canvas:
    """The enlarged image and its mask, both PNG, and their size."""

    image: bytes
    mask: bytes
    width: int
    height: int


def canvas_size(width: int, height: int, sides: Outpaint) -> tuple[int, int]:
    return width + sides.left + sides.right, height + sides.top + sides.bottom


def outpaint_canvas(image: bytes, sides: Outpaint, new_area: EditValue) -> Canvas:
    """`image` on a canvas grown by `sides`, and the mask whose new area is `new_area`."""
    with Image.open(io.BytesIO(image)) as source:
        # The providers read RGB: an alpha channel would be one more thing they refuse.
        picture = source.convert("RGB")
    width, height = canvas_size(picture.width, picture.height, sides)
    canvas = Image.new("RGB", (width, height), _NEUTRAL)
    canvas.paste(picture, (sides.left, sides.top))
    kept = 255 - new_area.value
    mask = Image.new("L", (width, height), new_area.value)
    mask.paste(
        kept, (sides.left, sides.top, sides.left + picture.width, sides.top + picture.height)
    )
    return Canvas(_png(canvas), _png(mask), width, height)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
