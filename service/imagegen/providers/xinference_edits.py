"""Edits on Xinference: its image-to-image and inpainting routes, as multipart forms.

Wire format (xorbitsai/inference `xinference/api/restful_api.py`, `create_variations` and
`create_inpainting`, and `xinference/api/routers/images.py`, read at the 2026-08-23 HEAD):

- EDIT → `POST /v1/images/variations`: `model` (the launched model's UID), `prompt`,
  `negative_prompt`, `n`, `response_format`, `size` ("W*H", optional: the pipeline's own
  otherwise), `kwargs` (a JSON-encoded string of pipeline arguments) as form fields, and the
  input images as file parts all named `image`, in order (one image goes to the pipeline as
  itself, several as a list, for models that take references).
- INPAINT → `POST /v1/images/inpainting`: the same fields, one `image` and a `mask_image`.
  The mask goes to a diffusers inpainting pipeline, which repaints white pixels and keeps
  black ones; the caller's mask (transparent = edit) is converted pixel for pixel. Several
  images, or a mask on the image-to-image route, are refused before the call.

Both answer like `/v1/images/generations` (`{created, data: [{url | b64_json}]}`); the
adapter asks for b64_json, as for generations (a `url` is a path on the Xinference host).
Xinference documents no input bounds: the gateway-wide ceilings apply, and at most
`MAX_INPUT_IMAGES` references (a bound of the gateway's own choosing).
"""

from __future__ import annotations

import json
from dataclasses import replace

from pydantic import JsonValue

from imagegen.errors import FieldViolation, InvalidRequestError
from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
from imagegen.images.masks import EditValue, to_grayscale_mask
from imagegen.images.operations import EditOperation
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ModelSpec
from imagegen.providers.edit_support import EditCapability
from imagegen.providers.multipart import FilePart

#: The gateway's own bound on references per call (Xinference documents none).
MAX_INPUT_IMAGES = 8

XINFERENCE_EDITS = EditCapability(
    operations=frozenset({EditOperation.EDIT, EditOperation.INPAINT}),
    limits=InputLimits(
        max_images=MAX_INPUT_IMAGES,
        max_image_bytes=None,
        formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP}),
    ),
)

_ROUTES = {EditOperation.EDIT: "variations", EditOperation.INPAINT: "inpainting"}


def with_edits(spec: ModelSpec) -> ModelSpec:
    return replace(spec, edit=XINFERENCE_EDITS)


def check_edit(payload: EditPayload) -> None:
    """INVALID_ARGUMENT, before any call, for inputs a route cannot take: the inpainting
    route reads one image, and the image-to-image route has no mask field (a mask sent there
    would be dropped, and the whole image repainted)."""
    operation = payload.operation
    if operation is EditOperation.INPAINT and len(payload.inputs.images) > 1:
        raise _refuse("images", "the inpaint operation takes one input image")
    if operation is EditOperation.EDIT and payload.inputs.mask is not None:
        raise _refuse(
            "mask", "image to image takes no mask: use the inpaint operation to edit under one"
        )


def _refuse(field: str, description: str) -> InvalidRequestError:
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation(field, description)],
        metadata={"field": field},
        request_sent=False,
    )


def edit_route(payload: EditPayload) -> str:
    return _ROUTES[payload.operation]


def edit_fields(
    model: str, prompt: str, n: int, size: str | None, extra: dict[str, JsonValue]
) -> dict[str, str]:
    """The form's text fields (the generation's, spelled as form values)."""
    fields = {"model": model, "prompt": prompt, "n": str(n), "response_format": "b64_json"}
    if size is not None:
        fields["size"] = size.replace("x", "*")
    if extra:
        fields["kwargs"] = json.dumps(extra, separators=(",", ":"))
    return fields


def edit_files(payload: EditPayload) -> list[tuple[str, FilePart]]:
    """Every input as an `image` part in order; for inpainting the converted `mask_image`."""
    files = [
        (
            "image",
            FilePart(image.data, f"image{index}.{image.format.value}", image.format.mime_type),
        )
        for index, image in enumerate(payload.inputs.images)
    ]
    if payload.operation is EditOperation.INPAINT and payload.inputs.mask is not None:
        mask = to_grayscale_mask(payload.inputs.mask.data, EditValue.WHITE)
        files.append(("mask_image", FilePart(mask, "mask.png", "image/png")))
    return files
