"""Edits on Bedrock's Amazon image models: Titan Image Generator v1/v2 and Nova Canvas.

Wire format (AWS Titan Image Generator parameter page and the Nova Canvas user guide,
"Image generation and editing", read 2026-12-04): the InvokeModel body names a `taskType`
and carries that task's parameter object beside the shared `imageGenerationConfig`
(numberOfImages 1-5, quality, cfgScale, seed; width/height only where the output size is free):

- INPAINT → INPAINTING `inPaintingParams` {image, text, negativeText, maskImage};
- EDIT → INPAINTING by words: `maskPrompt` (provider_params) names what to change, or the
  caller's mask marks it;
- OUTPAINT → OUTPAINTING `outPaintingParams`: the task keeps the masked area and repaints the
  rest of an image of the final size, so the gateway pastes the image on a canvas grown by the
  requested sides and masks the original area (`outPaintingMode` DEFAULT or PRECISE);
- REPLACE_BACKGROUND → OUTPAINTING around the subject: the caller's mask (transparent = the
  background to replace) or `maskPrompt` naming the subject to keep;
- VARIATION → IMAGE_VARIATION `imageVariationParams` {images (1-5), text, negativeText,
  similarityStrength 0.2-1.0}; the text only when the caller wrote a prompt;
- REMOVE_BACKGROUND → BACKGROUND_REMOVAL `backgroundRemovalParams` {image} and no
  `imageGenerationConfig` (Titan v2 and Nova Canvas only).

Masks hold pure black and white only: black (0) is inside the mask, white outside; inpainting
changes the inside and outpainting the outside. So the caller's mask (transparent = edit) is
converted pixel for pixel to black = edit for INPAINTING and white = edit for OUTPAINTING
(images/masks.py). Input images are PNG or JPEG with no (semi-)transparent pixel.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import JsonValue

from imagegen.errors import FieldViolation, InvalidRequestError
from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
from imagegen.images.masks import EditValue, to_grayscale_mask
from imagegen.images.operations import EditOperation
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ParamSpec, ProviderCall
from imagegen.providers.edit_prompt import written_prompt
from imagegen.providers.edit_support import EditCapability
from imagegen.providers.outpaint_canvas import canvas_size, outpaint_canvas
from imagegen.sizes import parse_size

#: IMAGE_VARIATION takes one to five images (Nova Canvas user guide; the Titan page alike).
MAX_VARIATION_IMAGES = 5
_FORMATS = frozenset({ImageFormat.PNG, ImageFormat.JPEG})

# Nova Canvas inputs follow its output size rule: sides of 320-4096 pixels, at most 4,194,304
# pixels (the Nova Canvas "supported image resolutions").
NOVA_EDIT_LIMITS = InputLimits(
    max_images=MAX_VARIATION_IMAGES,
    max_image_bytes=None,
    formats=_FORMATS,
    min_side=320,
    max_side=4096,
    max_pixels=4_194_304,
    opaque_only=True,
)
# Titan: the longer side at most 1,408 pixels, as its largest output (Titan parameter page).
TITAN_EDIT_LIMITS = InputLimits(
    max_images=MAX_VARIATION_IMAGES,
    max_image_bytes=None,
    formats=_FORMATS,
    max_side=1408,
    opaque_only=True,
)

_OPERATIONS = frozenset(
    {
        EditOperation.EDIT,
        EditOperation.INPAINT,
        EditOperation.OUTPAINT,
        EditOperation.REPLACE_BACKGROUND,
        EditOperation.VARIATION,
    }
)


def edit_params(seed_max: int) -> dict[str, ParamSpec]:
    """The provider params of an edit, in AWS's own names (as a generation's are)."""
    return {
        "negativeText": ParamSpec(str),
        "cfgScale": ParamSpec(float, minimum=1.1, maximum=10),
        "seed": ParamSpec(int, minimum=0, maximum=seed_max),
        "maskPrompt": ParamSpec(str),
        "outPaintingMode": ParamSpec(str, choices=("DEFAULT", "PRECISE")),
        "similarityStrength": ParamSpec(float, minimum=0.2, maximum=1.0),
    }


def amazon_edits(*, limits: InputLimits, seed_max: int, removes_background: bool) -> EditCapability:
    operations = _OPERATIONS | ({EditOperation.REMOVE_BACKGROUND} if removes_background else set())
    return EditCapability(
        operations=frozenset(operations), limits=limits, provider_params=edit_params(seed_max)
    )


# Which provider params each operation reads; any other is refused rather than dropped.
_READS: Mapping[EditOperation, frozenset[str]] = {
    EditOperation.INPAINT: frozenset({"negativeText", "cfgScale", "seed"}),
    EditOperation.EDIT: frozenset({"negativeText", "cfgScale", "seed", "maskPrompt"}),
    EditOperation.OUTPAINT: frozenset({"negativeText", "cfgScale", "seed", "outPaintingMode"}),
    EditOperation.REPLACE_BACKGROUND: frozenset(
        {"negativeText", "cfgScale", "seed", "maskPrompt", "outPaintingMode"}
    ),
    EditOperation.VARIATION: frozenset({"negativeText", "cfgScale", "seed", "similarityStrength"}),
    EditOperation.REMOVE_BACKGROUND: frozenset(),
}
# Provider params that go into the task's own parameter object (maskPrompt goes with the mask).
_TASK_PARAMS = ("negativeText", "outPaintingMode", "similarityStrength")


@dataclass(frozen=True, slots=True)
class _Mask:
    """The task's mask: an image or words, exactly one."""

    image: bytes | None = None
    prompt: str | None = None

    def fields(self) -> dict[str, JsonValue]:
        if self.image is not None:
            return {"maskImage": _b64(self.image)}
        return {"maskPrompt": self.prompt} if self.prompt is not None else {}


