"""Mask conventions, converted pixel for pixel.

Callers send one convention, OpenAI's: a PNG whose fully transparent pixels (alpha 0) mark the
area to edit; every other pixel, however translucent, is kept
(https://github.com/openai/openai-python/blob/main/src/openai/types/image_edit_params.py).
Other providers take a grayscale picture of pure black and pure white instead, and disagree on
which of the two means "edit":

* Recraft: white (255) is regenerated, black (0) stays; nothing else is allowed
  (https://www.recraft.ai/docs/api-reference/tools/inpainting).
* Vertex Imagen: non-zero pixels mark where to edit
  (https://googleapis.github.io/js-genai/interfaces/types.MaskReferenceImage.html).
* Bedrock Titan Image and Nova Canvas: black (0, 0, 0) is inside the mask and white outside;
  inpainting changes the inside and outpainting the outside
  (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-image.html,
  https://docs.aws.amazon.com/nova/latest/userguide/image-gen-access.html).

So a converter takes the value that means "edit" for the target, and always writes exactly two
values: no anti-aliased edge survives as a grey a provider would refuse or read its own way.
"""

from __future__ import annotations

import io
from enum import IntEnum

from PIL import Image

#: A grayscale pixel at or above this value counts as white when reading a black/white mask.
WHITE_THRESHOLD = 128


class EditValue(IntEnum):
    """The grayscale value that marks the area to edit in a provider's mask."""

    #: Recraft, Vertex Imagen, Bedrock outpainting.
    WHITE = 255
    #: Bedrock Titan and Nova Canvas inpainting.
    BLACK = 0


def edit_area(mask_png: bytes) -> Image.Image:
    """The API mask as an "L" image: 255 where the caller asked for an edit, 0 elsewhere."""
    with Image.open(io.BytesIO(mask_png)) as mask:
        alpha = mask.convert("RGBA").getchannel("A")
    return alpha.point(lambda a: 255 if a == 0 else 0)


def to_grayscale_mask(mask_png: bytes, edit_value: EditValue) -> bytes:
    """Convert an API mask (transparent = edit) into a black/white PNG for a provider."""
    area = edit_area(mask_png)
    if edit_value is EditValue.BLACK:
        area = area.point(lambda v: 255 - v)
    return _png(area)


def from_grayscale_mask(gray_png: bytes, edit_value: EditValue) -> bytes:
    """The inverse: a provider's black/white mask as an API mask (transparent = edit).

    Greys are read against WHITE_THRESHOLD; the result is black, alpha 0 where the provider
    would edit and 255 elsewhere.
    """
    with Image.open(io.BytesIO(gray_png)) as gray:
        luminance = gray.convert("L")
    if edit_value is EditValue.WHITE:
        alpha = luminance.point(lambda v: 0 if v >= WHITE_THRESHOLD else 255)
    else:
        alpha = luminance.point(lambda v: 255 if v >= WHITE_THRESHOLD else 0)
    black = Image.new("RGBA", luminance.size, (0, 0, 0, 255))
    black.putalpha(alpha)
    return _png(black)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
