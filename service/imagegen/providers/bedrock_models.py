"""The image model families on AWS Bedrock: their rules, request bodies and answers.

Titan and Nova Canvas also edit (their tasks in bedrock_edits.py); the Stability image services
are edit-only families of their own (`Shape.STABILITY_EDIT`, bedrock_stability_edits.py) whose
answers are read like any Stability model's.

Facts from the AWS Bedrock model parameter pages (see docs/providers/bedrock.md), with the
Titan size list from the AWS Titan Image Generator parameter page and the Nova Canvas size
rule from awslabs' Nova Canvas MCP server (320-4096 px, multiples of 16, at most 4:1, at most
4,194,304 pixels). Four wire shapes:

- Stability 3.x (SD3.5 Large, SD3 Large, Stable Image Ultra, Stable Image Core): `prompt`,
  `aspect_ratio`, `seed`, `negative_prompt`, `output_format`; one image per call; the answer is
  `{"seeds", "finish_reasons", "images"}` where a non-null `finish_reasons[i]` is a refusal
  ("Filter reason: ...") or "Inference error", always with HTTP 200.
- SDXL 1.0: `text_prompts` (a negative prompt is a second entry with weight -1), `cfg_scale`,
  `steps`, `seed`, `width`/`height` from nine sizes; Bedrock makes one sample per call; the
  answer is `artifacts[].{base64, seed, finishReason}` with CONTENT_FILTERED for refusals.
- Titan Image Generator v1/v2 and Nova Canvas: `taskType: TEXT_IMAGE`, `textToImageParams`,
  `imageGenerationConfig` (numberOfImages 1-5, width, height, quality, cfgScale, seed); the
  answer is `{"images", "error"}`, where `error` says when the output filter withheld some or
  all images.

Model ids are matched without their version suffix (`:0`, `:1`), cross-region inference
profile prefix (`us.`, `eu.`, ...) or ARN wrapping, so `us.amazon.nova-canvas-v1:0` and
`arn:aws:bedrock:...:foundation-model/amazon.nova-canvas-v1:0` both get Nova Canvas's rules.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import JsonValue

from imagegen.errors import ProviderBadResponseError
from imagegen.imagefmt import image_dimensions, sniff_mime
from imagegen.providers.base import ModelSpec, ParamSpec, ProviderCall
from imagegen.providers.bedrock_edits import (
    NOVA_EDIT_LIMITS,
    TITAN_EDIT_LIMITS,
    amazon_edit_body,
    amazon_edits,
)
from imagegen.providers.bedrock_stability_edits import SERVICES, service_body
from imagegen.providers.edit_support import capability_of
from imagegen.providers.http_errors import content_policy_error
from imagegen.providers.stability_styles import STYLE_PRESETS
from imagegen.sizes import FreeFormRule, parse_aspect_ratio, parse_size
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
    decode_b64_image,
)

PROVIDER = "bedrock"


class Shape(StrEnum):
    """The request/response format a Bedrock model speaks."""

    STABILITY = "stability"
    SDXL = "sdxl"
    TITAN = "titan"
    NOVA = "nova"
    #: Stability AI Image Services (edits only; bedrock_stability_edits.py).
    STABILITY_EDIT = "stability_edit"


_UINT32_MAX = 4_294_967_295
_B64_ONLY = (ResponseFormat.B64_JSON,)
_COMMON_PARAMS = frozenset({"n", "size", "response_format"})

STABILITY_ASPECT_RATIOS = ("1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
# Stability's own output size per ratio (SD3 family), which mostly do not reduce exactly.
STABILITY_NATIVE_SIZES = {
    "1024x1024": "1:1",
    "1344x768": "16:9",
    "1536x640": "21:9",
    "832x1216": "2:3",
    "1216x832": "3:2",
    "896x1088": "4:5",
    "1088x896": "5:4",
    "768x1344": "9:16",
    "640x1536": "9:21",
}
_STABILITY_EXTRAS: dict[str, ParamSpec] = {
    "seed": ParamSpec(int, minimum=0, maximum=_UINT32_MAX),
    "negative_prompt": ParamSpec(str),
    # AWS documents "JPEG, PNG"; Stability's own API writes them in lower case. Both work.
    "output_format": ParamSpec(str, choices=("png", "jpeg", "PNG", "JPEG")),
}


def _stability(family: str, *, cfg_scale: bool = False) -> ModelSpec:
    extras = dict(_STABILITY_EXTRAS)
    if cfg_scale:
        extras["cfg_scale"] = ParamSpec(float, minimum=1, maximum=10)
    return ModelSpec(
        family=family,
        params=_COMMON_PARAMS,
        max_prompt_chars=10_000,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=STABILITY_ASPECT_RATIOS,
        native_sizes=STABILITY_NATIVE_SIZES,
        max_images_per_call=1,
        response_formats=_B64_ONLY,
        send_response_format=False,
        provider_params=extras,
    )


SDXL_SIZES = (
    "1024x1024",
    "1152x896",
    "1216x832",
    "1344x768",
    "1536x640",
    "640x1536",
    "768x1344",
    "832x1216",
    "896x1152",
)
SDXL_SAMPLERS = (
    "DDIM",
    "DDPM",
    "K_DPMPP_2M",
    "K_DPMPP_2S_ANCESTRAL",
    "K_DPM_2",
    "K_DPM_2_ANCESTRAL",
    "K_EULER",
    "K_EULER_ANCESTRAL",
    "K_HEUN",
    "K_LMS",
)
SDXL_CLIP_GUIDANCE = ("FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST")
SDXL = ModelSpec(
    family="stability.stable-diffusion-xl-v1",
    params=_COMMON_PARAMS,
    max_prompt_chars=2000,
    max_n=MAX_IMAGES_PER_REQUEST,
    sizes=SDXL_SIZES,
    # Bedrock's SDXL makes one sample per call ("samples" must be 1).
    max_images_per_call=1,
    response_formats=_B64_ONLY,
    send_response_format=False,
    provider_params={
        "negative_prompt": ParamSpec(str),
        "cfg_scale": ParamSpec(float, minimum=0, maximum=35),
        "steps": ParamSpec(int, minimum=10, maximum=50),
        "seed": ParamSpec(int, minimum=0, maximum=_UINT32_MAX),
        "sampler": ParamSpec(str, choices=SDXL_SAMPLERS),
        "clip_guidance_preset": ParamSpec(str, choices=SDXL_CLIP_GUIDANCE),
        "style_preset": ParamSpec(str, choices=STYLE_PRESETS),
    },
    default_size="1024x1024",
)

TITAN_SIZES = (
    "1024x1024",
    "768x768",
    "512x512",
    "768x1152",
    "384x576",
    "1152x768",
    "576x384",
    "768x1280",
    "384x640",
    "1280x768",
    "640x384",
    "896x1152",
    "448x576",
    "1152x896",
    "576x448",
    "768x1408",
    "384x704",
    "1408x768",
    "704x384",
    "640x1408",
    "320x704",
    "1408x640",
    "704x320",
    "1152x640",
    "1173x640",
)
AMAZON_QUALITIES = ("standard", "premium")
# Titan and Nova make up to five images a call; the gateway fans out above that.
_AMAZON_IMAGES_PER_CALL = 5


def _titan(family: str) -> ModelSpec:
    # Background removal is Titan v2's (the Titan parameter page: "V2 only").
    edit = amazon_edits(
        limits=TITAN_EDIT_LIMITS,
        seed_max=2_147_483_646,
        removes_background=family.endswith("-v2"),
    )
    return ModelSpec(
        family=family,
        params=_COMMON_PARAMS | {"quality"},
        max_prompt_chars=512,
        max_n=MAX_IMAGES_PER_REQUEST,
        sizes=TITAN_SIZES,
        max_images_per_call=_AMAZON_IMAGES_PER_CALL,
        qualities=AMAZON_QUALITIES,
        response_formats=_B64_ONLY,
        send_response_format=False,
        provider_params={
            "negativeText": ParamSpec(str),
            "cfgScale": ParamSpec(float, minimum=1.1, maximum=10),
            "seed": ParamSpec(int, minimum=0, maximum=2_147_483_646),
        },
        default_quality="standard",
        default_size="1024x1024",
        edit=edit,
    )


NOVA_STYLES = (
    "3D_ANIMATED_FAMILY_FILM",
    "DESIGN_SKETCH",
    "FLAT_VECTOR_ILLUSTRATION",
    "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM",
    "MIDCENTURY_RETRO",
    "PHOTOREALISM",
    "SOFT_DIGITAL_PAINTING",
)
NOVA_SIZE_RULE = FreeFormRule(
    min_edge=320, max_edge=4096, multiple_of=16, max_aspect=4.0, max_pixels=4_194_304
)
NOVA_CANVAS = ModelSpec(
    family="amazon.nova-canvas-v1",
    params=_COMMON_PARAMS | {"quality", "style"},
    max_prompt_chars=1024,
    max_n=MAX_IMAGES_PER_REQUEST,
    size_rule=NOVA_SIZE_RULE,
    max_images_per_call=_AMAZON_IMAGES_PER_CALL,
    qualities=AMAZON_QUALITIES,
    styles=NOVA_STYLES,
    response_formats=_B64_ONLY,
    send_response_format=False,
    provider_params={
        "negativeText": ParamSpec(str),
        "cfgScale": ParamSpec(float, minimum=1.1, maximum=10),
        "seed": ParamSpec(int, minimum=0, maximum=858_993_459),
    },
    default_quality="standard",
    default_size="1024x1024",
    edit=amazon_edits(limits=NOVA_EDIT_LIMITS, seed_max=858_993_459, removes_background=True),
)


@dataclass(frozen=True, slots=True)
class Family:
    """A model family: its rules and the wire shape it speaks."""

    spec: ModelSpec
    shape: Shape


FAMILIES: Mapping[str, Family] = {
    family.spec.family: family
    for family in (
        Family(_stability("stability.sd3-5-large-v1", cfg_scale=True), Shape.STABILITY),
        Family(_stability("stability.sd3-large-v1", cfg_scale=True), Shape.STABILITY),
        Family(_stability("stability.stable-image-ultra-v1"), Shape.STABILITY),
        Family(_stability("stability.stable-image-core-v1"), Shape.STABILITY),
        Family(SDXL, Shape.SDXL),
        Family(_titan("amazon.titan-image-generator-v1"), Shape.TITAN),
        Family(_titan("amazon.titan-image-generator-v2"), Shape.TITAN),
        Family(NOVA_CANVAS, Shape.NOVA),
        *(Family(service.spec(), Shape.STABILITY_EDIT) for service in SERVICES.values()),
    )
}
# The prefix of a cross-region inference profile id ("us.amazon.nova-canvas-v1:0").
_PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "global", "jp", "au", "ca"})

UNKNOWN_SPEC = ModelSpec(
    family="bedrock-unknown",
    params=_COMMON_PARAMS | {"quality", "style"},
    max_prompt_chars=10_000,
    response_formats=_B64_ONLY,
    send_response_format=False,
    provider_params=None,
    known=False,
)


def base_model_id(model: str) -> str:
    """The foundation model id without ARN, inference-profile prefix or version suffix."""
    if model.startswith("arn:"):
        model = model.rsplit("/", 1)[-1]
    prefix, dot, rest = model.partition(".")
    if dot and prefix in _PROFILE_PREFIXES and "." in rest:
        model = rest
    return model.split(":", 1)[0]


def _shape_of(base: str) -> Shape | None:
    if base.startswith("stability.stable-diffusion-xl"):
        return Shape.SDXL
    if base.startswith("stability."):
        return Shape.STABILITY
    if base.startswith("amazon.titan-image-generator"):
        return Shape.TITAN
    if base.startswith("amazon.nova-canvas"):
        return Shape.NOVA
    return None


_TEMPLATES = {
    Shape.STABILITY: FAMILIES["stability.stable-image-core-v1"].spec,
    Shape.SDXL: SDXL,
    Shape.TITAN: FAMILIES["amazon.titan-image-generator-v2"].spec,
    Shape.NOVA: NOVA_CANVAS,
}


def family_for(model: str) -> Family | None:
    """The family of a model id, profile id or ARN; None when its wire shape is unknown.

    A model of a known kind but an unknown version ("stability.stable-image-core-v2") gets the
    kind's size rules, unchecked provider parameters and no price from the table.
    """
    base = base_model_id(model)
    if base in FAMILIES:
        return FAMILIES[base]
    shape = _shape_of(base)
    if shape is None:
        return None
    spec = replace(_TEMPLATES[shape], family=base, known=False, provider_params=None)
    return Family(spec, shape)


# --------------------------------------------------------------------------- request bodies


def request_body(shape: Shape, call: ProviderCall) -> dict[str, JsonValue]:
    """The InvokeModel body for `call` in the model's own format."""
    if shape is Shape.STABILITY_EDIT:
        return service_body(SERVICES[call.spec.family], call)
    if shape is Shape.STABILITY:
        return _stability_body(call)
    if shape is Shape.SDXL:
        return _sdxl_body(call)
    capability = capability_of(call.spec)
    if call.edit is not None and capability is not None:
        return amazon_edit_body(call, call.edit, capability.limits)
    return _amazon_body(call, nova=shape is Shape.NOVA)


