"""OpenAI Images API rules shared by the OpenAI and Azure OpenAI fakes.

Imitates OpenAI's Images API reference: request fields and per-model limits, the response body
and the output-token table, SSE framing and the 400-level bodies. Azure OpenAI
speaks the same dialect with a narrower size/format list, which is expressed as a ``Dialect``.

Things the doc leaves open, and what this module does about them (unconfirmed by the docs):

* exact wording of validation messages: modelled on OpenAI's usual
  ``Invalid value: 'x'. Supported values are: ...`` / ``Invalid 'n': integer above maximum value``
  style; codes are ``invalid_value``, ``invalid_type``, ``unknown_parameter``,
  ``missing_required_parameter``, ``integer_below_min_value``/``integer_above_max_value``,
  ``string_above_max_length``;
* gpt-image-2 pixel limits: max edge 3840, at most 3840x2160 pixels, at least 655,360 pixels
  (the doc gives no minimum; 655,360 is the figure OpenAI's guide is recalled to state);
* ``quality: auto`` resolves to ``AUTO_QUALITY`` and ``background: auto`` to ``opaque``;
* gpt-image-2 token counts: chosen so tokens x $30/1M reproduce the doc's per-image prices for the
  three standard sizes (high 1024x1024 = 7024, the community figure); free sizes scale the
  1024x1024 row by pixel area;
* input text tokens = number of whitespace-separated words in the prompt (at least 1);
* ``transparent`` background is accepted on gpt-image-2 (the SDK says "preview");
* ``output_compression`` below 100 with PNG output is rejected;
* streaming with ``n > 1``: one ``completed`` event per image; the first carries the input tokens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

from aiohttp import web

from .images import MIME_TYPES, ImageFormat, image_bytes

AUTO_QUALITY = "medium"
AUTO_SIZE = "1024x1024"

GPT_ONLY_PARAMS = (
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "partial_images",
    "stream",
)
KNOWN_PARAMS = frozenset(
    {
        "prompt",
        "model",
        "n",
        "size",
        "quality",
        "style",
        "response_format",
        "user",
        *GPT_ONLY_PARAMS,
    }
)

GPT_SIZES = ("1024x1024", "1024x1536", "1536x1024", "auto")
GPT_QUALITIES = ("low", "medium", "high", "auto")

# gpt-image-2 free-form size limits (see module docstring).
FREE_SIZE_MULTIPLE = 16
FREE_SIZE_MAX_EDGE = 3840
FREE_SIZE_MAX_PIXELS = 3840 * 2160
FREE_SIZE_MIN_PIXELS = 655_360
FREE_SIZE_MAX_RATIO = 3.0

# OpenAI's docs: output tokens per image for the gpt-image-1 / 1.5 / mini family.
GPT1_OUTPUT_TOKENS: dict[tuple[str, str], int] = {
    ("low", "1024x1024"): 272,
    ("low", "1024x1536"): 408,
    ("low", "1536x1024"): 400,
    ("medium", "1024x1024"): 1056,
    ("medium", "1024x1536"): 1584,
    ("medium", "1536x1024"): 1568,
    ("high", "1024x1024"): 4160,
    ("high", "1024x1536"): 6240,
    ("high", "1536x1024"): 6208,
}
# gpt-image-2: per-image price / ($30 per 1M tokens) for the standard sizes (OpenAI's pricing page).
GPT2_SQUARE_TOKENS = {"low": 200, "medium": 1767, "high": 7024}
GPT2_NON_SQUARE_TOKENS = {"low": 167, "medium": 1367, "high": 5500}


PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)


class ApiError(Exception):
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        err_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.err_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: Literal["gpt-image", "dall-e"]
    max_prompt: int
    sizes: tuple[str, ...]  # accepted fixed sizes, in the order error messages list them
    qualities: tuple[str, ...]
    free_size: bool = False  # gpt-image-2: any WxH within FREE_SIZE_* limits
    max_n: int = 10
    tokens: Literal["gpt-image-1", "gpt-image-2", None] = None


def _gpt(name: str, tokens: Literal["gpt-image-1", "gpt-image-2"]) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="gpt-image",
        max_prompt=32000,
        sizes=GPT_SIZES,
        qualities=GPT_QUALITIES,
        free_size=tokens == "gpt-image-2",
        tokens=tokens,
    )


MODELS: dict[str, ModelSpec] = {
    "gpt-image-1": _gpt("gpt-image-1", "gpt-image-1"),
    "gpt-image-1-mini": _gpt("gpt-image-1-mini", "gpt-image-1"),
    "gpt-image-1.5": _gpt("gpt-image-1.5", "gpt-image-1"),
    "chatgpt-image-latest": _gpt("chatgpt-image-latest", "gpt-image-1"),
    "gpt-image-2": _gpt("gpt-image-2", "gpt-image-2"),
    "gpt-image-2-2026-04-21": _gpt("gpt-image-2-2026-04-21", "gpt-image-2"),
    "dall-e-2": ModelSpec(
        name="dall-e-2",
        family="dall-e",
        max_prompt=1000,
        sizes=("256x256", "512x512", "1024x1024"),
        qualities=("standard", "auto"),
    ),
    "dall-e-3": ModelSpec(
        name="dall-e-3",
        family="dall-e",
        max_prompt=4000,
        sizes=("1024x1024", "1792x1024", "1024x1792"),
        qualities=("standard", "hd", "auto"),
        max_n=1,
    ),
}


@dataclass(frozen=True)
class Dialect:
    """Provider-wide restrictions layered on top of the per-model rules."""

    name: str
    sizes: frozenset[str] | None  # None: no provider-wide size list
    output_formats: tuple[str, ...]


OPENAI = Dialect("openai", None, ("png", "jpeg", "webp"))
# Azure OpenAI: no 256/512 sizes, no webp.
AZURE = Dialect(
    "azure",
    frozenset({"auto", "1792x1024", "1024x1792", "1024x1024", "1024x1536", "1536x1024"}),
    ("png", "jpeg"),
)


@dataclass(frozen=True)
class ImageRequest:
    """A validated request with every ``auto``/default resolved to what the response echoes."""

    spec: ModelSpec
    prompt: str
    n: int
    size: str  # resolved "WxH"
    width: int
    height: int
    quality: str  # resolved; never "auto"
    style: str | None
    response_format: str  # "url" or "b64_json"; always "b64_json" for GPT image models
    background: str  # "opaque" or "transparent"
    output_format: ImageFormat
    output_compression: int
    moderation: str
    stream: bool
    partial_images: int
    user: str | None


# --------------------------------------------------------------------------- validation


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quote_list(values: tuple[str, ...] | list[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def _bad_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _bad_value(param: str, value: Any, allowed: tuple[str, ...] | list[str]) -> ApiError:
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {_quote_list(allowed)}.",
        param=param,
        code="invalid_value",
    )


def _unknown(param: str) -> ApiError:
    return ApiError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def _enum(body: dict[str, Any], param: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(param)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _bad_type(param, "a string", value)
    if value not in allowed:
        raise _bad_value(param, value, allowed)
    return value


def _int(body: dict[str, Any], param: str, lo: int, hi: int, default: int) -> int:
    value = body.get(param)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_type(param, "an integer", value)
    if value < lo:
        raise ApiError(
            400,
            f"Invalid '{param}': integer below minimum value. "
            f"Expected a value >= {lo}, but got {value} instead.",
            param=param,
            code="integer_below_min_value",
        )
    if value > hi:
        raise ApiError(
            400,
            f"Invalid '{param}': integer above maximum value. "
            f"Expected a value <= {hi}, but got {value} instead.",
            param=param,
            code="integer_above_max_value",
        )
    return value


def resolve_model(body: dict[str, Any], *, retired: frozenset[str] = frozenset()) -> ModelSpec:
    """Pick the model spec for an OpenAI request (``model`` omitted → SDK default rules)."""
    name = body.get("model")
    if name is None:
        # OpenAI: dall-e-2 "unless a parameter specific to the GPT image models is used".
        gpt_params = any(body.get(p) is not None for p in GPT_ONLY_PARAMS)
        name = "gpt-image-1" if gpt_params else "dall-e-2"
    if not isinstance(name, str):
        raise _bad_type("model", "a string", name)
    if name in retired:
        raise ApiError(
            404,
            f"The model `{name}` has been deprecated, learn more here: "
            "https://platform.openai.com/docs/deprecations",
            code="model_not_found",
        )
    spec = MODELS.get(name)
    if spec is None:
        raise ApiError(
            404,
            f"The model `{name}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return spec


def _size(body: dict[str, Any], spec: ModelSpec, dialect: Dialect) -> tuple[str, int, int]:
    value = body.get("size")
    if value is None:
        value = "auto" if spec.family == "gpt-image" else "1024x1024"
    if not isinstance(value, str):
        raise _bad_type("size", "a string", value)
    allowed = [s for s in spec.sizes if dialect.sizes is None or s in dialect.sizes]
    if value in allowed:
        label = AUTO_SIZE if value == "auto" else value
        w, h = (int(x) for x in label.split("x"))
        return label, w, h
    if not spec.free_size:
        raise _bad_value("size", value, allowed)
    return _free_size(value)


def _free_size(value: str) -> tuple[str, int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", value)
    if m is None:
        raise ApiError(
            400,
            f"Invalid size '{value}'. Size must be 'auto' or WIDTHxHEIGHT in pixels "
            "(for example '1024x1024').",
            param="size",
            code="invalid_value",
        )
    w, h = int(m[1]), int(m[2])
    problem = None
    if w == 0 or h == 0 or w % FREE_SIZE_MULTIPLE or h % FREE_SIZE_MULTIPLE:
        problem = f"Width and height must both be multiples of {FREE_SIZE_MULTIPLE}."
    elif max(w, h) / min(w, h) > FREE_SIZE_MAX_RATIO:
        problem = "The aspect ratio must be between 1:3 and 3:1."
    elif max(w, h) > FREE_SIZE_MAX_EDGE:
        problem = f"The longest edge must be at most {FREE_SIZE_MAX_EDGE} pixels."
    elif w * h > FREE_SIZE_MAX_PIXELS:
        problem = f"The total pixel count must be at most {FREE_SIZE_MAX_PIXELS} (3840x2160)."
    elif w * h < FREE_SIZE_MIN_PIXELS:
        problem = f"The total pixel count must be at least {FREE_SIZE_MIN_PIXELS}."
    if problem:
        raise ApiError(
            400, f"Invalid size '{value}'. {problem}", param="size", code="invalid_value"
        )
    return value, w, h


def parse_request(body: Any, spec: ModelSpec, dialect: Dialect = OPENAI) -> ImageRequest:
    """Validate ``body`` for ``spec`` the way the Images API does; raise ``ApiError`` if not."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_type")
    # Key checks come first: the API rejects unknown parameters before looking at values.
    for key in body:
        if key not in KNOWN_PARAMS:
            raise _unknown(key)
    present = {k for k, v in body.items() if v is not None}
    if spec.family == "gpt-image":
        if "response_format" in present:
            raise _unknown("response_format")
    else:
        for key in GPT_ONLY_PARAMS:
            if key in present:
                raise _unknown(key)
    if "style" in present and spec.name != "dall-e-3":
        raise _unknown("style")

    prompt = body.get("prompt")
    if prompt is None:
        raise ApiError(
            400,
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    if not isinstance(prompt, str):
        raise _bad_type("prompt", "a string", prompt)
    if not prompt:
        raise ApiError(
            400,
            "Invalid 'prompt': empty string. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="prompt",
            code="empty_string",
        )
    if len(prompt) > spec.max_prompt:
        raise ApiError(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{spec.max_prompt}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )

    n = _int(body, "n", 1, 10, 1)
    if n > spec.max_n:
        raise ApiError(400, "You must provide n=1 for this model.", param="n", code="invalid_value")
    size, width, height = _size(body, spec, dialect)
    default_quality = "auto" if spec.family == "gpt-image" else "standard"
    quality = _enum(body, "quality", spec.qualities, default_quality)
    if quality == "auto":
        quality = AUTO_QUALITY if spec.family == "gpt-image" else "standard"
    style = _enum(body, "style", ("vivid", "natural"), "vivid") if spec.name == "dall-e-3" else None
    response_format = "b64_json"
    if spec.family == "dall-e":
        response_format = _enum(body, "response_format", ("url", "b64_json"), "url")

    background = _enum(body, "background", ("transparent", "opaque", "auto"), "auto")
    output_format = _enum(body, "output_format", dialect.output_formats, "png")
    compression = _int(body, "output_compression", 0, 100, 100)
    moderation = _enum(body, "moderation", ("low", "auto"), "auto")
    partial_images = _int(body, "partial_images", 0, 3, 0)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad_type("stream", "a boolean", stream)
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad_type("user", "a string", user)

    if background == "transparent" and output_format == "jpeg":
        raise ApiError(
            400,
            "Transparent background is not supported for jpeg output format. Use png or webp.",
            param="background",
            code="invalid_value",
        )
    if output_format == "png" and compression < 100:
        raise ApiError(
            400,
            "Compression less than 100 is not supported for PNG output format.",
            param="output_compression",
            code="invalid_value",
        )

    return ImageRequest(
        spec=spec,
        prompt=prompt,
        n=n,
        size=size,
        width=width,
        height=height,
        quality=quality,
        style=style,
        response_format=response_format,
        background="transparent" if background == "transparent" else "opaque",
        # Safe: validated against dialect.output_formats, a subset of ImageFormat.
        output_format=cast(ImageFormat, output_format),
        output_compression=compression,
        moderation=moderation,
        stream=stream,
        partial_images=partial_images,
        user=user,
    )


# --------------------------------------------------------------------------- responses


def input_text_tokens(prompt: str) -> int:
    return max(1, len(prompt.split()))


def output_tokens_per_image(req: ImageRequest) -> int:
    if req.spec.tokens == "gpt-image-1":
        return GPT1_OUTPUT_TOKENS[(req.quality, req.size)]
    if req.spec.tokens == "gpt-image-2":
        if req.size == "1024x1024":
            return GPT2_SQUARE_TOKENS[req.quality]
        if req.size in ("1024x1536", "1536x1024"):
            return GPT2_NON_SQUARE_TOKENS[req.quality]
        scale = (req.width * req.height) / (1024 * 1024)
        return max(1, round(GPT2_SQUARE_TOKENS[req.quality] * scale))
    return 0


def usage(
    req: ImageRequest,
    *,
    images: int | None = None,
    with_input: bool = True,
    details: bool = False,
    input_image_tokens: int = 0,
) -> dict[str, Any]:
    """The ``usage`` block for ``images`` images (default ``req.n``).

    ``input_image_tokens`` counts the input images of an edit; generations have none.
    """
    text = input_text_tokens(req.prompt) if with_input else 0
    image = input_image_tokens if with_input else 0
    out = output_tokens_per_image(req) * (req.n if images is None else images)
    block: dict[str, Any] = {
        "input_tokens": text + image,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image},
        "output_tokens": out,
        "total_tokens": text + image + out,
    }
    if details:
        block["output_tokens_details"] = {"text_tokens": 0, "image_tokens": out}
    return block


