"""The rules of OpenAI's image models, shared by the OpenAI and Azure adapters.

Facts from OpenAI's API reference and openai-python's `image_generate_params.py` (HEAD
2026-08-21), and Azure OpenAI's reference for its narrower enums. User-facing: the generated
tables of docs/providers/openai.md and docs/providers/azure.md.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from imagegen.images.limits import OPENAI_GPT_IMAGE
from imagegen.images.operations import EditOperation
from imagegen.providers.base import ModelSpec, ParamSpec
from imagegen.providers.edit_support import EditCapability
from imagegen.sizes import FreeFormRule
from imagegen.types import ResponseFormat

_GPT_IMAGE_PARAMS = frozenset({"n", "quality", "size", "user", "response_format"})
_GPT_IMAGE_EXTRAS = {
    "background": ParamSpec(str, choices=("transparent", "opaque", "auto")),
    "moderation": ParamSpec(str, choices=("low", "auto")),
    "output_format": ParamSpec(str, choices=("png", "jpeg", "webp")),
    "output_compression": ParamSpec(int, minimum=0, maximum=100),
}
# Edits take no `moderation` but take `input_fidelity` (openai-python image_edit_params.py).
_GPT_IMAGE_EDIT_EXTRAS = {
    **{k: v for k, v in _GPT_IMAGE_EXTRAS.items() if k != "moderation"},
    "input_fidelity": ParamSpec(str, choices=("high", "low")),
}
# An instruction edit, and inpainting as an edit with a mask (transparent = edit).
_GPT_IMAGE_EDITS = EditCapability(
    operations=frozenset({EditOperation.EDIT, EditOperation.INPAINT}),
    limits=OPENAI_GPT_IMAGE,
    provider_params=_GPT_IMAGE_EDIT_EXTRAS,
)
_GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
_GPT_IMAGE_QUALITIES = ("low", "medium", "high", "auto")

GPT_IMAGE_1 = ModelSpec(
    family="gpt-image-1",
    params=_GPT_IMAGE_PARAMS,
    max_prompt_chars=32000,
    sizes=_GPT_IMAGE_SIZES,
    qualities=_GPT_IMAGE_QUALITIES,
    # GPT image models always return base64 and reject the response_format field.
    response_formats=(ResponseFormat.B64_JSON,),
    send_response_format=False,
    provider_params=_GPT_IMAGE_EXTRAS,
    default_quality="auto",
    default_size="auto",
    streams_partials=True,
    # Every answer has `usage` (input and output tokens): what the price is counted from.
    reports_tokens=True,
    edit=_GPT_IMAGE_EDITS,
)
# gpt-image-1-mini does not take input_fidelity (image_edit_params.py).
GPT_IMAGE_1_MINI = replace(
    GPT_IMAGE_1,
    family="gpt-image-1-mini",
    edit=replace(
        _GPT_IMAGE_EDITS,
        provider_params={k: v for k, v in _GPT_IMAGE_EDIT_EXTRAS.items() if k != "input_fidelity"},
    ),
)
GPT_IMAGE_1_5 = replace(GPT_IMAGE_1, family="gpt-image-1.5")
# gpt-image-2 takes free-form sizes: both edges multiples of 16, aspect between 1:3 and
# 3:1, at most 3840x2160 (SDK docstring). The pixel cap is that of 3840x2160.
GPT_IMAGE_2 = replace(
    GPT_IMAGE_1,
    family="gpt-image-2",
    size_rule=FreeFormRule(
        min_edge=16, max_edge=3840, multiple_of=16, max_aspect=3.0, max_pixels=3840 * 2160
    ),
)
DALL_E_2 = ModelSpec(
    family="dall-e-2",
    params=frozenset({"n", "quality", "size", "user", "response_format"}),
    max_prompt_chars=1000,
    sizes=("256x256", "512x512", "1024x1024"),
    qualities=("standard",),
    provider_params={},
    default_quality="standard",
    default_size="1024x1024",
)
DALL_E_3 = ModelSpec(
    family="dall-e-3",
    params=frozenset({"n", "quality", "size", "style", "user", "response_format"}),
    max_prompt_chars=4000,
    max_n=1,
    sizes=("1024x1024", "1792x1024", "1024x1792"),
    qualities=("standard", "hd"),
    styles=("vivid", "natural"),
    provider_params={},
    default_quality="standard",
    default_size="1024x1024",
)
# An OpenAI-compatible model the gateway has no rules for: pass everything through and
# let the provider judge (its 400 becomes INVALID_ARGUMENT naming the field it names).
OPENAI_COMPATIBLE = ModelSpec(
    family="openai-compatible",
    params=frozenset({"n", "quality", "size", "style", "user", "response_format"}),
    max_prompt_chars=32000,
    known=False,
)

# Longest prefix first: "gpt-image-1-mini" must not match "gpt-image-1".
_BY_PREFIX: tuple[tuple[str, ModelSpec], ...] = (
    ("gpt-image-1-mini", GPT_IMAGE_1_MINI),
    ("gpt-image-1.5", GPT_IMAGE_1_5),
    ("chatgpt-image", GPT_IMAGE_1_5),
    ("gpt-image-2", GPT_IMAGE_2),
    ("gpt-image-1", GPT_IMAGE_1),
    ("dall-e-2", DALL_E_2),
    ("dall-e-3", DALL_E_3),
)

OPENAI_MODELS = (
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2",
    "dall-e-2",
    "dall-e-3",
)


def openai_spec(model: str) -> ModelSpec:
    """The spec of an OpenAI model name, snapshots included ("gpt-image-2-2026-04-21")."""
    lowered = model.lower()
    for prefix, spec in _BY_PREFIX:
        if lowered == prefix or lowered.startswith((prefix + "-", prefix + ".")):
            return spec
    return OPENAI_COMPATIBLE


def _squash(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


@lru_cache(maxsize=1024)
def azure_spec(base_model: str) -> ModelSpec:
    """Azure serves the same models with narrower enums (no 256/512 sizes, no WebP)."""
    # Deployment names are free-form and often written "gptimage15", "gpt-image-1-5" or
    # "dalle3": compare letters and digits only.
    squashed = _squash(base_model)
    spec = OPENAI_COMPATIBLE
    for prefix, candidate in _BY_PREFIX:
        if squashed.startswith(_squash(prefix)):
            spec = candidate
            break
    if spec.provider_params and "output_format" in spec.provider_params:
        extras = dict(spec.provider_params)
        extras["output_format"] = ParamSpec(str, choices=("png", "jpeg"))
        spec = replace(spec, provider_params=extras)
    if spec.sizes is not None:
        spec = replace(spec, sizes=tuple(s for s in spec.sizes if s not in ("256x256", "512x512")))
    if spec.edit is not None and spec.edit.provider_params is not None:
        # Edits keep their own parameters, with Azure's narrower output formats too.
        edit_extras = dict(spec.edit.provider_params)
        if "output_format" in edit_extras:
            edit_extras["output_format"] = ParamSpec(str, choices=("png", "jpeg"))
        spec = replace(spec, edit=replace(spec.edit, provider_params=edit_extras))
    return spec