def model_ratio(call: ProviderCall) -> str | None:
    """The requested aspect ratio as the model spells it ("21:9", not 7:3)."""
    wanted = call.params.aspect_ratio
    if wanted is None:
        return None
    reduced = parse_aspect_ratio(wanted)
    for listed in call.spec.aspect_ratios or ():
        if parse_aspect_ratio(listed) == reduced:
            return listed
    return wanted


def _stability_body(call: ProviderCall) -> dict[str, JsonValue]:
    # No `mode`: text-to-image is the default, and Stable Image Core does not take the key.
    body: dict[str, JsonValue] = {"prompt": call.prompt}
    ratio = model_ratio(call)
    if ratio is not None:
        body["aspect_ratio"] = ratio
    body.update(call.params.extra)
    return body


def _sized(call: ProviderCall) -> tuple[int, int]:
    size = parse_size(call.params.size or call.spec.default_size or "1024x1024")
    return size.width, size.height


def _sdxl_body(call: ProviderCall) -> dict[str, JsonValue]:
    extra = dict(call.params.extra)
    prompts: list[JsonValue] = [{"text": call.prompt, "weight": 1.0}]
    negative = extra.pop("negative_prompt", None)
    if negative:
        prompts.append({"text": negative, "weight": -1.0})
    width, height = _sized(call)
    # The size is always sent: Bedrock's SDXL default is not one of its own allowed sizes.
    body: dict[str, JsonValue] = {"text_prompts": prompts, "width": width, "height": height}
    body.update(extra)
    return body


