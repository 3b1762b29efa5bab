"""Edits on Stability's v2beta edit endpoints, one model name per endpoint.

Wire format (platform.stability.ai/docs/api-reference, "Edit" v2beta, read 2026-12-04):
`POST /v2beta/stable-image/edit/{route}` with the same bearer key, `Accept` and multipart form
as a generation, the input as an `image` file part and:

- `inpaint` (INPAINT): `prompt` and a `mask` file, black and white, white = full inpainting
  strength and black = none; the gateway converts the caller's mask (transparent = edit)
  pixel for pixel with images/masks.py.
- `outpaint` (OUTPAINT): `left`, `right`, `up`, `down` (0..2000 pixels each), `prompt` optional.
- `erase` (ERASE): a `mask` in the same convention; no prompt.
- `remove-background` (REMOVE_BACKGROUND): the image alone.

The answer is the generation's (`image` base64, `finish_reason`). Inputs are JPEG, PNG or
WebP with every side at least 64 pixels, between 4,096 and 9,437,184 pixels (remove-background:
at most 4,194,304). Stability's pricing page was not at hand for these endpoints, so they have
no price row: their cost is reported as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
from imagegen.images.masks import EditValue, to_grayscale_mask
from imagegen.images.operations import EditOperation
from imagegen.images.payload import EditPayload
from imagegen.providers.edit_support import EditCapability
from imagegen.providers.multipart import FilePart

_FORMATS = frozenset({ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP})


def _limits(max_pixels: int) -> InputLimits:
    return InputLimits(
        max_images=1, max_image_bytes=None, formats=_FORMATS, max_pixels=max_pixels, min_side=64
    )


@dataclass(frozen=True, slots=True)
class EditRoute:
    """One edit endpoint: its path segment, what it serves and whether it reads a prompt."""

    route: str
    capability: EditCapability
    sends_prompt: bool


def _route(
    route: str, operation: EditOperation, *, max_pixels: int, mask: bool, prompt: bool
) -> EditRoute:
    capability = EditCapability(
        operations=frozenset({operation}), limits=_limits(max_pixels), takes_mask=mask
    )
    return EditRoute(route, capability, sends_prompt=prompt)


EDIT_ROUTES: Mapping[str, EditRoute] = {
    "inpaint": _route(
        "inpaint", EditOperation.INPAINT, max_pixels=9_437_184, mask=True, prompt=True
    ),
    "outpaint": _route(
        "outpaint", EditOperation.OUTPAINT, max_pixels=9_437_184, mask=False, prompt=True
    ),
    "erase": _route("erase", EditOperation.ERASE, max_pixels=9_437_184, mask=True, prompt=False),
    "remove-background": _route(
        "remove-background",
        EditOperation.REMOVE_BACKGROUND,
        max_pixels=4_194_304,
        mask=False,
        prompt=False,
    ),
}


def edit_files(payload: EditPayload) -> dict[str, FilePart]:
    """The `image` part and, for a masked operation, the converted `mask` part."""
    image = payload.inputs.images[0]
    files = {"image": FilePart(image.data, f"image.{image.format.value}", image.format.mime_type)}
    if payload.inputs.mask is not None:
        mask = to_grayscale_mask(payload.inputs.mask.data, EditValue.WHITE)
        files["mask"] = FilePart(mask, "mask.png", "image/png")
    return files


def outpaint_fields(payload: EditPayload) -> dict[str, str]:
    sides = payload.outpaint
    if sides is None:
        return {}
    return {
        "left": str(sides.left),
        "right": str(sides.right),
        "up": str(sides.top),
        "down": str(sides.bottom),
    }
