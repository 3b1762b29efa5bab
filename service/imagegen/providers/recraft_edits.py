"""Edits on Recraft: its image endpoints, each serving one normalised operation.

Wire format (Recraft's OpenAPI `external-api.yaml` and the tool pages under
recraft.ai/docs/api-reference/tools, read 2026-12-04): `POST {api_base}/images/{endpoint}`
with the same bearer key as a generation and a **multipart/form-data** body whose `image`
(and `mask`) are file parts. Two kinds of endpoint:

- model endpoints, taking `prompt`, `model`, `n`, `style` and the flat generation fields and
  answering like a generation (`{created, credits, data: [...]}`):
  * `imageToImage` (EDIT): the image and `strength` (0..1, required: how far the result may
    move from the input). Recraft V3, V4 and V4.1 models.
  * `inpaint` (INPAINT): the image and a grayscale `mask` of its size, pure white (255)
    regenerated and pure black (0) kept, nothing else allowed. The caller's mask
    (transparent = edit) is converted pixel for pixel by images/masks.py. V3 models only.
  * `replaceBackground` (REPLACE_BACKGROUND): the image and a prompt for the new
    background. V3 models only.
- tool endpoints, which take no model and answer one image (`{created, credits, image}`),
  served here as models named after them:
  * `vectorize` (VECTORIZE): answers an SVG document (`image/svg+xml`, no pixel size);
  * `remove-background` (REMOVE_BACKGROUND) → `removeBackground`;
  * `crisp-upscale` and `creative-upscale` (UPSCALE) → `crispUpscale`, `creativeUpscale`;
  * `erase-region` (ERASE) → `eraseRegion`, with a mask in the inpainting convention.

Inputs are PNG, JPEG or WebP (SVG input is accepted by Recraft but not by the gateway's
sniffing), under 10 MB, at most 16 MP, sides 256..4096 px. The nested generation fields
(`controls`, `text_layout`) do not travel in a flat form, so edits refuse them.

Every answer carries `credits`, the API units charged (1,000 units = 1 USD): the result's
cost is that, ahead of any price row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from pydantic import JsonValue

from imagegen.images.limits import RECRAFT
from imagegen.images.masks import EditValue, to_grayscale_mask
from imagegen.images.operations import EditOperation
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ModelSpec, ParamSpec
from imagegen.providers.edit_support import EditCapability
from imagegen.providers.multipart import FilePart
from imagegen.types import MAX_PROMPT_CHARS

#: API units per US dollar (recraft.ai/docs/api-reference/pricing, read 2026-12-04).
UNITS_PER_USD = Decimal(1000)

_FLAG = ParamSpec(bool)
_TEXT = ParamSpec(str)
_IMAGE_FORMAT = ParamSpec(str, choices=("webp", "png"))

# The flat fields a model endpoint reads beside the image (`controls` and `text_layout`
# are JSON structures: not sent in a form).
_MODEL_EDIT_PARAMS: Mapping[str, ParamSpec] = {
    "negative_prompt": _TEXT,
    "substyle": _TEXT,
    "style_id": _TEXT,
    "random_seed": ParamSpec(int, minimum=0, maximum=2**32 - 1),
    "image_format": _IMAGE_FORMAT,
    "block_nsfw": _FLAG,
    "expire": _FLAG,
}
# imageToImage's own, required field.
STRENGTH = "strength"
_IMAGE_TO_IMAGE_PARAMS = {**_MODEL_EDIT_PARAMS, STRENGTH: ParamSpec(float, minimum=0, maximum=1)}
_TOOL_PARAMS: Mapping[str, ParamSpec] = {"image_format": _IMAGE_FORMAT, "expire": _FLAG}


@dataclass(frozen=True, slots=True)
class RecraftEndpoint:
    """One image endpoint: its path, what it serves and which fields it reads."""

    path: str
    operation: EditOperation
    #: Model endpoints read prompt, model, n and style; tools read the image (and mask) only.
    takes_model: bool
    #: Tools answer `{image: ...}`, model endpoints `{data: [...]}`.
    answers_one: bool


_MODEL_ENDPOINTS: Mapping[EditOperation, RecraftEndpoint] = {
    EditOperation.EDIT: RecraftEndpoint("imageToImage", EditOperation.EDIT, True, False),
    EditOperation.INPAINT: RecraftEndpoint("inpaint", EditOperation.INPAINT, True, False),
    EditOperation.REPLACE_BACKGROUND: RecraftEndpoint(
        "replaceBackground", EditOperation.REPLACE_BACKGROUND, True, False
    ),
}

#: Tool models, by the gateway's name for them.
TOOL_ENDPOINTS: Mapping[str, RecraftEndpoint] = {
    "vectorize": RecraftEndpoint("vectorize", EditOperation.VECTORIZE, False, True),
    "remove-background": RecraftEndpoint(
        "removeBackground", EditOperation.REMOVE_BACKGROUND, False, True
    ),
    "crisp-upscale": RecraftEndpoint("crispUpscale", EditOperation.UPSCALE, False, True),
    "creative-upscale": RecraftEndpoint("creativeUpscale", EditOperation.UPSCALE, False, True),
    "erase-region": RecraftEndpoint("eraseRegion", EditOperation.ERASE, False, True),
}

_MODEL_PARAMS = frozenset({"n", "style", "response_format"})

#: V3 models: image to image, inpainting and background replacement (the V3 model page:
#: "inpainting, outpainting, and the background operations run on V3 models only").
V3_EDITS = EditCapability(
    operations=frozenset(_MODEL_ENDPOINTS),
    limits=RECRAFT,
    provider_params=_IMAGE_TO_IMAGE_PARAMS,
    params=_MODEL_PARAMS,
)
#: V4 and V4.1 models: image to image only (the image-to-image tool page).
V4_EDITS = EditCapability(
    operations=frozenset({EditOperation.EDIT}),
    limits=RECRAFT,
    provider_params=_IMAGE_TO_IMAGE_PARAMS,
    params=frozenset({"n", "response_format"}),
    takes_mask=False,
)


def with_edits(spec: ModelSpec) -> ModelSpec:
    """`spec` with the edits its family serves (V2 serves none)."""
    family = spec.family
    if family.startswith("recraftv3"):
        return replace(spec, edit=V3_EDITS)
    if family.startswith("recraftv4"):
        return replace(spec, edit=V4_EDITS)
    return spec


def tool_spec(name: str, endpoint: RecraftEndpoint) -> ModelSpec:
    """An edit-only model for a tool endpoint: one image per call, no prompt sent."""
    capability = EditCapability(
        operations=frozenset({endpoint.operation}),
        limits=RECRAFT,
        provider_params=_TOOL_PARAMS,
        params=frozenset({"n", "response_format"}),
        takes_mask=endpoint.operation.needs_mask,
    )
    return ModelSpec(
        family=name,
        params=frozenset({"n", "response_format"}),
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=1,
        max_images_per_call=1,
        provider_params=_TOOL_PARAMS,
        edit=capability,
    )


def endpoint_for(tool: RecraftEndpoint | None, payload: EditPayload) -> RecraftEndpoint:
    """The endpoint an edit goes to: the tool's own, or the operation's model endpoint."""
    if tool is not None:
        return tool
    return _MODEL_ENDPOINTS[payload.operation]


def edit_files(payload: EditPayload) -> dict[str, FilePart]:
    """The `image` part and, for a masked operation, the converted `mask` part."""
    image = payload.inputs.images[0]
    files = {"image": FilePart(image.data, f"image.{image.format.value}", image.format.mime_type)}
    if payload.inputs.mask is not None:
        mask = to_grayscale_mask(payload.inputs.mask.data, EditValue.WHITE)
        files["mask"] = FilePart(mask, "mask.png", "image/png")
    return files


def form_value(value: JsonValue) -> str:
    """A provider parameter as form text (JSON's spelling for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def credits_usd(value: JsonValue) -> Decimal | None:
    """Recraft's `credits` (API units) in USD; None when absent or not a count."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return Decimal(str(value)) / UNITS_PER_USD