def _amazon_body(call: ProviderCall, *, nova: bool) -> dict[str, JsonValue]:
    extra = dict(call.params.extra)
    text: dict[str, JsonValue] = {"text": call.prompt}
    negative = extra.pop("negativeText", None)
    if negative is not None:
        text["negativeText"] = negative
    if nova and call.params.style is not None:
        text["style"] = call.params.style
    width, height = _sized(call)
    config: dict[str, JsonValue] = {
        "numberOfImages": call.params.n,
        "quality": call.params.quality or call.spec.default_quality or "standard",
        "width": width,
        "height": height,
    }
    config.update(extra)
    return {"taskType": "TEXT_IMAGE", "textToImageParams": text, "imageGenerationConfig": config}


# --------------------------------------------------------------------------- answers


def parse_images(shape: Shape, call: ProviderCall, payload: object, status: int) -> ProviderResult:
    """Images, filtered counts and refusals from a 200 answer."""
    if not isinstance(payload, dict):
        raise ProviderBadResponseError("the model's answer is not a JSON object", provider=PROVIDER)
    if shape in (Shape.STABILITY, Shape.STABILITY_EDIT):
        return _stability_result(call, payload, status)
    if shape is Shape.SDXL:
        return _sdxl_result(call, payload, status)
    return _amazon_result(call, payload, status)


