"""Fake AWS Bedrock Runtime InvokeModel for image models, ``POST /model/{modelId}/invoke``.

Imitates the Bedrock Runtime API reference (see docs/providers/bedrock.md):

* **path**: the model id is one percent-encoded segment; ``%3A`` and a raw ``:`` are both
  accepted (ARNs arrive with ``%2F``). Inference-profile ids (``us.amazon.nova-canvas-v1:0``) and
  ARNs (``.../foundation-model/<id>``, ``.../inference-profile/<id>``, and
  ``.../application-inference-profile/<id>`` listed in ``application_profiles``) resolve to
  their model.
  An unknown id is 400 ValidationException "The provided model identifier is invalid.", a model
  in ``denied_models`` 403 AccessDeniedException, one in ``retired_models`` 404
  ResourceNotFoundException.
* **auth**: SigV4 is *verified*: the fake recomputes the signature with botocore's signer from
  its own copy of the credentials (``credentials``: access key id -> (secret, session token or
  None)), over the raw path, the signed headers and the raw body. The scope must be
  ``{date}/{region}/bedrock/aws4_request``, ``host`` and ``x-amz-date`` must be signed, the date
  must be within 5 minutes, temporary credentials must carry their ``X-Amz-Security-Token``.
  ``Authorization: Bearer <api_key>`` (a Bedrock API key) is the alternative. Failures are 403
  with AWS's types: MissingAuthenticationTokenException, IncompleteSignatureException,
  UnrecognizedClientException, InvalidSignatureException.
* **errors**: ``{"message": ...}`` with ``x-amzn-ErrorType: <Type>:http://internal.amazon.com/
  coral/...`` and, on every answer, ``x-amzn-RequestId``.
* **bodies** are validated per family the way Bedrock's JSON-schema check words it
  ("Malformed input request: #/seed: ..., please reformat your input and try again."): unknown
  keys, missing keys, types, ranges, enums, the SDXL and Titan size lists, Nova's size rule.
* **answers**: Stability 3.x ``{"seeds", "finish_reasons", "images"}`` (one image per call),
  SDXL ``{"result", "artifacts": [{"seed", "base64", "finishReason"}]}`` (``samples`` must be 1),
  Titan and Nova ``{"images", "error"}`` (1-5 images). Images are real PNGs (JPEG when a
  Stability call asks for it) of the size asked for, or of the aspect ratio's SD3 size.

Trigger words in the prompt (whole words, case-insensitive):

* ``forbidden``      → a refused prompt: Stability 200 ``finish_reasons: ["Filter reason:
  prompt"]`` and no image; SDXL an artifact with ``finishReason: CONTENT_FILTERED`` (and a
  blurred image); Titan/Nova 400 ValidationException "This request has been blocked by our
  content filters. ...";
* ``blockedoutput``  → output filter: Stability ``"Filter reason: output image"``; SDXL as
  ``forbidden``; Titan/Nova 200 ``{"images": [], "error": "All of the generated images have been
  blocked by our content filters."}``;
* ``partlyblocked``  → Titan/Nova: one image fewer than asked, with "Some of the generated
  images have been blocked by our content filters.";
* ``inferenceerror`` → Stability ``finish_reasons: ["Inference error"]``, SDXL
  ``finishReason: ERROR``;
* ``ratelimit`` → 429 ThrottlingException; ``notready`` → 429 ModelNotReadyException;
  ``servererror`` → 500 InternalServerException; ``unavailable`` → 503
  ServiceUnavailableException; ``modeltimeout`` → 408 ModelTimeoutException; ``modelerror`` →
  424 ModelErrorException (with ``originalStatusCode``, ``resourceName``); ``quotaexceeded`` →
  400 ServiceQuotaExceededException;
* ``hang`` → the handler sleeps for an hour.

Edits: Titan v1/v2 and Nova Canvas take the INPAINTING, OUTPAINTING, IMAGE_VARIATION and (Titan
v2, Nova) BACKGROUND_REMOVAL tasks, each with its own parameter object, checked like the
generation bodies: exactly one of ``maskImage`` / ``maskPrompt``, masks of the image's size and of
pure black and white only, input images PNG or JPEG without transparent pixels within the
model's size bounds, 1-5 variation images, no ``imageGenerationConfig`` with background removal
(``fake.amazon_edits``). The Stability image services (``stability.stable-image-inpaint-v1:0``
and the others) take Stability's v2beta fields with base64 images and answer like any Stability
model (``fake.service_edits``); outpaint answers the grown size, fast upscale 4x.

Simplifications (unconfirmed by the docs): a wrong Bedrock API key gets the
UnrecognizedClientException answer; Titan's 200-with-``error`` output filtering is modelled on
Nova's; a Stability output-filter answer carries a blank image; Stable Image Ultra makes the
same pixel sizes as SD3; COLOR_GUIDED_GENERATION and VIRTUAL_TRY_ON are not implemented; the
conservative and creative upscalers double the size; a variation without a size answers at the
first input's size; INPAINTING/OUTPAINTING refuse width/height; the exact wording of size errors
is invented; nothing is throttled unless a trigger word asks for it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hmac
import io
import json
import random
import re
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image

from .base import HANG_SECONDS, FakeProvider, has_word
from .images import image_bytes

# AWS's documentation example keys: well-known test values, never real ones.
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEMP_ACCESS_KEY_ID = "ASIAIOSFODNN7EXAMPLE"
TEMP_SECRET_ACCESS_KEY = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE"
API_KEY = "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlLWtleQ=="
REGION = "us-west-2"
SERVICE = "bedrock"

_BEDROCK_NS = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_CORAL_NS = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "global", "jp", "au", "ca"})
MAX_SKEW = dt.timedelta(minutes=5)

STABILITY_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "2:3": (832, 1216),
    "3:2": (1216, 832),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}
SDXL_SIZES = frozenset(
    {
        (1024, 1024),
        (1152, 896),
        (1216, 832),
        (1344, 768),
        (1536, 640),
        (640, 1536),
        (768, 1344),
        (832, 1216),
        (896, 1152),
    }
)
TITAN_SIZES = frozenset(
    {
        (1024, 1024), (768, 768), (512, 512), (768, 1152), (384, 576), (1152, 768),
        (576, 384), (768, 1280), (384, 640), (1280, 768), (640, 384), (896, 1152),
        (448, 576), (1152, 896), (576, 448), (768, 1408), (384, 704), (1408, 768),
        (704, 384), (640, 1408), (320, 704), (1408, 640), (704, 320), (1152, 640),
        (1173, 640),
    }
)  # fmt: skip
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
SDXL_SAMPLERS = (
    "DDIM", "DDPM", "K_DPMPP_2M", "K_DPMPP_2S_ANCESTRAL", "K_DPM_2", "K_DPM_2_ANCESTRAL",
    "K_EULER", "K_EULER_ANCESTRAL", "K_HEUN", "K_LMS",
)  # fmt: skip
SDXL_CLIP = ("FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST")
SDXL_STYLES = (
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
    "origami", "photographic", "pixel-art", "tile-texture",
)  # fmt: skip
INPUT_BLOCKED = (
    "This request has been blocked by our content filters. Please adjust your text prompt to "
    "submit a new request."
)
ALL_BLOCKED = "All of the generated images have been blocked by our content filters."
SOME_BLOCKED = "Some of the generated images have been blocked by our content filters."


@dataclass(frozen=True)
class FakeModel:
    """How one Bedrock model id behaves."""

    shape: str  # "stability", "sdxl", "titan" or "nova"
    cfg_scale: bool = False  # SD3.5 / SD3 Large take cfg_scale
    image_to_image: bool = True  # every Stability 3.x model but Core takes mode/image/strength
    titan_v2: bool = False
    service: str | None = None  # a Stability image service ("inpaint", "fast-upscale", ...)


MODELS: dict[str, FakeModel] = {
    "stability.sd3-5-large-v1:0": FakeModel("stability", cfg_scale=True),
    "stability.sd3-large-v1:0": FakeModel("stability", cfg_scale=True),
    "stability.stable-image-ultra-v1:0": FakeModel("stability"),
    "stability.stable-image-ultra-v1:1": FakeModel("stability"),
    "stability.stable-image-core-v1:0": FakeModel("stability", image_to_image=False),
    "stability.stable-image-core-v1:1": FakeModel("stability", image_to_image=False),
    "stability.stable-diffusion-xl-v1": FakeModel("sdxl"),
    "amazon.titan-image-generator-v1": FakeModel("titan"),
    "amazon.titan-image-generator-v2:0": FakeModel("titan", titan_v2=True),
    "amazon.nova-canvas-v1:0": FakeModel("nova"),
    # Stability AI Image Services (AWS's sample notebook lists the ids).
    "stability.stable-image-inpaint-v1:0": FakeModel("service", service="inpaint"),
    "stability.stable-outpaint-v1:0": FakeModel("service", service="outpaint"),
    "stability.stable-image-search-replace-v1:0": FakeModel("service", service="search-replace"),
    "stability.stable-image-search-recolor-v1:0": FakeModel("service", service="search-recolor"),
    "stability.stable-image-erase-object-v1:0": FakeModel("service", service="erase-object"),
    "stability.stable-image-remove-background-v1:0": FakeModel(
        "service", service="remove-background"
    ),
    "stability.stable-conservative-upscale-v1:0": FakeModel(
        "service", service="conservative-upscale"
    ),
    "stability.stable-creative-upscale-v1:0": FakeModel("service", service="creative-upscale"),
    "stability.stable-fast-upscale-v1:0": FakeModel("service", service="fast-upscale"),
    "stability.stable-style-transfer-v1:0": FakeModel("service", service="style-transfer"),
}


@dataclass(frozen=True)
class Invocation:
    """What the fake understood of one authenticated call."""

    model_id: str  # as sent, decoded
    raw_path: str
    auth: str  # "sigv4" or "bearer"
    access_key_id: str | None
    region: str | None
    signed_headers: tuple[str, ...]


class AwsError(Exception):
    """An error answer in Bedrock's shape."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        namespace: str = _BEDROCK_NS,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.namespace = namespace
        self.extra = dict(extra or {})

    def response(self) -> web.Response:
        return web.json_response(
            {"message": self.message, **self.extra},
            status=self.status,
            headers={"x-amzn-ErrorType": f"{self.error_type}:{self.namespace}"},
        )


