"""Fake Google AI Studio / Gemini Developer API image generation.

Imitates the Gemini API reference (Imagen ``:predict``, Gemini image models
``:generateContent``, google.rpc.Status errors); what the gateway makes of it is in
docs/providers/gemini.md.

Routes: ``POST /v1beta/models/{model}:predict`` for Imagen models and
``POST /v1beta/models/{model}:generateContent`` for Gemini image models. A model called with the
other method, or a model the fake does not serve (retired ids such as
``imagen-3.0-generate-001``), answers 404 ``NOT_FOUND`` "models/X is not found for API version
v1beta, or is not supported for predict" — what users of LiteLLM saw when Gemini image models
were sent to ``:predict``. Unknown paths answer Google's HTML 404 page.

Auth: ``x-goog-api-key: <api_key>`` or ``?key=<api_key>``. A wrong key is **400**
``INVALID_ARGUMENT`` with ErrorInfo ``API_KEY_INVALID`` (the 3.3 body); no key at all is 403
``PERMISSION_DENIED`` (unconfirmed).

Bodies are validated: ``instances``/``parameters`` for ``:predict`` (``sampleCount`` 1..4, 1 for
Imagen 4 Ultra; ``aspectRatio``; ``sampleImageSize`` or LiteLLM's ``imageSize``, only on models
with size tiers; ``personGeneration``/``safetySetting`` case-insensitive but without the
Vertex-only ``allow_all``/``block_none``; ``outputOptions``); ``contents``/``generationConfig``
for ``:generateContent``, in camelCase or snake_case, where unknown fields are the proto-JSON
400 ``Invalid JSON payload received. Unknown name "x" at 'generation_config': Cannot find
field.`` with a BadRequest field violation, ``imageConfig`` takes only ``aspectRatio`` and
``imageSize`` (``personGeneration`` and output options are Vertex-only) and ``candidateCount``
above 1 is refused.

Answers: Imagen ``predictions[]`` of ``bytesBase64Encoded`` + ``mimeType`` (PNG, or JPEG with
``outputOptions.mimeType``) at the model's size for the ratio and tier; Gemini ``candidates[0]``
with an ``inlineData`` part (plus a ``thoughtSignature``), Gemini 3 models first emit thought
parts (a thought text and an interim thought image) and report ``thoughtsTokenCount``; a TEXT
modality adds a text part; ``usageMetadata`` with modality details (1290 image tokens for
gemini-2.5-flash-image, 1120 for a 1K/2K gemini-3-pro-image, 2000 for 4K).

Trigger words in the prompt (whole words, case-insensitive):

* ``forbidden``        → Imagen: every image filtered (one ``raiFilteredReason`` entry when
  ``includeRaiReason`` is true, else the bare ``{}``); Gemini: ``finishReason: IMAGE_SAFETY``
  with a ``finishMessage`` and no content;
* ``partlyforbidden``  → Imagen: ``sampleCount // 2`` images filtered (with a trailing
  ``raiFilteredReason`` entry when asked for);
* ``blocked``          → Gemini: ``promptFeedback.blockReason: PROHIBITED_CONTENT``, no candidates;
* ``prohibited``       → Gemini: ``finishReason: PROHIBITED_CONTENT``;
* ``noimage``          → Gemini: ``finishReason: NO_IMAGE`` with a text part;
* ``textonly``         → Gemini: ``finishReason: STOP`` with only a text part;
* ``ratelimit``        → 429 ``RESOURCE_EXHAUSTED`` (per-minute QuotaFailure, Help link,
  RetryInfo ``retryDelay`` = ``fake.retry_delay``, "7s" by default);
* ``insufficient_quota`` → the same with the per-day free-tier quota id;
* ``overloaded``       → 503 ``UNAVAILABLE`` "The model is overloaded. Please try again later.";
* ``servererror``      → 500 ``INTERNAL``;
* ``hang``             → the handler sleeps for an hour (here, not in ``base``: the prompt is
  not at ``body["prompt"]``).

Simplifications and guesses: the Imagen backend's own wording for bad parameters, the 403 for a
missing key and the refusal of unknown ``parameters`` names (``parameters`` is a
``google.protobuf.Value``, so the real API may ignore some) are unconfirmed; token counts for
gemini-3.1-flash(-lite)-image are unconfirmed; real images are not thought about, only sized and
coloured; no ``:streamGenerateContent``.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from aiohttp import web

from .base import HANG_SECONDS, STARTED_AT, FakeProvider, has_word
from .images import jpeg_bytes, png_bytes

API_VERSION = "v1beta"
Method = Literal["predict", "generateContent"]

IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GEMINI_31_RATIOS = (*GEMINI_RATIOS, "1:4", "4:1", "1:8", "8:1")

# Imagen's 1K sizes (2K doubles them).
IMAGEN_1K: Mapping[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}
# Gemini image models' 1K sizes (0.5K halves them, 2K doubles, 4K quadruples).
GEMINI_1K: Mapping[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
TIER_SCALE: Mapping[str, float] = {"0.5K": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}
THOUGHT_TOKENS = 212

_ALL_FILTERED = (
    "Unable to show generated images. All images were filtered out because they violated "
    "Vertex AI's usage guidelines. You will not be charged for blocked images. Try rephrasing "
    "the prompt. If you think this was an error, send feedback. Support codes: 56562880"
)
_IMAGE_SAFETY_MESSAGE = (
    "Unable to show the generated image. The image was filtered out because it violated "
    "Google's Generative AI Prohibited Use policy. You will not be charged for blocked images. "
    "Try rephrasing the prompt. If you think this was an error, send feedback."
)


@dataclass(frozen=True)
class FakeModel:
    """One model the fake serves."""

    name: str
    method: Method
    ratios: tuple[str, ...]
    sizes: tuple[str, ...] = ()
    """Accepted image-size tiers; empty: the field is refused."""
    max_samples: int = 4
    image_tokens: Mapping[str, int] = field(default_factory=dict)
    thinks: bool = False


def _imagen(name: str, sizes: tuple[str, ...] = (), max_samples: int = 4) -> FakeModel:
    return FakeModel(name, "predict", IMAGEN_RATIOS, sizes, max_samples)


def _gemini(
    name: str,
    ratios: tuple[str, ...],
    tokens: Mapping[str, int],
    *,
    sized: bool = True,
    thinks: bool = False,
) -> FakeModel:
    sizes = tuple(tokens) if sized else ()
    return FakeModel(name, "generateContent", ratios, sizes, 1, tokens, thinks)


_PRO_TOKENS = {"1K": 1120, "2K": 1120, "4K": 2000}
_FLASH_31_TOKENS = {"0.5K": 747, "1K": 1120, "2K": 1680, "4K": 2520}

DEFAULT_MODELS: tuple[FakeModel, ...] = (
    _imagen("imagen-4.0-generate-001", ("1K", "2K")),
    _imagen("imagen-4.0-ultra-generate-001", ("1K", "2K"), max_samples=1),
    _imagen("imagen-4.0-fast-generate-001"),
    _imagen("imagen-3.0-generate-002"),
    _gemini("gemini-2.5-flash-image", GEMINI_RATIOS, {"1K": 1290}, sized=False),
    _gemini("gemini-2.5-flash-image-preview", GEMINI_RATIOS, {"1K": 1290}, sized=False),
    _gemini("gemini-3-pro-image-preview", GEMINI_RATIOS, _PRO_TOKENS, thinks=True),
    _gemini("gemini-3-pro-image", GEMINI_RATIOS, _PRO_TOKENS, thinks=True),
    _gemini("gemini-3.1-flash-image-preview", GEMINI_31_RATIOS, _FLASH_31_TOKENS, thinks=True),
    _gemini("gemini-3.1-flash-image", GEMINI_31_RATIOS, _FLASH_31_TOKENS, thinks=True),
    _gemini("gemini-3.1-flash-lite-image", GEMINI_RATIOS, {"1K": 1120}, sized=False),
)

_PREDICT_PARAMETERS = frozenset(
    {
        "sampleCount",
        "aspectRatio",
        "sampleImageSize",
        "imageSize",
        "personGeneration",
        "safetySetting",
        "includeRaiReason",
        "includeSafetyAttributes",
        "outputOptions",
        "guidanceScale",
        "language",
    }
)
# Vertex-only: refused on the Gemini API (the Gemini API reference).
_VERTEX_ONLY_PARAMETERS = frozenset(
    {"negativePrompt", "seed", "addWatermark", "enhancePrompt", "storageUri"}
)
_CONTENT_BODY_FIELDS = frozenset(
    {
        "contents",
        "generationConfig",
        "safetySettings",
        "systemInstruction",
        "tools",
        "toolConfig",
        "cachedContent",
    }
)
_GENERATION_CONFIG_FIELDS = frozenset(
    {
        "responseModalities",
        "candidateCount",
        "imageConfig",
        "temperature",
        "topP",
        "topK",
        "seed",
        "maxOutputTokens",
        "stopSequences",
        "thinkingConfig",
        "responseMimeType",
    }
)
_IMAGE_CONFIG_FIELDS = frozenset({"aspectRatio", "imageSize"})


class GoogleError(Exception):
    """A google.rpc.Status error answer."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details or []

    def response(self) -> web.Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return web.json_response({"error": error}, status=self.code)