def _image(b64: object, width: int | None = None, height: int | None = None) -> GeneratedImage:
    data = decode_b64_image(b64, provider=PROVIDER)
    if width is None or height is None:
        # Stability 3.x is sized by aspect ratio: the pixel size is in the file.
        width, height = image_dimensions(data)
    return GeneratedImage(
        data=data, mime_type=sniff_mime(data) or "image/png", width=width, height=height
    )


def _result(
    images: list[GeneratedImage],
    *,
    filtered: int,
    size: str | None = None,
    quality: str | None = None,
) -> ProviderResult:
    return ProviderResult(
        images=images, created=int(time.time()), size=size, quality=quality, filtered=filtered
    )


def _stability_result(
    call: ProviderCall, payload: dict[str, object], status: int
) -> ProviderResult:
    raw_images = payload.get("images")
    images_in = raw_images if isinstance(raw_images, list) else []
    raw_reasons = payload.get("finish_reasons")
    reasons = raw_reasons if isinstance(raw_reasons, list) else [None] * len(images_in)
    images: list[GeneratedImage] = []
    refusals: list[str] = []
    failures: list[str] = []
    for index, reason in enumerate(reasons):
        if reason is None:
            if index >= len(images_in):
                raise ProviderBadResponseError(
                    "the model reported an image it did not return", provider=PROVIDER
                )
            images.append(_image(images_in[index]))
        elif isinstance(reason, str) and reason.lower().startswith("filter reason"):
            refusals.append(reason)
        else:
            failures.append(str(reason))
    if images:
        return _result(images, filtered=len(refusals))
    if refusals:
        raise content_policy_error(
            PROVIDER,
            f"the model's content filter blocked the request ({refusals[0]})",
            status=status,
        )
    if failures:
        raise ProviderBadResponseError(
            f"the model returned no image ({failures[0][:100]})", provider=PROVIDER
        )
    raise ProviderBadResponseError("the model returned no image", provider=PROVIDER)