def malformed(detail: str) -> AwsError:
    return AwsError(
        400,
        "ValidationException",
        f"Malformed input request: {detail}, please reformat your input and try again.",
    )


def _auth_error(error_type: str, message: str) -> AwsError:
    return AwsError(403, error_type, message, namespace=_CORAL_NS)


# --------------------------------------------------------------------------- schema checks


@dataclass(frozen=True)
class Field:
    kind: str  # "string", "integer", "number", "object", "array"
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None


_TYPE_NAMES = {"string": "String", "integer": "Integer", "number": "Number", "object": "JSONObject"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    if isinstance(value, dict):
        return "JSONObject"
    return "Null"


def check_object(value: Any, fields: Mapping[str, Field], path: str = "#") -> dict[str, Any]:
    """Validate `value` against `fields` like Bedrock's everit JSON-schema check."""
    if not isinstance(value, dict):
        raise malformed(f"{path}: expected type: JSONObject, found: {_json_type(value)}")
    for key in value:
        if key not in fields:
            raise malformed(f"{path}: extraneous key [{key}] is not permitted")
    for key, field in fields.items():
        if key not in value:
            if field.required:
                raise malformed(f"{path}: required key [{key}] not found")
            continue
        _check_field(value[key], field, f"{path}/{key}")
    return value


def _check_field(item: Any, field: Field, where: str) -> None:
    ok = {
        "string": isinstance(item, str),
        "integer": isinstance(item, int) and not isinstance(item, bool),
        "number": isinstance(item, int | float) and not isinstance(item, bool),
        "object": isinstance(item, dict),
        "array": isinstance(item, list),
    }[field.kind]
    if not ok:
        expected = _TYPE_NAMES.get(field.kind, "JSONArray")
        raise malformed(f"{where}: expected type: {expected}, found: {_json_type(item)}")
    if field.enum is not None and item not in field.enum:
        raise malformed(f"{where}: {item} is not a valid enum value")
    if isinstance(item, str):
        if field.min_length is not None and len(item) < field.min_length:
            raise malformed(f"{where}: expected minLength: {field.min_length}, actual: {len(item)}")
        if field.max_length is not None and len(item) > field.max_length:
            raise malformed(f"{where}: expected maxLength: {field.max_length}, actual: {len(item)}")
    if field.kind in ("integer", "number"):
        if field.minimum is not None and item < field.minimum:
            raise malformed(f"{where}: {item} is not greater or equal to {field.minimum:g}")
        if field.maximum is not None and item > field.maximum:
            raise malformed(f"{where}: {item} is not less or equal to {field.maximum:g}")


def _stability_fields(model: FakeModel) -> dict[str, Field]:
    fields = {
        "prompt": Field("string", required=True, min_length=1, max_length=10_000),
        "aspect_ratio": Field("string", enum=tuple(STABILITY_RATIOS)),
        "output_format": Field("string", enum=("png", "jpeg", "PNG", "JPEG")),
        "seed": Field("integer", minimum=0, maximum=4_294_967_295),
        "negative_prompt": Field("string", max_length=10_000),
    }
    if model.image_to_image:
        fields["mode"] = Field("string", enum=("text-to-image", "image-to-image"))
        fields["image"] = Field("string")
        fields["strength"] = Field("number", minimum=0, maximum=1)
    if model.cfg_scale:
        fields["cfg_scale"] = Field("number", minimum=1, maximum=10)
    return fields


SDXL_FIELDS = {
    "text_prompts": Field("array", required=True),
    "height": Field("integer"),
    "width": Field("integer"),
    "cfg_scale": Field("number", minimum=0, maximum=35),
    "clip_guidance_preset": Field("string", enum=SDXL_CLIP),
    "sampler": Field("string", enum=SDXL_SAMPLERS),
    # Bedrock's SDXL makes one image per call.
    "samples": Field("integer", minimum=1, maximum=1),
    "seed": Field("integer", minimum=0, maximum=4_294_967_295),
    "steps": Field("integer", minimum=10, maximum=50),
    "style_preset": Field("string", enum=SDXL_STYLES),
    "extras": Field("object"),
}
SDXL_PROMPT_FIELDS = {
    "text": Field("string", required=True, max_length=2000),
    "weight": Field("number"),
}


def _amazon_text_fields(model: FakeModel) -> dict[str, Field]:
    limit = 1024 if model.shape == "nova" else 512
    fields = {
        "text": Field("string", required=True, min_length=1, max_length=limit),
        "negativeText": Field("string", min_length=1, max_length=limit),
    }
    if model.shape == "nova":
        fields["style"] = Field("string", enum=NOVA_STYLES)
    if model.shape == "nova" or model.titan_v2:
        fields["conditionImage"] = Field("string")
        fields["controlMode"] = Field("string", enum=("CANNY_EDGE", "SEGMENTATION"))
        fields["controlStrength"] = Field("number", minimum=0, maximum=1)
    return fields


def _amazon_config_fields(model: FakeModel) -> dict[str, Field]:
    seed_max = 858_993_459 if model.shape == "nova" else 2_147_483_646
    return {
        "numberOfImages": Field("integer", minimum=1, maximum=5),
        "quality": Field("string", enum=("standard", "premium")),
        "cfgScale": Field("number", minimum=1.1, maximum=10),
        "width": Field("integer"),
        "height": Field("integer"),
        "seed": Field("integer", minimum=0, maximum=seed_max),
    }


_SERVICE_OUTPUT = Field("string", enum=("png", "jpeg", "webp"))
_SERVICE_SEED = Field("integer", minimum=0, maximum=4_294_967_294)
_SERVICE_PROMPT = Field("string", required=True, min_length=1, max_length=10_000)
_SERVICE_TEXT = Field("string", max_length=10_000)
_SERVICE_STYLE = Field("string", enum=SDXL_STYLES)
_SERVICE_IMAGE = Field("string", required=True)
# Stability's v2beta fields per tool, as Bedrock takes them (images as base64 strings).
SERVICE_FIELDS: dict[str, dict[str, Field]] = {
    "inpaint": {
        "image": _SERVICE_IMAGE,
        "mask": Field("string"),
        "prompt": _SERVICE_PROMPT,
        "negative_prompt": _SERVICE_TEXT,
        "seed": _SERVICE_SEED,
        "output_format": _SERVICE_OUTPUT,
        "style_preset": _SERVICE_STYLE,
        "grow_mask": Field("integer", minimum=0, maximum=100),
    },
    "outpaint": {
        "image": _SERVICE_IMAGE,
        "left": Field("integer", minimum=0, maximum=2000),
        "right": Field("integer", minimum=0, maximum=2000),
        "up": Field("integer", minimum=0, maximum=2000),
        "down": Field("integer", minimum=0, maximum=2000),
        "prompt": _SERVICE_TEXT,
        "creativity": Field("number", minimum=0, maximum=1),
        "seed": _SERVICE_SEED,
        "output_format": _SERVICE_OUTPUT,
        "style_preset": _SERVICE_STYLE,
    },
    "search-replace": {
        "image": _SERVICE_IMAGE,
        "prompt": _SERVICE_PROMPT,
        "search_prompt": Field("string", required=True, min_length=1, max_length=10_000),
        "negative_prompt": _SERVICE_TEXT,
        "seed": _SERVICE_SEED,
        "output_format": _SERVICE_OUTPUT,
        "grow_mask": Field("integer", minimum=0, maximum=20),
        "style_preset": _SERVICE_STYLE,
    },
    "search-recolor": {
        "image": _SERVICE_IMAGE,
        "prompt": _SERVICE_PROMPT,
        "select_prompt": Field("string", required=True, min_length=1, max_length=10_000),
        "negative_prompt": _SERVICE_TEXT,
        "seed": _SERVICE_SEED,
        "output_format": _SERVICE_OUTPUT,
        "grow_mask": Field("integer", minimum=0, maximum=20),
        "style_preset": _SERVICE_STYLE,
    },
    "erase-object": {
        "image": _SERVICE_IMAGE,
        "mask": Field("string"),
        "seed": _SERVICE_SEED,
        "output_format": _SERVICE_OUTPUT,
        "grow_mask": Field("integer", minimum=0, maximum=20),
    },
    "remove-background": {"image": _SERVICE_IMAGE, "output_format": _SERVICE_OUTPUT},
    "conservative-upscale": {
        "image": _SERVICE_IMAGE,
        "prompt": _SERVICE_PROMPT,
        "negative_prompt": _SERVICE_TEXT,
        "seed": _SERVICE_SEED,
        "creativity": Field("number", minimum=0.2, maximum=0.5),
        "output_format": _SERVICE_OUTPUT,
    },
    "creative-upscale": {
        "image": _SERVICE_IMAGE,
        "prompt": _SERVICE_PROMPT,
        "negative_prompt": _SERVICE_TEXT,
        "seed": _SERVICE_SEED,
        "creativity": Field("number", minimum=0.1, maximum=0.5),
        "output_format": _SERVICE_OUTPUT,
        "style_preset": _SERVICE_STYLE,
    },
    "fast-upscale": {"image": _SERVICE_IMAGE, "output_format": _SERVICE_OUTPUT},
    "style-transfer": {
        "init_image": _SERVICE_IMAGE,
        "style_image": _SERVICE_IMAGE,
        "prompt": _SERVICE_TEXT,
        "negative_prompt": _SERVICE_TEXT,
        "seed": _SERVICE_SEED,
        "output_format": _SERVICE_OUTPUT,
        "style_strength": Field("number", minimum=0, maximum=1),
        "composition_fidelity": Field("number", minimum=0, maximum=1),
        "change_strength": Field("number", minimum=0.1, maximum=1),
    },
}
# How much each upscaler enlarges (unconfirmed): fast is 4x (Stability's docs); the fake doubles
# for the conservative and creative tools, whose real output size depends on the input.
UPSCALE_FACTORS = {"fast-upscale": 4, "conservative-upscale": 2, "creative-upscale": 2}
# The image fields of each tool whose pixels must satisfy Stability's bounds.
SERVICE_IMAGE_FIELDS = ("image", "init_image", "style_image")

# Titan and Nova edit tasks: the task's parameter object and its fields.
EDIT_TASKS = {
    "INPAINTING": "inPaintingParams",
    "OUTPAINTING": "outPaintingParams",
    "IMAGE_VARIATION": "imageVariationParams",
    "BACKGROUND_REMOVAL": "backgroundRemovalParams",
}


def _edit_task_fields(model: FakeModel, task: str) -> dict[str, Field]:
    limit = 1024 if model.shape == "nova" else 512
    text = Field("string", min_length=1, max_length=limit)
    if task == "BACKGROUND_REMOVAL":
        return {"image": Field("string", required=True)}
    if task == "IMAGE_VARIATION":
        return {
            "images": Field("array", required=True),
            "text": text,
            "negativeText": text,
            "similarityStrength": Field("number", minimum=0.2, maximum=1.0),
        }
    fields = {
        "image": Field("string", required=True),
        "text": Field("string", required=task == "OUTPAINTING", min_length=1, max_length=limit),
        "negativeText": text,
        "maskPrompt": Field("string", min_length=1, max_length=limit),
        "maskImage": Field("string"),
    }
    if task == "OUTPAINTING":
        fields["outPaintingMode"] = Field("string", enum=("DEFAULT", "PRECISE"))
    return fields


@dataclass(frozen=True)
class ServiceEdit:
    """One Stability image-service call as the fake decoded it."""

    model_id: str
    fields: dict[str, Any]  # the body's non-image fields
    images: dict[str, bytes]  # image, init_image, style_image: the decoded bytes
    mask: Image.Image | None  # the mask, grayscale ("L")


@dataclass(frozen=True)
class AmazonEdit:
    """One Titan / Nova Canvas edit task as the fake decoded it."""

    model_id: str
    task_type: str
    params: dict[str, Any]  # the task's fields, images and mask left out
    images: list[bytes]
    mask: Image.Image | None
    config: dict[str, Any] | None


def decode_image(value: Any, where: str) -> Image.Image:
    """A base64 field as a loaded image, or Bedrock's validation error."""
    try:
        data = base64.b64decode(value, validate=True)
        image = Image.open(io.BytesIO(data))
        image.load()
    except (ValueError, OSError):
        raise AwsError(
            400, "ValidationException", f"{where}: the image could not be decoded."
        ) from None
    if image.format not in ("PNG", "JPEG", "WEBP"):
        raise AwsError(400, "ValidationException", f"{where}: unsupported image format.")
    return image


def nova_input_problem(width: int, height: int) -> str | None:
    """Nova Canvas input images: sides of 320-4096 pixels, at most 4,194,304 pixels."""
    if not (320 <= width <= 4096 and 320 <= height <= 4096):
        return "width and height must be between 320 and 4096 pixels"
    if width * height > 4_194_304:
        return "the image must have at most 4194304 pixels"
    return None


def titan_input_problem(width: int, height: int) -> str | None:
    """Titan input images: the longer side at most 1,408 pixels."""
    return "the longer side must be at most 1408 pixels" if max(width, height) > 1408 else None


def nova_size_problem(width: int, height: int) -> str | None:
    """Nova Canvas's size rule (awslabs' Nova Canvas MCP server)."""
    if not (320 <= width <= 4096 and 320 <= height <= 4096):
        return "width and height must be between 320 and 4096 pixels"
    if width % 16 or height % 16:
        return "width and height must be divisible by 16"
    if max(width, height) / min(width, height) > 4:
        return "the aspect ratio must be between 1:4 and 4:1"
    if width * height > 4_194_304:
        return "the image must have at most 4194304 pixels"
    return None


# --------------------------------------------------------------------------- the fake


class BedrockFake(FakeProvider):
    name: ClassVar[str] = "bedrock"

    def __init__(
        self,
        *,
        credentials: Mapping[str, tuple[str, str | None]] | None = None,
        region: str = REGION,
        api_key: str | None = API_KEY,
        models: Mapping[str, FakeModel] | None = None,
    ) -> None:
        #: Access key id -> (secret access key, session token or None).
        self.credentials: dict[str, tuple[str, str | None]] = dict(
            credentials
            if credentials is not None
            else {
                ACCESS_KEY_ID: (SECRET_ACCESS_KEY, None),
                TEMP_ACCESS_KEY_ID: (TEMP_SECRET_ACCESS_KEY, SESSION_TOKEN),
            }
        )
        self.region = region
        self.api_key = api_key
        self.models = dict(models if models is not None else MODELS)
        self.denied_models: set[str] = set()
        self.retired_models: set[str] = set()
        #: Application inference profile id (the ARN's last segment) -> model id.
        self.application_profiles: dict[str, str] = {}
        #: Calls that passed authentication, in order.
        self.invocations: list[Invocation] = []
        #: Stability image-service calls and Titan / Nova edit tasks, decoded.
        self.service_edits: list[ServiceEdit] = []
        self.amazon_edits: list[AmazonEdit] = []
        #: The server's clock, for signature-expiry tests.
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/model/{model_id:.+}/invoke", self.invoke)

    def new_request_id(self) -> str:
        return str(uuid.uuid4())

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        return {"x-amzn-RequestId": self.request_id(request)}

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        return AwsError(exc.status, "UnknownOperationException", "", namespace=_CORAL_NS).response()

    @property
    def last_invocation(self) -> Invocation:
        return self.invocations[-1]

    # ----------------------------------------------------------------- handler

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._invoke(request)
        except AwsError as error:
            return error.response()

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        record = self.recorded(request)
        raw_path = request.raw_path.split("?", 1)[0]
        model_id = unquote(raw_path[len("/model/") : -len("/invoke")])
        self.invocations.append(self._authenticate(request, raw_path, model_id))
        model = self._model(model_id)
        try:
            body = json.loads(record.body)
        except ValueError:
            raise malformed("#: expected type: JSONObject, found: String") from None
        prompt = _prompt_of(body)
        if has_word(prompt, "hang"):
            await asyncio.sleep(HANG_SECONDS)
        self._trigger_errors(prompt)
        if model.shape == "stability":
            return self._stability(model, body)
        if model.shape == "service":
            return self._service(model, model_id, body)
        if model.shape == "sdxl":
            return self._sdxl(body)
        if isinstance(body, dict) and body.get("taskType") in EDIT_TASKS:
            return self._amazon_edit(model, model_id, body)
        return self._amazon(model, body)

    # ----------------------------------------------------------------- auth

    def _authenticate(self, request: web.Request, raw_path: str, model_id: str) -> Invocation:
        header = request.headers.get("Authorization", "")
        if not header:
            raise _auth_error("MissingAuthenticationTokenException", "Missing Authentication Token")
        if header.startswith("Bearer "):
            if self.api_key is None or not hmac.compare_digest(header[7:].strip(), self.api_key):
                raise _auth_error(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                )
            return Invocation(model_id, raw_path, "bearer", None, None, ())
        match = _AUTH_RE.match(header)
        if match is None:
            raise _auth_error(
                "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                "parameters.",
            )
        key = match["key"]
        if key not in self.credentials:
            raise _auth_error(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        secret, token = self.credentials[key]
        if match["service"] != SERVICE:
            raise _auth_error(
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{SERVICE}'. ",
            )
        if match["region"] != self.region:
            raise _auth_error(
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region, not '{match['region']}'. ",
            )
        signed = tuple(match["signed"].split(";"))
        if "host" not in signed:
            raise _auth_error(
                "IncompleteSignatureException",
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            )
        amz_date = request.headers.get("X-Amz-Date", "")
        self._check_date(amz_date, match["date"])
        if token is not None and request.headers.get("X-Amz-Security-Token") != token:
            raise _auth_error(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        record = self.recorded(request)
        missing = [name for name in signed if name not in record.headers]
        if missing:
            raise _auth_error(
                "InvalidSignatureException",
                f"The request signature we calculated does not match the signature you "
                f"provided (signed header {missing[0]} is missing).",
            )
        aws = AWSRequest(
            method=request.method,
            url=f"http://{record.headers['host']}{request.raw_path}",
            data=record.body,
            headers={name: record.headers[name] for name in signed},
        )
        aws.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key, secret, token), SERVICE, self.region)
        canonical = signer.canonical_request(aws)
        expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
        if not hmac.compare_digest(expected, match["signature"]):
            raise _auth_error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.",
            )
        return Invocation(model_id, raw_path, "sigv4", key, match["region"], signed)

    def _check_date(self, amz_date: str, scope_date: str) -> None:
        try:
            signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            raise _auth_error(
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header.",
            ) from None
        if amz_date[:8] != scope_date:
            raise _auth_error(
                "InvalidSignatureException",
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        now = self.now()
        stamp = "%Y%m%dT%H%M%SZ"
        if signed_at < now - MAX_SKEW:
            raise _auth_error(
                "InvalidSignatureException",
                f"Signature expired: {amz_date} is now earlier than "
                f"{(now - MAX_SKEW).strftime(stamp)} ({now.strftime(stamp)} - 5 min.)",
            )
        if signed_at > now + MAX_SKEW:
            raise _auth_error(
                "InvalidSignatureException",
                f"Signature not yet current: {amz_date} is still later than "
                f"{(now + MAX_SKEW).strftime(stamp)} ({now.strftime(stamp)} + 5 min.)",
            )

    # ----------------------------------------------------------------- models and triggers

    def _model(self, model_id: str) -> FakeModel:
        resolved = model_id
        if resolved.startswith("arn:"):
            kind, _, rest = resolved.split(":", 5)[-1].partition("/")
            if kind == "application-inference-profile" and rest in self.application_profiles:
                resolved = self.application_profiles[rest]
            elif kind in ("foundation-model", "inference-profile"):
                resolved = rest
            else:
                raise AwsError(
                    400, "ValidationException", "The provided model identifier is invalid."
                )
        prefix, dot, rest = resolved.partition(".")
        if dot and prefix in _PROFILE_PREFIXES and rest in self.models:
            resolved = rest
        if resolved in self.retired_models:
            raise AwsError(
                404,
                "ResourceNotFoundException",
                "This model version has reached the end of its life. Please refer to the AWS "
                "documentation for more details.",
            )
        if resolved not in self.models:
            raise AwsError(400, "ValidationException", "The provided model identifier is invalid.")
        if resolved in self.denied_models:
            raise AwsError(
                403,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            )
        return self.models[resolved]

    def _trigger_errors(self, prompt: str) -> None:
        triggers: tuple[tuple[str, AwsError], ...] = (
            (
                "ratelimit",
                AwsError(
                    429,
                    "ThrottlingException",
                    "Too many requests, please wait before trying again.",
                ),
            ),
            (
                "notready",
                AwsError(
                    429,
                    "ModelNotReadyException",
                    "Model is not ready to serve inference requests. The AWS SDK will "
                    "automatically retry the operation up to 5 times.",
                ),
            ),
            (
                "servererror",
                AwsError(
                    500,
                    "InternalServerException",
                    "The server encountered an internal error while processing the request.",
                ),
            ),
            (
                "unavailable",
                AwsError(
                    503,
                    "ServiceUnavailableException",
                    "Bedrock is unable to process your request.",
                ),
            ),
            (
                "modeltimeout",
                AwsError(
                    408,
                    "ModelTimeoutException",
                    "Model has timed out in processing the request. Try your request again.",
                ),
            ),
            (
                "modelerror",
                AwsError(
                    424,
                    "ModelErrorException",
                    "The model returned an error while processing the request.",
                    extra={"originalStatusCode": 500, "resourceName": "bedrock-model"},
                ),
            ),
            (
                "quotaexceeded",
                AwsError(
                    400,
                    "ServiceQuotaExceededException",
                    "Your request exceeds the service quota for your account. You can view "
                    "your quotas at https://docs.aws.amazon.com/servicequotas/.",
                ),
            ),
        )
        for word, error in triggers:
            if has_word(prompt, word):
                raise error

    # ----------------------------------------------------------------- families

    def _stability(self, model: FakeModel, raw: Any) -> web.Response:
        body = check_object(raw, _stability_fields(model))
        if body.get("mode") == "image-to-image" and "image" not in body:
            raise malformed("#: required key [image] not found")
        prompt = body["prompt"]
        seed = body.get("seed") or random.randint(1, 4_294_967_295)
        if has_word(prompt, "forbidden"):
            return web.json_response({"finish_reasons": ["Filter reason: prompt"]})
        if has_word(prompt, "inferenceerror"):
            return web.json_response({"seeds": [seed], "finish_reasons": ["Inference error"]})
        width, height = STABILITY_RATIOS[body.get("aspect_ratio", "1:1")]
        fmt = "jpeg" if str(body.get("output_format", "png")).lower() == "jpeg" else "png"
        if has_word(prompt, "blockedoutput"):
            blank = image_bytes("png", 64, 64, 0)
            return web.json_response(
                {
                    "seeds": [seed],
                    "finish_reasons": ["Filter reason: output image"],
                    "images": [_b64(blank)],
                }
            )
        data = image_bytes(fmt, width, height, _picture_seed(prompt, seed))
        return web.json_response(
            {"seeds": [seed], "finish_reasons": [None], "images": [_b64(data)]}
        )

    def _sdxl(self, raw: Any) -> web.Response:
        body = check_object(raw, SDXL_FIELDS)
        prompts = body["text_prompts"]
        if not prompts:
            raise malformed("#/text_prompts: expected minimum item count: 1, found: 0")
        for index, item in enumerate(prompts):
            check_object(item, SDXL_PROMPT_FIELDS, f"#/text_prompts/{index}")
        width, height = body.get("width", 1024), body.get("height", 1024)
        if (width, height) not in SDXL_SIZES:
            raise AwsError(
                400,
                "ValidationException",
                f"height and width must be one of 1024x1024, 1152x896, 1216x832, 1344x768, "
                f"1536x640, 640x1536, 768x1344, 832x1216, 896x1152 (got {width}x{height})",
            )
        text = " ".join(p["text"] for p in prompts if _positive(p))
        seed = body.get("seed") or random.randint(1, 4_294_967_295)
        if has_word(text, "inferenceerror"):
            artifact = {"seed": seed, "base64": "", "finishReason": "ERROR"}
        elif has_word(text, "forbidden") or has_word(text, "blockedoutput"):
            blurred = image_bytes("png", width, height, 0)
            artifact = {"seed": seed, "base64": _b64(blurred), "finishReason": "CONTENT_FILTERED"}
        else:
            data = image_bytes("png", width, height, _picture_seed(text, seed))
            artifact = {"seed": seed, "base64": _b64(data), "finishReason": "SUCCESS"}
        return web.json_response({"result": "success", "artifacts": [artifact]})

    def _service(self, model: FakeModel, model_id: str, raw: Any) -> web.Response:
        assert model.service is not None
        body = check_object(raw, SERVICE_FIELDS[model.service])
        images: dict[str, bytes] = {}
        decoded: dict[str, Image.Image] = {}
        for name in SERVICE_IMAGE_FIELDS:
            if name in body:
                picture = decode_image(body[name], f"#/{name}")
                width, height = picture.size
                if min(width, height) < 64 and model.service != "fast-upscale":
                    raise malformed(f"#/{name}: every side must be at least 64 pixels")
                decoded[name] = picture
                images[name] = base64.b64decode(body[name])
        mask = None
        if "mask" in body:
            raw_mask = decode_image(body["mask"], "#/mask")
            if raw_mask.size != decoded["image"].size:
                raise malformed("#/mask: the mask must have the image's dimensions")
            mask = raw_mask.convert("L")
        elif model.service in ("inpaint", "erase-object") and decoded["image"].mode not in (
            "RGBA",
            "LA",
        ):
            # Without a mask the tool reads the image's alpha channel; there is none here.
            raise malformed("#: required key [mask] not found")
        width, height = decoded["init_image" if "init_image" in decoded else "image"].size
        if model.service == "outpaint":
            sides = [body.get(key, 0) for key in ("left", "right", "up", "down")]
            if not any(sides):
                raise malformed("#: at least one of left, right, up or down must be non-zero")
            width += sides[0] + sides[1]
            height += sides[2] + sides[3]
        factor = UPSCALE_FACTORS.get(model.service, 1)
        width, height = width * factor, height * factor
        fields = {k: v for k, v in body.items() if k not in (*SERVICE_IMAGE_FIELDS, "mask")}
        self.service_edits.append(ServiceEdit(model_id, fields, images, mask))
        prompt = str(body.get("prompt", ""))
        if has_word(prompt, "forbidden"):
            return web.json_response({"finish_reasons": ["Filter reason: prompt"]})
        fmt = str(body.get("output_format", "png"))
        data = image_bytes(
            fmt,
            width,
            height,
            _picture_seed(prompt, 7),
            transparent=model.service == "remove-background",
        )
        seed = body.get("seed") or random.randint(1, 4_294_967_294)
        return web.json_response(
            {"seeds": [seed], "finish_reasons": [None], "images": [_b64(data)]}
        )

    def _amazon_edit(self, model: FakeModel, model_id: str, raw: dict[str, Any]) -> web.Response:
        task = raw["taskType"]
        params_key = EDIT_TASKS[task]
        if task == "BACKGROUND_REMOVAL" and not (model.shape == "nova" or model.titan_v2):
            raise malformed(f"#/taskType: {task} is not a valid enum value")
        top = {
            "taskType": Field("string", required=True),
            params_key: Field("object", required=True),
        }
        if task != "BACKGROUND_REMOVAL":
            # Background removal takes no imageGenerationConfig at all.
            top["imageGenerationConfig"] = Field("object")
        body = check_object(raw, top)
        params = check_object(body[params_key], _edit_task_fields(model, task), f"#/{params_key}")
        config = None
        if "imageGenerationConfig" in body:
            config = check_object(
                body["imageGenerationConfig"],
                _amazon_config_fields(model),
                "#/imageGenerationConfig",
            )
            if task in ("INPAINTING", "OUTPAINTING") and ("width" in config or "height" in config):
                # Unconfirmed, the fake's choice: these tasks answer at the input's size.
                raise malformed(
                    "#/imageGenerationConfig: width and height do not apply to this task"
                )
        if task == "IMAGE_VARIATION":
            raw_images = params["images"]
            if not 1 <= len(raw_images) <= 5:
                raise malformed("#/imageVariationParams/images: expected 1 to 5 items")
            pictures = [
                decode_image(item, f"#/imageVariationParams/images/{i}")
                for i, item in enumerate(raw_images)
            ]
            encoded = list(raw_images)
        else:
            pictures = [decode_image(params["image"], f"#/{params_key}/image")]
            encoded = [params["image"]]
        for index, picture in enumerate(pictures):
            where = f"#/{params_key}/image{'s/' + str(index) if task == 'IMAGE_VARIATION' else ''}"
            if picture.format not in ("PNG", "JPEG"):
                raise AwsError(400, "ValidationException", f"{where}: PNG or JPEG only.")
            _check_opaque(picture, where)
            width, height = picture.size
            problem = (
                nova_input_problem(width, height)
                if model.shape == "nova"
                else titan_input_problem(width, height)
            )
            if problem is not None:
                raise AwsError(400, "ValidationException", f"{where}: {problem}.")
        mask = None
        if task in ("INPAINTING", "OUTPAINTING"):
            if ("maskImage" in params) == ("maskPrompt" in params):
                raise malformed(
                    f"#/{params_key}: exactly one of maskImage or maskPrompt is required"
                )
            if "maskImage" in params:
                mask = _black_and_white(
                    decode_image(params["maskImage"], f"#/{params_key}/maskImage"),
                    pictures[0].size,
                    f"#/{params_key}/maskImage",
                )
        kept = {k: v for k, v in params.items() if k not in ("image", "images", "maskImage")}
        self.amazon_edits.append(
            AmazonEdit(
                model_id,
                task,
                kept,
                [base64.b64decode(item) for item in encoded],
                mask,
                config,
            )
        )
        prompt = str(params.get("text", ""))
        if has_word(prompt, "forbidden"):
            raise AwsError(400, "ValidationException", INPUT_BLOCKED)
        width, height = pictures[0].size
        count = 1
        if config is not None:
            count = config.get("numberOfImages", 1)
            if task == "IMAGE_VARIATION":
                # Unconfirmed: variations default to the first input's size when none is asked for.
                width, height = config.get("width", width), config.get("height", height)
        seed = config.get("seed", 0) if config else 0
        images = [
            _b64(
                image_bytes(
                    "png",
                    width,
                    height,
                    _picture_seed(prompt, seed) + index,
                    transparent=task == "BACKGROUND_REMOVAL",
                )
            )
            for index in range(count)
        ]
        return web.json_response({"images": images, "error": None})

    def _amazon(self, model: FakeModel, raw: Any) -> web.Response:
        if not isinstance(raw, dict):
            raise malformed(f"#: expected type: JSONObject, found: {_json_type(raw)}")
        task = raw.get("taskType")
        if task != "TEXT_IMAGE":
            raise malformed(f"#/taskType: {task} is not a valid enum value")
        body = check_object(
            raw,
            {
                "taskType": Field("string", required=True),
                "textToImageParams": Field("object", required=True),
                "imageGenerationConfig": Field("object"),
            },
        )
        params = check_object(
            body["textToImageParams"], _amazon_text_fields(model), "#/textToImageParams"
        )
        config = check_object(
            body.get("imageGenerationConfig", {}),
            _amazon_config_fields(model),
            "#/imageGenerationConfig",
        )
        width, height = config.get("width", 1024), config.get("height", 1024)
        if model.shape == "nova":
            problem = nova_size_problem(width, height)
            if problem is not None:
                raise AwsError(400, "ValidationException", f"Invalid input: {problem}.")
        elif (width, height) not in TITAN_SIZES:
            raise AwsError(
                400,
                "ValidationException",
                f"Malformed input request: #/imageGenerationConfig: {width}x{height} is not "
                "a supported image size, please reformat your input and try again.",
            )
        prompt = params["text"]
        if has_word(prompt, "forbidden"):
            raise AwsError(400, "ValidationException", INPUT_BLOCKED)
        count = config.get("numberOfImages", 1)
        if has_word(prompt, "blockedoutput"):
            return web.json_response({"images": [], "error": ALL_BLOCKED})
        error: str | None = None
        if has_word(prompt, "partlyblocked"):
            count -= 1
            error = SOME_BLOCKED if count else ALL_BLOCKED
        seed = config.get("seed", 42 if model.shape == "titan" else 12)
        images = [
            _b64(image_bytes("png", width, height, _picture_seed(prompt, seed) + index))
            for index in range(count)
        ]
        return web.json_response({"images": images, "error": error})


def _check_opaque(image: Image.Image, where: str) -> None:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        lowest = image.convert("RGBA").getchannel("A").getextrema()[0]
        if isinstance(lowest, int | float) and lowest < 255:
            raise AwsError(
                400,
                "ValidationException",
                f"{where}: the image must not contain transparent or semi-transparent pixels.",
            )


def _black_and_white(mask: Image.Image, size: tuple[int, int], where: str) -> Image.Image:
    if mask.size != size:
        raise AwsError(400, "ValidationException", f"{where}: the mask must match the image size.")
    gray = mask.convert("RGB")
    values = {pixel for pixel in gray.get_flattened_data()}
    if not values <= {(0, 0, 0), (255, 255, 255)}:
        raise AwsError(
            400, "ValidationException", f"{where}: the mask must be pure black and white only."
        )
    return mask.convert("L")


def _prompt_of(body: Any) -> str:
    """Every prompt text of any family's body, for the trigger words."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    if isinstance(body.get("prompt"), str):
        parts.append(body["prompt"])
    for item in body.get("text_prompts") or []:
        if isinstance(item, dict) and isinstance(item.get("text"), str) and _positive(item):
            parts.append(item["text"])
    for key in ("textToImageParams", *EDIT_TASKS.values()):
        params = body.get(key)
        if isinstance(params, dict) and isinstance(params.get("text"), str):
            parts.append(params["text"])
    return " ".join(parts)


def _positive(item: Mapping[str, Any]) -> bool:
    weight = item.get("weight", 1)
    return not isinstance(weight, int | float) or weight > 0


def _picture_seed(prompt: str, seed: int) -> int:
    return (zlib.crc32(prompt.encode()) + seed) & 0xFFFFFFFF


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