def amazon_edit_body(
    call: ProviderCall, payload: EditPayload, limits: InputLimits
) -> dict[str, JsonValue]:
    """The InvokeModel body of a Titan or Nova Canvas edit (raises INVALID_ARGUMENT, before any
    call, for what the task cannot take)."""
    operation = payload.operation
    _check_fields(call, payload)
    extra = dict(call.params.extra)
    images = payload.inputs.images
    if operation is EditOperation.REMOVE_BACKGROUND:
        return {
            "taskType": "BACKGROUND_REMOVAL",
            "backgroundRemovalParams": {"image": _b64(images[0].data)},
        }
    task: dict[str, JsonValue] = {}
    if operation is EditOperation.VARIATION:
        task["images"] = [_b64(image.data) for image in images]
        text = written_prompt(call.prompt, payload)
        if text is not None:
            task["text"] = text
    else:
        image, mask = _image_and_mask(payload, extra.get("maskPrompt"), limits)
        task.update(image=_b64(image), text=call.prompt, **mask.fields())
    for name in _TASK_PARAMS:
        if name in extra:
            task[name] = extra[name]
    config: dict[str, JsonValue] = {
        "numberOfImages": call.params.n,
        "quality": call.params.quality or call.spec.default_quality or "standard",
    }
    for name in ("cfgScale", "seed"):
        if name in extra:
            config[name] = extra[name]
    if operation is EditOperation.VARIATION and call.params.size is not None:
        size = parse_size(call.params.size)
        config.update(width=size.width, height=size.height)
    names = {
        EditOperation.VARIATION: ("IMAGE_VARIATION", "imageVariationParams"),
        EditOperation.OUTPAINT: ("OUTPAINTING", "outPaintingParams"),
        EditOperation.REPLACE_BACKGROUND: ("OUTPAINTING", "outPaintingParams"),
    }
    task_type, params_field = names.get(operation, ("INPAINTING", "inPaintingParams"))
    return {"taskType": task_type, params_field: task, "imageGenerationConfig": config}


def _image_and_mask(
    payload: EditPayload, mask_prompt: JsonValue, limits: InputLimits
) -> tuple[bytes, _Mask]:
    operation = payload.operation
    image = payload.inputs.images[0].data
    given = payload.inputs.mask
    words = mask_prompt if isinstance(mask_prompt, str) else None
    if operation is EditOperation.OUTPAINT:
        sides = payload.outpaint
        if sides is None:
            raise _refuse("outpaint", "the outpaint operation needs the sides to extend")
        first = payload.inputs.images[0]
        _check_canvas(canvas_size(first.width, first.height, sides), limits)
        canvas = outpaint_canvas(image, sides, EditValue.WHITE)
        return canvas.image, _Mask(image=canvas.mask)
    if given is not None and words is not None:
        raise _refuse("provider_params.maskPrompt", "send a mask or a maskPrompt, not both")
    # Inpainting changes the inside of the mask (black); outpainting the outside (white).
    edit_value = (
        EditValue.WHITE if operation is EditOperation.REPLACE_BACKGROUND else EditValue.BLACK
    )
    if given is not None:
        return image, _Mask(image=to_grayscale_mask(given.data, edit_value))
    if words is None:
        wanted = "the subject to keep" if edit_value is EditValue.WHITE else "what to change"
        raise _refuse(
            "provider_params.maskPrompt",
            f"the {operation.value} operation needs a mask or a maskPrompt naming {wanted}",
        )
    return image, _Mask(prompt=words)


def _check_fields(call: ProviderCall, payload: EditPayload) -> None:
    operation = payload.operation
    reads = _READS[operation]
    for name in call.params.extra:
        if name not in reads:
            raise _refuse(
                f"provider_params.{name}",
                f"{name} does not apply to the {operation.value} operation",
            )
    if len(payload.inputs.images) > 1 and operation is not EditOperation.VARIATION:
        raise _refuse("images", f"the {operation.value} operation takes one input image")
    if payload.inputs.mask is not None and operation in (
        EditOperation.OUTPAINT,
        EditOperation.VARIATION,
        EditOperation.REMOVE_BACKGROUND,
    ):
        raise _refuse("mask", f"the {operation.value} operation takes no mask")
    if call.params.size is not None and operation is not EditOperation.VARIATION:
        raise _refuse("size", f"the {operation.value} operation answers at the input's size")
    if call.params.style is not None:
        raise _refuse("style", "style applies to text-to-image generation only")
    if operation is EditOperation.REMOVE_BACKGROUND and (call.params.n > 1 or call.params.quality):
        field = "n" if call.params.n > 1 else "quality"
        raise _refuse(field, "background removal makes one image and takes no image settings")


def _check_canvas(size: tuple[int, int], limits: InputLimits) -> None:
    width, height = size
    too_big = (limits.max_side is not None and max(width, height) > limits.max_side) or (
        limits.max_pixels is not None and width * height > limits.max_pixels
    )
    if too_big:
        raise _refuse(
            "outpaint",
            f"the outpainted canvas would be {width}x{height}, larger than this model takes",
        )


def _refuse(field: str, description: str) -> InvalidRequestError:
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation(field, description)],
        metadata={"field": field},
        request_sent=False,
    )


def _b64(data: bytes) -> str:
    # Base64 is Bedrock's wire format; on the gateway's own legs images stay raw bytes.
    return base64.b64encode(data).decode("ascii")
