"""Edits on Black Forest Labs' FLUX.1 Kontext models: an instruction edit of `input_image`.

Wire format (docs.bfl.ai, the Kontext image-editing page and API reference, read 2026-12-04):
the same `POST /v1/{model}` submit and polling as a generation, with the first input image as
`input_image` (base64 or a URL; the gateway sends base64) and, for Kontext's multi-reference
mode, further references as `input_image_2` .. `input_image_4`. Kontext edits by instruction
only: no mask. Base64 is the provider's wire format; on the gateway's own legs the images stay
raw bytes.
"""

from __future__ import annotations

import base64
from dataclasses import replace

from pydantic import JsonValue

from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
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


def with_kontext_edits(spec: ModelSpec) -> ModelSpec:
    return replace(spec, edit=KONTEXT_EDITS)


def input_image_fields(payload: EditPayload) -> dict[str, JsonValue]:
    """`input_image`, `input_image_2`, ... in the caller's order."""
    fields: dict[str, JsonValue] = {}
    for index, image in enumerate(payload.inputs.images, start=1):
        name = "input_image" if index == 1 else f"input_image_{index}"
        fields[name] = base64.b64encode(image.data).decode("ascii")
    return fields