def invalid(message: str, field_name: str | None = None) -> GoogleError:
    violation: dict[str, str] = {"description": message}
    if field_name is not None:
        violation = {"field": field_name, **violation}
    return GoogleError(
        400,
        "INVALID_ARGUMENT",
        message,
        [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}],
    )


def unknown_name(name: str, at: str | None) -> GoogleError:
    where = f" at '{at}'" if at else ""
    return invalid(
        f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.', at
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def camel_keys(value: Mapping[str, Any]) -> dict[str, Any]:
    """Proto-JSON accepts both spellings of a field name; normalise to camelCase."""
    return {_camel(key): item for key, item in value.items()}


def gemini_size(ratio: str, tier: str) -> tuple[int, int]:
    """The size a Gemini image model makes for a ratio and tier."""
    scale = TIER_SCALE[tier]
    if ratio in GEMINI_1K:
        width, height = GEMINI_1K[ratio]
    else:
        w, _, h = ratio.partition(":")
        value = int(w) / int(h)
        width = round(1024 * math.sqrt(value) / 16) * 16
        height = round(1024 / math.sqrt(value) / 16) * 16
    return int(width * scale), int(height * scale)


def imagen_size(ratio: str, tier: str) -> tuple[int, int]:
    """The size an Imagen model makes for a ratio and tier."""
    width, height = IMAGEN_1K[ratio]
    scale = TIER_SCALE[tier]
    return int(width * scale), int(height * scale)


# Input images: the MIME types the API reads inline, and what the fake bills per image
# (its own choice: a flat count per image, whatever its size).
INPUT_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
INPUT_IMAGE_TOKENS = 258


def prompt_tokens(prompt: str) -> int:
    return max(len(prompt.split()), 1)


def _seed(prompt: str, index: int) -> int:
    return zlib.crc32(prompt.encode()) + index


class GeminiFake(FakeProvider):
    name: ClassVar[str] = "gemini"

    def __init__(
        self, api_key: str = "gemini-test-key", models: Iterable[FakeModel] | None = None
    ) -> None:
        self.api_key = api_key
        self.models: dict[str, FakeModel] = {
            model.name: model for model in (DEFAULT_MODELS if models is None else models)
        }
        #: RetryInfo.retryDelay of the 429 answers (a protobuf Duration in JSON).
        self.retry_delay = "7s"
        #: The inline input images of each :generateContent request, as (mime type, bytes).
        self.input_images: list[list[tuple[str, bytes]]] = []
        super().__init__()

    # ----------------------------------------------------------------- base hooks

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"/{API_VERSION}/models/{{target}}", self.handle)

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        elapsed_ms = int((time.monotonic() - request[STARTED_AT]) * 1000)
        return {
            "vary": "Origin, X-Origin, Referer",
            "server": "scaffolding on HTTPServer2",
            "x-xss-protection": "0",
            "x-frame-options": "SAMEORIGIN",
            "x-content-type-options": "nosniff",
            "server-timing": f"gfet4t7; dur={elapsed_ms}",
            "alt-svc": 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000',
        }

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        # Google's front end answers unknown paths with an HTML page, not google.rpc.Status.
        status = 404 if exc.status in (404, 405) else exc.status
        return web.Response(
            status=status,
            text=self._html_error(status, request.path),
            content_type="text/html",
            charset="UTF-8",
        )

    @staticmethod
    def _html_error(status: int, path: str) -> str:
        return (
            "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
            f"  <title>Error {status} (Not Found)!!1</title>\n"
            f"  <p><b>{status}.</b> <ins>That\u2019s an error.</ins>\n"
            f"  <p>The requested URL <code>{path}</code> was not found on this server.  "
            "<ins>That\u2019s all we know.</ins>\n"
        )

    # ----------------------------------------------------------------- handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.match_info["target"]
        model_name, sep, method = target.rpartition(":")
        if not sep or method not in ("predict", "generateContent"):
            return self.http_error(request, web.HTTPNotFound())
        try:
            self._check_key(request)
            model = self.models.get(model_name)
            if model is None or model.method != method:
                raise GoogleError(
                    404,
                    "NOT_FOUND",
                    f"models/{model_name} is not found for API version {API_VERSION}, or is not "
                    f"supported for {method}. Call ListModels to see the list of available "
                    "models and their supported methods.",
                )
            body = self.recorded(request).json
            if not isinstance(body, dict):
                raise invalid("Invalid JSON payload received. Unexpected token.")
            prompt = self._prompt(body, model)
            if has_word(prompt, "hang"):
                await asyncio.sleep(HANG_SECONDS)
            self._error_triggers(prompt, model)
            if model.method == "predict":
                return web.json_response(self._predict(body, model, prompt))
            return web.json_response(self._generate_content(body, model, prompt))
        except GoogleError as err:
            return err.response()

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise GoogleError(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != self.api_key:
            message = "API key not valid. Please pass a valid API key."
            raise GoogleError(
                400,
                "INVALID_ARGUMENT",
                message,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": message,
                    },
                ],
            )

    @staticmethod
    def _prompt(body: dict[str, Any], model: FakeModel) -> str:
        if model.method == "predict":
            instances = body.get("instances")
            first = instances[0] if isinstance(instances, list) and instances else None
            prompt = first.get("prompt") if isinstance(first, dict) else None
            return prompt if isinstance(prompt, str) else ""
        contents = body.get("contents")
        texts: list[str] = []
        for content in contents if isinstance(contents, list) else []:
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
        return " ".join(texts)

    def _error_triggers(self, prompt: str, model: FakeModel) -> None:
        if has_word(prompt, "ratelimit"):
            raise self._quota_error(
                model,
                "generativelanguage.googleapis.com/generate_requests_per_model",
                "GenerateRequestsPerMinutePerProjectPerModel",
                limit="10",
            )
        if has_word(prompt, "insufficient_quota"):
            raise self._quota_error(
                model,
                "generativelanguage.googleapis.com/generate_requests_per_model_per_day_free_tier",
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                limit="0",
            )
        if has_word(prompt, "overloaded"):
            raise GoogleError(
                503, "UNAVAILABLE", "The model is overloaded. Please try again later."
            )
        if has_word(prompt, "servererror"):
            raise GoogleError(
                500,
                "INTERNAL",
                "An internal error has occurred. Please retry or report in "
                "https://developers.generativeai.google/guide/troubleshooting",
            )

    def _quota_error(self, model: FakeModel, metric: str, quota_id: str, limit: str) -> GoogleError:
        seconds = self.retry_delay.removesuffix("s")
        return GoogleError(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, "
            "head to: https://ai.dev/usage?tab=rate-limit. \n"
            f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {model.name}\n"
            f"Please retry in {seconds}s.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": metric,
                            "quotaId": quota_id,
                            "quotaDimensions": {"location": "global", "model": model.name},
                            "quotaValue": limit,
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": self.retry_delay,
                },
            ],
        )

    # ----------------------------------------------------------------- :predict (Imagen)

    def _predict(self, body: dict[str, Any], model: FakeModel, prompt: str) -> dict[str, Any]:
        for name in body:
            if name not in ("instances", "parameters"):
                raise unknown_name(name, None)
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            raise invalid("instances must hold exactly one instance.", "instances")
        if not isinstance(instances[0], dict) or not prompt.strip():
            raise invalid("Image generation failed: the prompt is empty.", "instances[0].prompt")
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            raise invalid("parameters must be an object.", "parameters")
        for name in parameters:
            if name in _VERTEX_ONLY_PARAMETERS:
                raise invalid(f"{name} is not supported in the Gemini API.", f"parameters.{name}")
            if name not in _PREDICT_PARAMETERS:
                raise invalid(f"Unknown parameter: {name}.", f"parameters.{name}")
        count = parameters.get("sampleCount", 4 if model.max_samples > 1 else 1)
        if (
            not isinstance(count, int)
            or isinstance(count, bool)
            or not 1 <= count <= model.max_samples
        ):
            raise invalid(
                f"sampleCount must be between 1 and {model.max_samples} for {model.name}.",
                "parameters.sampleCount",
            )
        ratio = parameters.get("aspectRatio", "1:1")
        if ratio not in model.ratios:
            raise invalid(
                f"Unsupported aspect ratio: {ratio}. Supported: {', '.join(model.ratios)}.",
                "parameters.aspectRatio",
            )
        tier = self._tier(parameters, model, ("sampleImageSize", "imageSize"), "parameters")
        self._enum(parameters, "personGeneration", ("dont_allow", "allow_adult"))
        self._enum(
            parameters,
            "safetySetting",
            ("block_low_and_above", "block_medium_and_above", "block_only_high"),
        )
        for flag in ("includeRaiReason", "includeSafetyAttributes"):
            if flag in parameters and not isinstance(parameters[flag], bool):
                raise invalid(f"{flag} must be a boolean.", f"parameters.{flag}")
        if "guidanceScale" in parameters and not isinstance(
            parameters["guidanceScale"], int | float
        ):
            raise invalid("guidanceScale must be a number.", "parameters.guidanceScale")
        mime, quality = self._output_options(parameters.get("outputOptions", {}))
        with_reason = parameters.get("includeRaiReason") is True
        with_attributes = parameters.get("includeSafetyAttributes") is True

        if has_word(prompt, "forbidden"):
            return {"predictions": [{"raiFilteredReason": _ALL_FILTERED}]} if with_reason else {}
        filtered = count // 2 if has_word(prompt, "partlyforbidden") else 0
        width, height = imagen_size(ratio, tier or "1K")
        predictions: list[dict[str, Any]] = []
        for index in range(count - filtered):
            data = (
                jpeg_bytes(width, height, _seed(prompt, index), quality=quality)
                if mime == "image/jpeg"
                else png_bytes(width, height, _seed(prompt, index))
            )
            prediction: dict[str, Any] = {
                "bytesBase64Encoded": base64.b64encode(data).decode(),
                "mimeType": mime,
            }
            if with_attributes:
                prediction["safetyAttributes"] = {"categories": [], "scores": []}
                prediction["contentType"] = "image"
            predictions.append(prediction)
        if filtered and with_reason:
            predictions.append(
                {
                    "raiFilteredReason": (
                        f"Your current safety filter threshold filtered out {filtered} generated "
                        "images. You will not be charged for blocked images. Try rephrasing the "
                        "prompt. If you think this was an error, send feedback."
                    )
                }
            )
        answer: dict[str, Any] = {"predictions": predictions}
        if with_attributes:
            answer["positivePromptSafetyAttributes"] = {
                "safetyAttributes": {"categories": [], "scores": []},
                "contentType": "Positive Prompt",
            }
        return answer

    @staticmethod
    def _enum(parameters: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
        if name not in parameters:
            return
        value = parameters[name]
        if not isinstance(value, str) or value.lower() not in allowed:
            raise invalid(
                f"{name} must be one of {', '.join(allowed)} in the Gemini API; got {value!r}.",
                f"parameters.{name}",
            )

    @staticmethod
    def _output_options(options: Any) -> tuple[str, int]:
        if not isinstance(options, dict):
            raise invalid("outputOptions must be an object.", "parameters.outputOptions")
        for name in options:
            if name not in ("mimeType", "compressionQuality"):
                raise unknown_name(name, "parameters.output_options")
        mime = options.get("mimeType", "image/png")
        if mime not in ("image/png", "image/jpeg"):
            raise invalid(f"Unsupported mimeType: {mime}.", "parameters.outputOptions.mimeType")
        quality = options.get("compressionQuality", 75)
        if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
            raise invalid(
                "compressionQuality must be between 0 and 100.",
                "parameters.outputOptions.compressionQuality",
            )
        return mime, quality

    @staticmethod
    def _tier(
        config: dict[str, Any], model: FakeModel, names: tuple[str, ...], where: str
    ) -> str | None:
        given = [name for name in names if name in config]
        if not given:
            return None
        value = config[given[0]]
        if not model.sizes:
            raise invalid(f"{given[0]} is not supported for {model.name}.", f"{where}.{given[0]}")
        if value not in model.sizes:
            raise invalid(
                f"Unsupported image size: {value}. Supported: {', '.join(model.sizes)}.",
                f"{where}.{given[0]}",
            )
        return str(value)

    # ----------------------------------------------------------------- :generateContent

    def _generate_content(
        self, body: dict[str, Any], model: FakeModel, prompt: str
    ) -> dict[str, Any]:
        body = camel_keys(body)
        for name in body:
            if name not in _CONTENT_BODY_FIELDS:
                raise unknown_name(_snake(name), None)
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise invalid(
                "* GenerateContentRequest.contents: contents is not specified", "contents"
            )
        last = contents[-1]
        if not isinstance(last, dict) or last.get("role", "user") != "user":
            raise invalid("Please ensure that the last content has the user role.", "contents")
        if not prompt.strip():
            raise invalid(
                "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.",
                "contents[0].parts",
            )
        raw_config = body.get("generationConfig", {})
        if not isinstance(raw_config, dict):
            raise invalid("generation_config must be an object.", "generation_config")
        config = camel_keys(raw_config)
        for name in config:
            if name not in _GENERATION_CONFIG_FIELDS:
                raise unknown_name(_snake(name), "generation_config")
        modalities = self._modalities(config.get("responseModalities", ["TEXT", "IMAGE"]))
        candidates = config.get("candidateCount", 1)
        if candidates != 1:
            raise invalid(
                f"Multiple candidates is not enabled for models/{model.name}",
                "generation_config.candidate_count",
            )
        raw_image = config.get("imageConfig", {})
        if not isinstance(raw_image, dict):
            raise invalid("image_config must be an object.", "generation_config.image_config")
        image_config = camel_keys(raw_image)
        for name in image_config:
            if name not in _IMAGE_CONFIG_FIELDS:
                raise unknown_name(_snake(name), "generation_config.image_config")
        ratio = image_config.get("aspectRatio", "1:1")
        if ratio not in model.ratios:
            raise invalid(
                f"Unsupported aspect ratio: {ratio}. Supported: {', '.join(model.ratios)}.",
                "generation_config.image_config.aspect_ratio",
            )
        tier = (
            self._tier(image_config, model, ("imageSize",), "generation_config.image_config")
            or "1K"
        )

        text_in = prompt_tokens(prompt)
        inputs = self._input_images(contents)
        self.input_images.append(inputs)
        image_in = INPUT_IMAGE_TOKENS * len(inputs)
        tokens = text_in + image_in
        prompt_details = [{"modality": "TEXT", "tokenCount": text_in}]
        if image_in:
            prompt_details.append({"modality": "IMAGE", "tokenCount": image_in})
        prompt_usage: dict[str, Any] = {
            "promptTokenCount": tokens,
            "promptTokensDetails": prompt_details,
        }
        envelope = {"modelVersion": model.name, "responseId": uuid.uuid4().hex[:22]}
        if has_word(prompt, "blocked"):
            return {
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {**prompt_usage, "totalTokenCount": tokens},
                **envelope,
            }
        refusal = self._refusal(prompt)
        if refusal is not None:
            return {
                "candidates": [refusal],
                "usageMetadata": {**prompt_usage, "totalTokenCount": tokens},
                **envelope,
            }

        parts: list[dict[str, Any]] = []
        thoughts = THOUGHT_TOKENS if model.thinks else 0
        if model.thinks:
            parts.append(
                {"text": "**Composing the scene**\n\nPlanning the layout.", "thought": True}
            )
            interim = png_bytes(256, 256, _seed(prompt, 99))
            parts.append(
                {
                    "inlineData": {
                        "mimeType": "image/png",
                        "data": base64.b64encode(interim).decode(),
                    },
                    "thought": True,
                }
            )
        text_tokens = 0
        if "TEXT" in modalities:
            parts.append({"text": "Here is your image."})
            text_tokens = 5
        image_tokens = 0
        details: list[dict[str, Any]] = []
        if "IMAGE" in modalities:
            width, height = gemini_size(ratio, tier)
            data = png_bytes(width, height, _seed(prompt, 0))
            parts.append(
                {
                    "inlineData": {
                        "mimeType": "image/png",
                        "data": base64.b64encode(data).decode(),
                    },
                    "thoughtSignature": base64.b64encode(uuid.uuid4().bytes).decode(),
                }
            )
            image_tokens = model.image_tokens[tier]
            details.append({"modality": "IMAGE", "tokenCount": image_tokens})
        if text_tokens:
            details.append({"modality": "TEXT", "tokenCount": text_tokens})
        usage: dict[str, Any] = {
            **prompt_usage,
            "candidatesTokenCount": image_tokens + text_tokens,
            "totalTokenCount": tokens + image_tokens + text_tokens + thoughts,
            "candidatesTokensDetails": details,
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage,
            **envelope,
        }

    @staticmethod
    def _input_images(contents: list[Any]) -> list[tuple[str, bytes]]:
        """The inline images of the request's parts, in order, checked as the API checks them."""
        found: list[tuple[str, bytes]] = []
        for c, content in enumerate(contents):
            parts = content.get("parts") if isinstance(content, dict) else None
            for p, part in enumerate(parts if isinstance(parts, list) else []):
                inline = camel_keys(part).get("inlineData") if isinstance(part, dict) else None
                if inline is None:
                    continue
                field = f"contents[{c}].parts[{p}].inline_data"
                inline = camel_keys(inline) if isinstance(inline, dict) else {}
                mime = inline.get("mimeType")
                if mime not in INPUT_MIME_TYPES:
                    raise invalid(f"Unsupported MIME type: {mime}", f"{field}.mime_type")
                try:
                    data = base64.b64decode(str(inline.get("data", "")), validate=True)
                except ValueError:
                    raise invalid(
                        f"Invalid value at '{field}.data' (TYPE_BYTES), Base64 decoding failed",
                        f"{field}.data",
                    ) from None
                found.append((mime, data))
        return found

    @staticmethod
    def _modalities(value: Any) -> set[str]:
        if not isinstance(value, list) or not value:
            raise invalid(
                "response_modalities must be a non-empty list.",
                "generation_config.response_modalities",
            )
        modalities: set[str] = set()
        for index, item in enumerate(value):
            if not isinstance(item, str) or item.upper() not in ("TEXT", "IMAGE"):
                raise invalid(
                    f"Invalid value at 'generation_config.response_modalities[{index}]' "
                    "(type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig."
                    f'Modality), "{item}"',
                    f"generation_config.response_modalities[{index}]",
                )
            modalities.add(item.upper())
        return modalities

    @staticmethod
    def _refusal(prompt: str) -> dict[str, Any] | None:
        if has_word(prompt, "forbidden"):
            return {
                "finishReason": "IMAGE_SAFETY",
                "finishMessage": _IMAGE_SAFETY_MESSAGE,
                "index": 0,
            }
        if has_word(prompt, "prohibited"):
            return {"finishReason": "PROHIBITED_CONTENT", "index": 0}
        if has_word(prompt, "noimage"):
            return {
                "content": {
                    "role": "model",
                    "parts": [{"text": "I can't create an image of that."}],
                },
                "finishReason": "NO_IMAGE",
                "index": 0,
            }
        if has_word(prompt, "textonly"):
            return {
                "content": {
                    "role": "model",
                    "parts": [{"text": "Here is a description instead of an image."}],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        return None
