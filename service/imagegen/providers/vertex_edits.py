"""Edits on Vertex AI: Gemini image models (`:generateContent`) and Imagen capability editing.

Gemini image models speak the Gemini API's edit format on Vertex too (gemini_edits.py): every
input image as an inline data part after the text, in order; instruction only, no mask.

Imagen capability editing (`imagen-3.0-capability-001`, `:predict`; "Edit images" in the Vertex
AI model reference, https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/
imagen-api-edit, read 2026-12-04): the instance carries the prompt and `referenceImages`, a
REFERENCE_TYPE_RAW entry (the image) and a REFERENCE_TYPE_MASK entry whose `maskImageConfig`
says where the mask comes from; `parameters.editMode` picks the edit:

- INPAINT → EDIT_MODE_INPAINT_INSERTION, ERASE → EDIT_MODE_INPAINT_REMOVAL: the caller's mask,
  MASK_MODE_USER_PROVIDED;
- OUTPAINT → EDIT_MODE_OUTPAINT: Vertex takes the final canvas, so the gateway pastes the image
  on a canvas grown by the requested sides and sends the mask of the new area;
- REPLACE_BACKGROUND → EDIT_MODE_BGSWAP: the caller's mask when given, otherwise
  MASK_MODE_BACKGROUND (Vertex finds the background itself).

Masks: Vertex edits where the mask is non-zero (the MaskReferenceImage type of the Google Gen AI
SDKs), so the caller's mask (transparent = edit) becomes white = edit, pixel for pixel
(images/masks.py). `base_steps` goes to `parameters.editConfig.baseSteps` and `mask_dilation` to
`maskImageConfig.dilation`, where the Google Gen AI SDK puts them (`EditImageConfig`,
`MaskReferenceConfig`); the other provider params are Imagen's. Google lists every Imagen
model as deprecated, to be shut down as early as 2026-08-17; this works while the model is
served. No first-party price for the capability model was at hand: its cost is unknown unless
the deployment sets `model_info.output_cost_per_image`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import JsonValue

from imagegen.errors import FieldViolation, InvalidRequestError
from imagegen.images.formats import ImageFormat
from imagegen.images.limits import MB, InputLimits
from imagegen.images.masks import EditValue, to_grayscale_mask
from imagegen.images.operations import EditOperation
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ModelSpec, ParamSpec, ProviderCall
from imagegen.providers.edit_prompt import written_prompt
from imagegen.providers.edit_support import EditCapability
from imagegen.providers.google_common import GoogleImageModel, Route
from imagegen.providers.outpaint_canvas import outpaint_canvas
from imagegen.types import MAX_IMAGES_PER_REQUEST, MAX_PROMPT_CHARS, ResponseFormat

CAPABILITY_FAMILY = "imagen-3.0-capability"

EDIT_MODES: Mapping[EditOperation, str] = {
    EditOperation.INPAINT: "EDIT_MODE_INPAINT_INSERTION",
    EditOperation.ERASE: "EDIT_MODE_INPAINT_REMOVAL",
    EditOperation.OUTPAINT: "EDIT_MODE_OUTPAINT",
    EditOperation.REPLACE_BACKGROUND: "EDIT_MODE_BGSWAP",
}

# One RAW reference; "Maximum image size uploaded or sent in a request: 10 MB" (Vertex Imagen
# limits); PNG or JPEG (the SDK's Image type).
CAPABILITY_LIMITS = InputLimits(
    max_images=1,
    max_image_bytes=10 * MB,
    formats=frozenset({ImageFormat.PNG, ImageFormat.JPEG}),
    max_mask_bytes=10 * MB,
)
CAPABILITY_EDITS = EditCapability(operations=frozenset(EDIT_MODES), limits=CAPABILITY_LIMITS)


def capability_spec(imagen_extras: Mapping[str, ParamSpec]) -> ModelSpec:
    """The capability model: edits only, at the input's own size (no size or ratio)."""
    extras = {
        **{k: v for k, v in imagen_extras.items() if k not in ("output_gcs_uri", "enhance_prompt")},
        "base_steps": ParamSpec(int, minimum=1, maximum=100),
        "mask_dilation": ParamSpec(float, minimum=0, maximum=1),
    }
    return ModelSpec(
        family=CAPABILITY_FAMILY,
        params=frozenset({"n", "response_format"}),
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        # sampleCount 1-4, as for generation; the gateway fans out above that.
        max_images_per_call=4,
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params=extras,
        edit=CAPABILITY_EDITS,
    )