def _sdxl_result(call: ProviderCall, payload: dict[str, object], status: int) -> ProviderResult:
    artifacts = payload.get("artifacts")
    if not isinstance(artifacts, list):
        raise ProviderBadResponseError("the answer has no artifacts", provider=PROVIDER)
    width, height = _sized(call)
    images: list[GeneratedImage] = []
    filtered = 0
    failed = 0
    for artifact in artifacts:
        if not isinstance(artifact, dict):
            raise ProviderBadResponseError("an artifact is not an object", provider=PROVIDER)
        reason = artifact.get("finishReason", "SUCCESS")
        if reason == "CONTENT_FILTERED":
            # The artifact still carries a blurred image: it is withheld, not returned.
            filtered += 1
        elif reason == "SUCCESS":
            images.append(_image(artifact.get("base64"), width, height))
        else:
            failed += 1
    if images:
        return _result(images, filtered=filtered, size=f"{width}x{height}")
    if filtered:
        raise content_policy_error(
            PROVIDER,
            "the model's content filter blocked the image (CONTENT_FILTERED)",
            status=status,
        )
    detail = " (finishReason ERROR)" if failed else ""
    raise ProviderBadResponseError(f"the model returned no image{detail}", provider=PROVIDER)


def _amazon_result(call: ProviderCall, payload: dict[str, object], status: int) -> ProviderResult:
    raw_images = payload.get("images")
    if raw_images is not None and not isinstance(raw_images, list):
        raise ProviderBadResponseError("the answer's images are not a list", provider=PROVIDER)
    error = payload.get("error")
    message = error if isinstance(error, str) and error else None
    blocked = message is not None and "content filter" in message.lower()
    # An edit answers at its input's (or canvas's) size: read from the images themselves.
    width, height = (None, None) if call.edit is not None else _sized(call)
    images = [_image(item, width, height) for item in raw_images or []]
    if not images:
        if blocked:
            raise content_policy_error(PROVIDER, message or "", status=status)
        detail = f" ({message[:200]})" if message else ""
        raise ProviderBadResponseError(f"the model returned no image{detail}", provider=PROVIDER)
    # Fewer images than asked for, with or without the "Some of the generated images have been
    # blocked" note, means the output filter withheld the rest.
    filtered = max(call.params.n - len(images), 1 if blocked else 0)
    quality = call.params.quality or call.spec.default_quality
    # Priced by the first image's size: the price rows are keyed by output size.
    size = f"{images[0].width}x{images[0].height}"
    return _result(images, filtered=filtered, size=size, quality=quality)