def seed_for(prompt: str, index: int) -> int:
    """Deterministic per-prompt seed so the same request yields the same pixels."""
    return zlib.crc32(prompt.encode()) + index


def render(req: ImageRequest, index: int, *, salt: int = 0) -> bytes:
    """Image ``index`` of the response (``salt`` varies it, e.g. for partial images)."""
    return image_bytes(
        req.output_format,
        req.width,
        req.height,
        seed_for(req.prompt, index) + salt,
        transparent=req.background == "transparent",
        quality=req.output_compression,
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def mime_type(req: ImageRequest) -> str:
    return MIME_TYPES[req.output_format]


def revised_prompt(req: ImageRequest) -> str:
    """DALL·E 3 rewrites every prompt; the fake does it deterministically."""
    return (
        f"{req.prompt.rstrip('. ')}. Rendered in a {req.style or 'vivid'} style, richly detailed."
    )


def gpt_image_body(
    req: ImageRequest,
    data: list[dict[str, Any]],
    created: int,
    *,
    details: bool,
    input_image_tokens: int = 0,
) -> dict[str, Any]:
    """A non-streamed response for a GPT image model (OpenAI's reference)."""
    return {
        "created": created,
        "background": req.background,
        "data": data,
        "output_format": req.output_format,
        "quality": req.quality,
        "size": req.size,
        "usage": usage(req, details=details, input_image_tokens=input_image_tokens),
    }


# --------------------------------------------------------------------------- streaming

ApplyHeaders = Callable[[web.Request, web.StreamResponse], None]


async def stream_images(
    request: web.Request,
    req: ImageRequest,
    created: int,
    *,
    apply_headers: ApplyHeaders,
    interval: float,
    details: bool,
    error_after_partials: ApiError | None = None,
    event_prefix: str = "image_generation",
    input_image_tokens: int = 0,
) -> web.StreamResponse:
    """Answer with SSE as OpenAI streams images: ``event:`` + ``data:`` lines, no ``[DONE]``.

    ``error_after_partials`` emits a mid-stream ``{"error": ...}`` event after the partial
    images of the first image, then ends the stream (what a late moderation block looks like).
    ``event_prefix`` is ``image_edit`` for the edits endpoint, whose events are otherwise the
    same; its first ``completed`` event also counts ``input_image_tokens``.
    """
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
    )
    apply_headers(request, resp)
    await resp.prepare(request)

    async def send(event: str, payload: dict[str, Any]) -> None:
        await resp.write(f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode())
        if interval > 0:
            await asyncio.sleep(interval)

    common = {
        "background": req.background,
        "created_at": created,
        "output_format": req.output_format,
        "quality": req.quality,
        "size": req.size,
    }
    for i in range(req.n):
        for k in range(req.partial_images):
            await send(
                f"{event_prefix}.partial_image",
                {
                    "type": f"{event_prefix}.partial_image",
                    "b64_json": b64(render(req, i, salt=1000 + k)),
                    **common,
                    "partial_image_index": k,
                },
            )
        if error_after_partials is not None:
            await resp.write(f"data: {json.dumps(error_after_partials.body())}\n\n".encode())
            break
        await send(
            f"{event_prefix}.completed",
            {
                "type": f"{event_prefix}.completed",
                "b64_json": b64(render(req, i)),
                **common,
                "usage": usage(
                    req,
                    images=1,
                    with_input=i == 0,
                    details=details,
                    input_image_tokens=input_image_tokens,
                ),
            },
        )
    await resp.write_eof()
    return resp


# --------------------------------------------------------------------------- rate-limit headers


class UsageWindow:
    """Requests and output tokens served in the last 60 s, for ``x-ratelimit-remaining-*``."""

    def __init__(self) -> None:
        self._events: deque[tuple[float, int]] = deque()

    def add(self, tokens: int) -> None:
        self._events.append((time.monotonic(), tokens))

    def totals(self) -> tuple[int, int]:
        horizon = time.monotonic() - 60
        while self._events and self._events[0][0] < horizon:
            self._events.popleft()
        return len(self._events), sum(tokens for _, tokens in self._events)
