"""Edits on fal: FLUX.1 Kontext [pro] and [max] (`fal-ai/flux-pro/kontext`, `.../kontext/max`).

Both apps take the same input: `prompt`, one `image_url` (a URL or a data URI; the gateway
sends a `data:image/png;base64,...` style data URI carrying the caller's exact bytes),
`num_images` and `seed`. Only those are sent and checked here (fal's pages list more, e.g.
`guidance_scale`, `safety_tolerance`, `output_format`, `aspect_ratio`; not yet verified, so
not declared). They edit by instruction (EDIT) only: one input image, no mask. The
multi-image app (`.../kontext/max/multi`, `image_urls`) is not declared here. No fal price
for them is confirmed, so they cost "unknown".
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

# fal documents no byte or pixel bound for the input: the gateway-wide ceilings apply.
KONTEXT_INPUT_LIMITS = InputLimits(
    max_images=1,
    max_image_bytes=None,
    formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP}),
)
KONTEXT_EDITS = EditCapability(
    operations=frozenset({EditOperation.EDIT}), limits=KONTEXT_INPUT_LIMITS, takes_mask=False
)
_MIME = {
    ImageFormat.PNG: "image/png",
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.WEBP: "image/webp",
}


def with_kontext_edits(spec: ModelSpec) -> ModelSpec:
    return replace(spec, edit=KONTEXT_EDITS)


def edit_fields(payload: EditPayload) -> dict[str, JsonValue]:
    """The submit body's input fields: the one input image as `image_url` (a data URI)."""
    return {"image_url": data_uri(payload.inputs.images[0].data)}


def data_uri(data: bytes) -> str:
    return f"data:{_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def _mime(data: bytes) -> str:
    if data.startswith(b"\xff\xd8"):
        return _MIME[ImageFormat.JPEG]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _MIME[ImageFormat.WEBP]
    return _MIME[ImageFormat.PNG]
