"""Stability AI Image Services on Bedrock: one model id per editing tool, each served as edits.

Wire format (AWS "Stability AI Image Services" user guide and AWS's own sample notebook for
them, aws-samples/stabilityai-sample-notebooks, read 2026-12-04): InvokeModel with a JSON body
of Stability's v2beta fields, images as base64 strings, and the answer every Stability model on
Bedrock gives, `{"seeds", "finish_reasons", "images"}`. Model ids (in-region or with a
cross-region prefix such as `us.`), each mapped to the normalised operation it performs:

| model id                                      | operation          | images sent            |
|-----------------------------------------------|--------------------|------------------------|
| stability.stable-image-inpaint-v1:0           | INPAINT            | image, mask            |
| stability.stable-outpaint-v1:0                | OUTPAINT           | image, left/right/up/down |
| stability.stable-image-search-replace-v1:0    | EDIT (search_prompt) | image                |
| stability.stable-image-erase-object-v1:0      | ERASE              | image, mask            |
| stability.stable-image-remove-background-v1:0 | REMOVE_BACKGROUND  | image                  |
| stability.stable-conservative-upscale-v1:0    | UPSCALE (prompt)   | image                  |
| stability.stable-creative-upscale-v1:0        | UPSCALE (prompt)   | image                  |
| stability.stable-fast-upscale-v1:0            | UPSCALE            | image                  |
| stability.stable-style-transfer-v1:0          | EDIT (two images)  | init_image, style_image |

Masks follow Stability's convention, not Titan's: white is full inpainting strength, black none,
so the caller's mask (transparent = edit) becomes white = edit, pixel for pixel. Search and
recolor, the control tools (sketch, structure) and style guide have no normalised operation and
are not served. The input bounds are Stability's own for the same tools (platform.stability.ai
API reference). AWS's price page for these tools was not at hand: their cost is unknown unless
a deployment sets `model_info.output_cost_per_image`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import JsonValue

from imagegen.errors import FieldViolation, InvalidRequestError
from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
from imagegen.images.masks import EditValue, to_grayscale_mask
from imagegen.images.operations import EditOperation
from imagegen.providers.base import ModelSpec, ParamSpec, ProviderCall
from imagegen.providers.edit_prompt import written_prompt
from imagegen.providers.edit_support import EditCapability
from imagegen.providers.stability_styles import STYLE_PRESETS
from imagegen.types import MAX_IMAGES_PER_REQUEST, ResponseFormat

_FORMATS = frozenset({ImageFormat.PNG, ImageFormat.JPEG, ImageFormat.WEBP})
#: Stability's outpaint extends each side by 0-2000 pixels.
MAX_OUTPAINT_SIDE = 2000
_SEED = ParamSpec(int, minimum=0, maximum=4_294_967_294)
_OUTPUT = ParamSpec(str, choices=("png", "jpeg", "webp"))
_NEGATIVE = ParamSpec(str)
_STYLE = ParamSpec(str, choices=STYLE_PRESETS)


def _limits(*, max_pixels: int, min_side: int = 64, max_side: int | None = None) -> InputLimits:
    return InputLimits(
        max_images=1,
        max_image_bytes=None,
        formats=_FORMATS,
        min_side=min_side,
        max_side=max_side,
        max_pixels=max_pixels,
    )


# Stability's bounds: at least 64 pixels a side and at most 9,437,184 pixels for most tools;
# remove background at most 4,194,304; creative upscale at most 1,048,576; fast upscale sides of
# 32-1536 pixels and at most 1,048,576 pixels.
_EDIT_LIMITS = _limits(max_pixels=9_437_184)


@dataclass(frozen=True, slots=True)
class StabilityService:
    """One image service: what it does, what it reads and how its body is named."""

    family: str
    operation: EditOperation
    limits: InputLimits
    params: Mapping[str, ParamSpec]
    #: Whether the tool reads a `prompt` field, and whether it refuses to work without one.
    sends_prompt: bool = False
    needs_prompt: bool = False
    #: The wire names of the input images, in the caller's order.
    image_fields: tuple[str, ...] = ("image",)
    #: Provider params the tool cannot work without.
    required: tuple[str, ...] = field(default=())

    @property
    def takes_mask(self) -> bool:
        return self.operation.needs_mask

    def spec(self) -> ModelSpec:
        limits = self.limits
        if len(self.image_fields) > 1:
            limits = InputLimits(
                max_images=len(self.image_fields),
                max_image_bytes=limits.max_image_bytes,
                formats=limits.formats,
                min_side=limits.min_side,
                max_side=limits.max_side,
                max_pixels=limits.max_pixels,
            )
        capability = EditCapability(
            operations=frozenset({self.operation}), limits=limits, takes_mask=self.takes_mask
        )
        return ModelSpec(
            family=self.family,
            params=frozenset({"n", "response_format"}),
            max_prompt_chars=10_000,
            max_n=MAX_IMAGES_PER_REQUEST,
            max_images_per_call=1,
            response_formats=(ResponseFormat.B64_JSON,),
            send_response_format=False,
            provider_params=dict(self.params),
            edit=capability,
        )


SERVICES: Mapping[str, StabilityService] = {
    service.family: service
    for service in (
        StabilityService(
            "stability.stable-image-inpaint-v1",
            EditOperation.INPAINT,
            _EDIT_LIMITS,
            {
                "negative_prompt": _NEGATIVE,
                "seed": _SEED,
                "output_format": _OUTPUT,
                "style_preset": _STYLE,
                "grow_mask": ParamSpec(int, minimum=0, maximum=100),
            },
            sends_prompt=True,
        ),
        StabilityService(
            "stability.stable-outpaint-v1",
            EditOperation.OUTPAINT,
            _EDIT_LIMITS,
            {
                "creativity": ParamSpec(float, minimum=0, maximum=1),
                "seed": _SEED,
                "output_format": _OUTPUT,
                "style_preset": _STYLE,
            },
            sends_prompt=True,
        ),
        StabilityService(
            "stability.stable-image-search-replace-v1",
            EditOperation.EDIT,
            _EDIT_LIMITS,
            {
                "search_prompt": ParamSpec(str),
                "negative_prompt": _NEGATIVE,
                "seed": _SEED,
                "output_format": _OUTPUT,
                "grow_mask": ParamSpec(int, minimum=0, maximum=20),
                "style_preset": _STYLE,
            },
            sends_prompt=True,
            required=("search_prompt",),
        ),
        StabilityService(
            "stability.stable-image-erase-object-v1",
            EditOperation.ERASE,
            _EDIT_LIMITS,
            {
                "seed": _SEED,
                "output_format": _OUTPUT,
                "grow_mask": ParamSpec(int, minimum=0, maximum=20),
            },
        ),
        StabilityService(
            "stability.stable-image-remove-background-v1",
            EditOperation.REMOVE_BACKGROUND,
            _limits(max_pixels=4_194_304),
            {"output_format": _OUTPUT},
        ),
        StabilityService(
            "stability.stable-conservative-upscale-v1",
            EditOperation.UPSCALE,
            _EDIT_LIMITS,
            {
                "negative_prompt": _NEGATIVE,
                "seed": _SEED,
                "creativity": ParamSpec(float, minimum=0.2, maximum=0.5),
                "output_format": _OUTPUT,
            },
            sends_prompt=True,
            needs_prompt=True,
        ),
        StabilityService(
            "stability.stable-creative-upscale-v1",
            EditOperation.UPSCALE,
            _limits(max_pixels=1_048_576),
            {
                "negative_prompt": _NEGATIVE,
                "seed": _SEED,
                "creativity": ParamSpec(float, minimum=0.1, maximum=0.5),
                "output_format": _OUTPUT,
                "style_preset": _STYLE,
            },
            sends_prompt=True,
            needs_prompt=True,
        ),
        StabilityService(
            "stability.stable-fast-upscale-v1",
            EditOperation.UPSCALE,
            _limits(max_pixels=1_048_576, min_side=32, max_side=1536),
            {"output_format": _OUTPUT},
        ),
        StabilityService(
            "stability.stable-style-transfer-v1",
            EditOperation.EDIT,
            _EDIT_LIMITS,
            {
                "negative_prompt": _NEGATIVE,
                "seed": _SEED,
                "output_format": _OUTPUT,
                "style_strength": ParamSpec(float, minimum=0, maximum=1),
                "composition_fidelity": ParamSpec(float, minimum=0, maximum=1),
                "change_strength": ParamSpec(float, minimum=0.1, maximum=1),
            },
            sends_prompt=True,
            image_fields=("init_image", "style_image"),
        ),
    )
}


def service_body(service: StabilityService, call: ProviderCall) -> dict[str, JsonValue]:
    """The InvokeModel body of an image-service edit (INVALID_ARGUMENT, before any call, for
    what the tool cannot take)."""
    payload = call.edit
    if payload is None:
        raise _refuse("model", f"{call.provider_model} edits images: call EditImages with an image")
    images = payload.inputs.images
    if len(images) != len(service.image_fields):
        wanted = " and ".join(service.image_fields)
        raise _refuse("images", f"{call.provider_model} takes {wanted}: send them in that order")
    for name in service.required:
        if name not in call.params.extra:
            raise _refuse(f"provider_params.{name}", f"{call.provider_model} needs {name}")
    body: dict[str, JsonValue] = {}
    prompt = written_prompt(call.prompt, payload)
    if service.needs_prompt and prompt is None:
        raise _refuse("prompt", f"{call.provider_model} needs a prompt describing the image")
    if service.sends_prompt and prompt is not None:
        body["prompt"] = prompt
    for name, image in zip(service.image_fields, images, strict=True):
        body[name] = _b64(image.data)
    if payload.inputs.mask is not None:
        body["mask"] = _b64(to_grayscale_mask(payload.inputs.mask.data, EditValue.WHITE))
    sides = payload.outpaint
    if service.operation is EditOperation.OUTPAINT and sides is not None:
        if max(sides.left, sides.right, sides.top, sides.bottom) > MAX_OUTPAINT_SIDE:
            raise _refuse("outpaint", f"each side extends by at most {MAX_OUTPAINT_SIDE} pixels")
        body.update(left=sides.left, right=sides.right, up=sides.top, down=sides.bottom)
    body.update(call.params.extra)
    return body


def _refuse(field_name: str, description: str) -> InvalidRequestError:
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation(field_name, description)],
        metadata={"field": field_name},
        request_sent=False,
    )


def _b64(data: bytes) -> str:
    # Base64 is Bedrock's wire format; on the gateway's own legs images stay raw bytes.
    return base64.b64encode(data).decode("ascii")
