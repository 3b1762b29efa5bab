"""Edits on Black Forest Labs: FLUX.1 Kontext, FLUX.1 Fill [pro] and FLUX.1 Expand [pro].

All use the same `POST /v1/{model}` submit and polling as a generation (docs.bfl.ai API
reference and model pages, read 2026-12-04); each model serves one operation, so the operation
picks the fields:

- Kontext (`flux-kontext-pro`, `flux-kontext-max`), EDIT: the first image as `input_image`
  (base64 or a URL; the gateway sends base64), further references for Kontext's
  multi-reference mode as `input_image_2` .. `input_image_4`; no mask.
- Fill (`flux-pro-1.0-fill`), INPAINT: `image` and `mask`, a black and white picture of the
  image's size where white is inpainted and black kept (docs.bfl.ai/flux_tools/flux_1_fill).
  The caller's mask (transparent = edit) is converted pixel for pixel by images/masks.py.
- Expand (`flux-pro-1.0-expand`), OUTPAINT: `image` and the pixels to add as `top`, `bottom`,
  `left`, `right`.

Fill and Expand answer at the input's own size (plus the added sides), so they take no size.
Base64 is the provider's wire format; on the gateway's own legs the images stay raw bytes.
"""

from __future__ import annotations

import base64
from dataclasses import replace

from pydantic import JsonValue

from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
from imagegen.images.masks import EditValue, to_grayscale_mask
from imagegen.images.operations import EditOperation
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ModelSpec
from imagegen.providers.edit_support import EditCapability

#: `input_image` plus `input_image_2` .. `input_image_4`.
KONTEXT_MAX_IMAGES = 4
# BFL documents no byte or pixel bound for Kontext inputs: the gateway-wide ceilings apply.
KONTEXT_INPUT_LIMITS = InputLimits(
    max_images=KONTEXT_MAX_IMAGES,
    max_image_bytes=None,
    formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP}),
)
KONTEXT_EDITS = EditCapability(
    operations=frozenset({EditOperation.EDIT}), limits=KONTEXT_INPUT_LIMITS, takes_mask=False
)

# One image each; BFL documents no byte or pixel bound here either.
_ONE_IMAGE = InputLimits(
    max_images=1,
    max_image_bytes=None,
    formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP}),
)
FILL_EDITS = EditCapability(operations=frozenset({EditOperation.INPAINT}), limits=_ONE_IMAGE)
EXPAND_EDITS = EditCapability(
    operations=frozenset({EditOperation.OUTPAINT}), limits=_ONE_IMAGE, takes_mask=False
)


def with_kontext_edits(spec: ModelSpec) -> ModelSpec:
    return replace(spec, edit=KONTEXT_EDITS)


def edit_fields(payload: EditPayload) -> dict[str, JsonValue]:
    """The submit body's input fields for the edit's operation."""
    images = payload.inputs.images
    if payload.operation is EditOperation.EDIT:
        return {
            ("input_image" if index == 1 else f"input_image_{index}"): _b64(image.data)
            for index, image in enumerate(images, start=1)
        }
    fields: dict[str, JsonValue] = {"image": _b64(images[0].data)}
    if payload.operation is EditOperation.INPAINT and payload.inputs.mask is not None:
        fields["mask"] = _b64(to_grayscale_mask(payload.inputs.mask.data, EditValue.WHITE))
    if payload.operation is EditOperation.OUTPAINT and payload.outpaint is not None:
        sides = payload.outpaint
        fields.update(top=sides.top, bottom=sides.bottom, left=sides.left, right=sides.right)
    return fields


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