def capability_model(imagen_extras: Mapping[str, ParamSpec]) -> GoogleImageModel:
    # No tiers: the output has the input's size, so nothing size-dependent is sent or priced.
    return GoogleImageModel(
        capability_spec(imagen_extras), Route.PREDICT, tiers=(), sends_image_size=False
    )


def is_capability_model(model_id: str) -> bool:
    return model_id.lower().startswith(CAPABILITY_FAMILY)


def without_edit_params(call: ProviderCall) -> ProviderCall:
    """`call` without the provider params that do not go into Imagen's `parameters`."""
    extra = {k: v for k, v in call.params.extra.items() if k not in ("base_steps", "mask_dilation")}
    return replace(call, params=replace(call.params, extra=extra))


def capability_body(
    call: ProviderCall, generic: dict[str, JsonValue], payload: EditPayload | None
) -> dict[str, JsonValue]:
    """The `:predict` body of an edit: `generic` (the Imagen body of the call without the
    edit-only params) with the reference images, the edit mode and the edit config."""
    if payload is None:
        description = f"{call.provider_model} edits images: call EditImages with an input image"
        raise InvalidRequestError(
            description,
            field_violations=[FieldViolation("model", description)],
            metadata={"field": "model"},
            request_sent=False,
        )
    instances: Any = generic["instances"]
    parameters: Any = generic["parameters"]
    references = _references(call, payload)
    # Object removal reads any prompt as guidance: the gateway's stand-in is not sent.
    prompt = written_prompt(call.prompt, payload) or ""
    instance = {**instances[0], "prompt": prompt, "referenceImages": references}
    parameters = {**parameters, "editMode": EDIT_MODES[payload.operation]}
    base_steps = call.params.extra.get("base_steps")
    if base_steps is not None:
        parameters["editConfig"] = {"baseSteps": base_steps}
    return {**generic, "instances": [instance], "parameters": parameters}


def _references(call: ProviderCall, payload: EditPayload) -> list[JsonValue]:
    first = payload.inputs.images[0]
    image, image_type = first.data, first.format.mime_type
    mask: bytes | None = None
    mode = "MASK_MODE_USER_PROVIDED"
    if payload.operation is EditOperation.OUTPAINT and payload.outpaint is not None:
        canvas = outpaint_canvas(image, payload.outpaint, EditValue.WHITE)
        image, image_type, mask = canvas.image, "image/png", canvas.mask
    elif payload.inputs.mask is not None:
        mask = to_grayscale_mask(payload.inputs.mask.data, EditValue.WHITE)
    elif payload.operation is EditOperation.REPLACE_BACKGROUND:
        mode = "MASK_MODE_BACKGROUND"
    config: dict[str, JsonValue] = {"maskMode": mode}
    dilation = call.params.extra.get("mask_dilation")
    if dilation is not None:
        config["dilation"] = dilation
    mask_reference: dict[str, JsonValue] = {
        "referenceType": "REFERENCE_TYPE_MASK",
        "referenceId": 2,
        "maskImageConfig": config,
    }
    if mask is not None:
        mask_reference["referenceImage"] = {
            "bytesBase64Encoded": _b64(mask),
            "mimeType": "image/png",
        }
    raw: dict[str, JsonValue] = {
        "referenceType": "REFERENCE_TYPE_RAW",
        "referenceId": 1,
        "referenceImage": {"bytesBase64Encoded": _b64(image), "mimeType": image_type},
    }
    return [raw, mask_reference]


def _b64(data: bytes) -> str:
    # Base64 is Vertex's wire format; on the gateway's own legs images stay raw bytes.
    return base64.b64encode(data).decode("ascii")
