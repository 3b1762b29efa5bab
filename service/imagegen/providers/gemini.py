"""Google AI Studio / Gemini Developer API adapter (`gemini/<model>`).

Wire format: ../shared/reference/providers.md §3 (§3.1 Imagen, §3.2 Gemini image models,
§3.3 errors, §3.4 prices). Base `https://generativelanguage.googleapis.com/v1beta`, auth
`x-goog-api-key`. Two model families, two routes, never mixed up:

- Imagen (`imagen-*`): `POST {base}/models/{m}:predict` with `instances[0].prompt` and
  `parameters` (`sampleCount`, `aspectRatio`, `sampleImageSize`, `personGeneration`,
  `safetySetting`, `outputOptions`, ...; the wire names of the last google-genai mapping, which
  also calls the image-size tier `sampleImageSize`). Up to 4 images a call (Imagen 4 Ultra: 1),
  the gateway fans out above that. The Gemini API refuses `negativePrompt`, `seed`,
  `addWatermark`, `enhancePrompt`, `allow_all` and `block_none` (Vertex-only), so they are not
  offered.
- Gemini image models (everything else, e.g. `gemini-2.5-flash-image`,
  `gemini-3-pro-image-preview`): `POST {base}/models/{m}:generateContent` with
  `generationConfig.responseModalities: ["IMAGE"]` and `imageConfig` (`aspectRatio`,
  `imageSize`). One image per call: n is served by parallel calls. Sending these models to
  `:predict` is the LiteLLM bug users report (a 404); an unknown model name goes to
  `:generateContent` unless it starts with `imagen`.

Sizes: the caller's `WxH` (or `W:H`) becomes an aspect ratio through the shared normalizer.
A `WxH` also picks the image-size tier ("0.5K" < "1K" < "2K" < "4K"): the smallest the model
makes whose pixel count covers the request (with 25% slack, so 1920x1080 is 2K and 1344x768
is 1K); a size beyond the model's largest tier is INVALID_ARGUMENT listing the tiers, raised
before anything is sent. `provider_params.image_size` names the tier explicitly and wins.

Safety (all answered with HTTP 200):
- Imagen: fewer `predictions` than `sampleCount` (entries carrying only `raiFilteredReason`
  are the withheld ones) → `ProviderResult.filtered`; no image at all, including the bare `{}`
  body, → CONTENT_POLICY_VIOLATION quoting `raiFilteredReason`. Google does not bill blocked
  Imagen images, so that refusal costs 0.
- Gemini: `promptFeedback.blockReason`, or a candidate without an image whose `finishReason`
  is a safety reason (IMAGE_SAFETY, PROHIBITED_CONTENT, NO_IMAGE, ...), →
  CONTENT_POLICY_VIOLATION with the reason as `upstream_code`. Prompt (and thinking) tokens
  may still be billed, and an error cannot carry a usage block, so that cost is `unknown`.
  A candidate that just stops without an image (STOP with text only, IMAGE_OTHER, ...) is
  PROVIDER_BAD_RESPONSE. Thought parts (`"thought": true`, Gemini 3 interim images) are skipped.

Errors are google.rpc.Status JSON (also accepted as a one-element list). A bad key is a 400
INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID: it is mapped exactly like an HTTP 401
(upstream_status still says 400). A 429 RESOURCE_EXHAUSTED takes its retry delay from
RetryInfo.retryDelay ("37s", "3.29s"); a per-day quota (QuotaFailure quotaId "...PerDay...")
is PROVIDER_QUOTA_EXCEEDED rather than rate limited. BadRequest field violations name the
field. Retired model ids answer 404 → PROVIDER_MODEL_NOT_FOUND.

Usage: `usageMetadata` → Usage: promptTokenCount (split by promptTokensDetails) is input;
candidatesTokenCount split by candidatesTokensDetails modality, plus thoughtsTokenCount (billed
as text output), is output. Image dimensions are read from the returned PNG/JPEG.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar
from urllib.parse import quote, urlsplit

from pydantic import JsonValue

from imagegen.errors import (
    FieldViolation,
    ImageGenError,
    InvalidRequestError,
    ProviderBadResponseError,
    ProviderError,
    ProviderNotConfiguredError,
)
from imagegen.imagefmt import sniff_mime
from imagegen.providers.base import (
    Endpoint,
    HttpProvider,
    HttpRequest,
    ModelSpec,
    ParamSpec,
    ProviderCall,
)
from imagegen.providers.http_errors import content_policy_error, error_for_status
from imagegen.providers.transport import HttpResponse
from imagegen.sizes import AUTO, parse_size
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    MAX_PROMPT_CHARS,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
    TokenDetails,
    Usage,
    decode_b64_image,
)

GEMINI_API_HOST = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"


class Route(StrEnum):
    """The method a model is called with."""

    PREDICT = "predict"
    GENERATE_CONTENT = "generateContent"


# Nominal edge of each image-size tier (the 1:1 image is edge x edge).
TIER_EDGES: Mapping[str, int] = {"0.5K": 512, "1K": 1024, "2K": 2048, "4K": 4096}
# A request may ask for this much more than a tier's nominal pixel count and still be that tier:
# the models' own sizes differ from edge² by a few percent (Imagen 16:9 1K is 1408x768).
_TIER_SLACK = 1.25

IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# Each model's own output size per ratio (Google's Imagen and Gemini image-generation guides);
# most do not reduce to their ratio exactly, yet a caller asking for them must get them.
IMAGEN_NATIVE_SIZES = {
    "1024x1024": "1:1",
    "896x1280": "3:4",
    "1280x896": "4:3",
    "768x1408": "9:16",
    "1408x768": "16:9",
}
GEMINI_NATIVE_SIZES = {
    "1024x1024": "1:1",
    "832x1248": "2:3",
    "1248x832": "3:2",
    "864x1184": "3:4",
    "1184x864": "4:3",
    "896x1152": "4:5",
    "1152x896": "5:4",
    "768x1344": "9:16",
    "1344x768": "16:9",
    "1536x672": "21:9",
}
GEMINI_31_RATIOS = (*GEMINI_RATIOS, "1:4", "4:1", "1:8", "8:1")

_B64_ONLY = (ResponseFormat.B64_JSON,)
_PARAMS = frozenset({"n", "size", "response_format"})

_IMAGEN_EXTRAS: Mapping[str, ParamSpec] = {
    # The Gemini API refuses allow_all (Vertex only).
    "person_generation": ParamSpec(str, choices=("dont_allow", "allow_adult")),
    # The Gemini API refuses block_none (Vertex only).
    "safety_filter_level": ParamSpec(
        str, choices=("block_low_and_above", "block_medium_and_above", "block_only_high")
    ),
    "include_rai_reason": ParamSpec(bool),
    "include_safety_attributes": ParamSpec(bool),
    "output_mime_type": ParamSpec(str, choices=("image/png", "image/jpeg")),
    "output_compression_quality": ParamSpec(int, minimum=0, maximum=100),
    "guidance_scale": ParamSpec(float, minimum=0),
    "language": ParamSpec(
        str, choices=("auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es")
    ),
}
# provider_params name → `parameters` field (outputOptions is nested, see _imagen_body).
_IMAGEN_WIRE: Mapping[str, str] = {
    "person_generation": "personGeneration",
    "safety_filter_level": "safetySetting",
    "include_rai_reason": "includeRaiReason",
    "include_safety_attributes": "includeSafetyAttributes",
    "guidance_scale": "guidanceScale",
    "language": "language",
    "image_size": "sampleImageSize",
}
_OUTPUT_OPTIONS_WIRE: Mapping[str, str] = {
    "output_mime_type": "mimeType",
    "output_compression_quality": "compressionQuality",
}


@dataclass(frozen=True, slots=True)
class GoogleImageModel:
    """A model family: its rules, its route and the image-size tiers it makes."""

    spec: ModelSpec
    route: Route
    tiers: tuple[str, ...]
    """Image sizes it makes, smallest first; empty when the gateway does not know."""
    sends_image_size: bool
    """Whether the request may carry the tier (sampleImageSize / imageConfig.imageSize)."""


def _with_tiers(extras: Mapping[str, ParamSpec], tiers: tuple[str, ...]) -> dict[str, ParamSpec]:
    return {**extras, "image_size": ParamSpec(str, choices=tiers)}


def _imagen(
    family: str, *, tiers: tuple[str, ...], per_call: int = 4, known: bool = True
) -> GoogleImageModel:
    sized = len(tiers) > 1
    spec = ModelSpec(
        family=family,
        params=_PARAMS,
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=IMAGEN_RATIOS,
        native_sizes=IMAGEN_NATIVE_SIZES,
        max_images_per_call=per_call,
        response_formats=_B64_ONLY,
        send_response_format=False,
        provider_params=(_with_tiers(_IMAGEN_EXTRAS, tiers) if sized else dict(_IMAGEN_EXTRAS))
        if known
        else None,
        known=known,
    )
    return GoogleImageModel(spec, Route.PREDICT, tiers if known else (), sized or not known)


def _gemini(
    family: str, *, ratios: tuple[str, ...], tiers: tuple[str, ...], known: bool = True
) -> GoogleImageModel:
    sized = len(tiers) > 1
    spec = ModelSpec(
        family=family,
        params=_PARAMS,
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=ratios,
        native_sizes=GEMINI_NATIVE_SIZES,
        # candidateCount > 1 is not offered for image output: one image per call.
        max_images_per_call=1,
        response_formats=_B64_ONLY,
        send_response_format=False,
        provider_params=(_with_tiers({}, tiers) if sized else {}) if known else None,
        known=known,
    )
    return GoogleImageModel(
        spec, Route.GENERATE_CONTENT, tiers if known else (), sized or not known
    )


IMAGEN_4 = _imagen("imagen-4.0-generate", tiers=("1K", "2K"))
# "Imagen 4 Ultra ... can generate only one image at a time" (Gemini API Imagen guide) [U].
IMAGEN_4_ULTRA = _imagen("imagen-4.0-ultra-generate", tiers=("1K", "2K"), per_call=1)
IMAGEN_4_FAST = _imagen("imagen-4.0-fast-generate", tiers=("1K",))
IMAGEN_3 = _imagen("imagen-3.0-generate", tiers=("1K",))
IMAGEN_3_FAST = _imagen("imagen-3.0-fast-generate", tiers=("1K",))
GEMINI_25_FLASH_IMAGE = _gemini("gemini-2.5-flash-image", ratios=GEMINI_RATIOS, tiers=("1K",))
GEMINI_3_PRO_IMAGE = _gemini("gemini-3-pro-image", ratios=GEMINI_RATIOS, tiers=("1K", "2K", "4K"))
GEMINI_31_FLASH_IMAGE = _gemini(
    "gemini-3.1-flash-image", ratios=GEMINI_31_RATIOS, tiers=("0.5K", "1K", "2K", "4K")
)
GEMINI_31_FLASH_LITE_IMAGE = _gemini(
    "gemini-3.1-flash-lite-image", ratios=GEMINI_RATIOS, tiers=("1K",)
)
# Models the gateway has no rules for: parameters pass through and the provider judges them.
IMAGEN_OTHER = _imagen("imagen", tiers=(), known=False)
GEMINI_OTHER = _gemini("gemini-image", ratios=GEMINI_31_RATIOS, tiers=(), known=False)

# Longest prefix first: "imagen-4.0-ultra-generate" must not match "imagen-4.0-generate".
_BY_PREFIX: tuple[tuple[str, GoogleImageModel], ...] = (
    ("imagen-4.0-ultra-generate", IMAGEN_4_ULTRA),
    ("imagen-4.0-fast-generate", IMAGEN_4_FAST),
    ("imagen-4.0-generate", IMAGEN_4),
    ("imagen-3.0-fast-generate", IMAGEN_3_FAST),
    ("imagen-3.0-generate", IMAGEN_3),
    ("gemini-3.1-flash-lite-image", GEMINI_31_FLASH_LITE_IMAGE),
    ("gemini-3.1-flash-image", GEMINI_31_FLASH_IMAGE),
    ("gemini-3-pro-image", GEMINI_3_PRO_IMAGE),
    ("gemini-2.5-flash-image", GEMINI_25_FLASH_IMAGE),
)
_BY_FAMILY: Mapping[str, GoogleImageModel] = {
    model.spec.family: model for model in (*(m for _, m in _BY_PREFIX), IMAGEN_OTHER, GEMINI_OTHER)
}

GEMINI_MODELS = (
    "imagen-4.0-generate-001",
    "imagen-4.0-ultra-generate-001",
    "imagen-4.0-fast-generate-001",
    "imagen-3.0-generate-002",
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
    "gemini-3.1-flash-lite-image",
)


def _model_id(model: str) -> str:
    # The API's own resource names read "models/gemini-2.5-flash-image".
    return model.removeprefix("models/")


def google_model(model: str) -> GoogleImageModel:
    """The family of a Gemini API model id (snapshots and -preview ids included)."""
    lowered = _model_id(model).lower()
    for prefix, candidate in _BY_PREFIX:
        if lowered == prefix or lowered.startswith(prefix + "-"):
            return candidate
    return IMAGEN_OTHER if lowered.startswith("imagen") else GEMINI_OTHER


# finishReason / blockReason values that mean a safety system withheld the image.
_SAFETY_FINISH = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
        "NO_IMAGE",
    }
)
_TYPE_PREFIX = "type.googleapis.com/google.rpc."
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_MAX_QUOTED_CHARS = 300


class GeminiProvider(HttpProvider):
    """The Gemini Developer API (Google AI Studio keys)."""

    name: ClassVar[str] = "gemini"
    env_api_key: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("GEMINI_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def spec_for(self, model: str) -> ModelSpec:
        return google_model(model).spec

    def api_base(self, endpoint: Endpoint) -> str:
        """`api_base` as given when it has a path; a bare host gets `/{api_version or v1beta}`."""
        base = (endpoint.api_base or GEMINI_API_HOST).rstrip("/")
        try:
            has_path = bool(urlsplit(base).path.strip("/"))
        except ValueError:
            has_path = True
        return base if has_path else f"{base}/{endpoint.api_version or DEFAULT_API_VERSION}"

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for gemini/{model}: set GEMINI_API_KEY (or GOOGLE_API_KEY) or "
                "api_key in the config",
                metadata={"provider": self.name, "model": model},
            )

    # ------------------------------------------------------------------ request

    def build_request(self, call: ProviderCall) -> HttpRequest:
        model = _BY_FAMILY.get(call.spec.family) or google_model(call.provider_model)
        model_id = quote(_model_id(call.provider_model), safe="-._~@")
        url = f"{self.api_base(call.endpoint)}/models/{model_id}:{model.route.value}"
        headers = {"x-goog-api-key": call.endpoint.api_key or ""}
        tier = _image_size(call, model)
        if model.route is Route.PREDICT:
            body = _imagen_body(call, tier)
        else:
            body = _gemini_body(call, tier)
        return HttpRequest(method="POST", url=url, headers=headers, json=body)

    # ------------------------------------------------------------------ response

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        payload = response.json()
        if not isinstance(payload, dict):
            raise ProviderBadResponseError(
                "the provider's response is not a JSON object", provider=self.name
            )
        model = _BY_FAMILY.get(call.spec.family) or google_model(call.provider_model)
        tier = _sent_tier(call, model)
        if model.route is Route.PREDICT:
            return self._imagen_result(call, response, payload, tier)
        return self._gemini_result(call, response, payload, tier)

    def _imagen_result(
        self,
        call: ProviderCall,
        response: HttpResponse,
        payload: dict[str, object],
        tier: str | None,
    ) -> ProviderResult:
        predictions = payload.get("predictions") or []
        if not isinstance(predictions, list):
            raise ProviderBadResponseError(
                "the provider's predictions are not a list", provider=self.name
            )
        images: list[GeneratedImage] = []
        reasons: list[str] = []
        for item in predictions:
            if not isinstance(item, dict):
                raise ProviderBadResponseError("a prediction is not an object", provider=self.name)
            if item.get("bytesBase64Encoded"):
                mime = item.get("mimeType")
                images.append(
                    self._image(item["bytesBase64Encoded"], mime if isinstance(mime, str) else None)
                )
            elif isinstance(item.get("raiFilteredReason"), str):
                reasons.append(item["raiFilteredReason"])
            elif item.get("gcsUri"):
                raise ProviderBadResponseError(
                    "the provider stored the image in Cloud Storage instead of returning it",
                    provider=self.name,
                )
        if not images:
            # `{}` (no predictions at all) is what an all-filtered answer looks like without
            # includeRaiReason. Google does not bill blocked images: upstream_status makes it $0.
            detail = reasons[0] if reasons else "every generated image was filtered"
            raise content_policy_error(
                self.name,
                f"the provider's safety filter withheld the images: {_quoted(detail)}",
                status=response.status,
            )
        return ProviderResult(
            images=images,
            created=int(time.time()),
            size=tier,
            headers=dict(response.headers),
            filtered=max(call.params.n - len(images), 0),
        )

    def _gemini_result(
        self,
        call: ProviderCall,
        response: HttpResponse,
        payload: dict[str, object],
        tier: str | None,
    ) -> ProviderResult:
        feedback = payload.get("promptFeedback")
        candidates = payload.get("candidates") or []
        if not isinstance(candidates, list):
            raise ProviderBadResponseError(
                "the provider's candidates are not a list", provider=self.name
            )
        images: list[GeneratedImage] = []
        finish: list[str] = []
        texts: list[str] = []
        messages: list[str] = []
        for candidate in candidates:
            if not isinstance(candidate, dict):
                raise ProviderBadResponseError("a candidate is not an object", provider=self.name)
            reason = candidate.get("finishReason")
            if isinstance(reason, str):
                finish.append(reason)
            if isinstance(candidate.get("finishMessage"), str):
                messages.append(candidate["finishMessage"])
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else []:
                if not isinstance(part, dict) or part.get("thought") is True:
                    continue
                inline = part.get("inlineData")
                if isinstance(inline, dict) and inline.get("data"):
                    mime = inline.get("mimeType")
                    images.append(
                        self._image(inline["data"], mime if isinstance(mime, str) else None)
                    )
                elif isinstance(part.get("text"), str):
                    texts.append(part["text"])
        if not images:
            raise self._no_image(feedback, finish, messages, texts)
        return ProviderResult(
            images=images,
            usage=gemini_usage(payload.get("usageMetadata")),
            created=int(time.time()),
            size=tier,
            headers=dict(response.headers),
        )

    def _no_image(
        self, feedback: object, finish: list[str], messages: list[str], texts: list[str]
    ) -> ImageGenError:
        block = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if isinstance(block, str) and block:
            said = feedback.get("blockReasonMessage") if isinstance(feedback, dict) else None
            detail = f": {_quoted(said)}" if isinstance(said, str) and said else ""
            error = content_policy_error(
                self.name, f"the provider's safety filter blocked the prompt ({block}){detail}"
            )
            error.metadata["upstream_code"] = block[:64]
            return error
        safety = next((reason for reason in finish if reason in _SAFETY_FINISH), None)
        said = messages[0] if messages else (texts[0] if texts else "")
        detail = f": {_quoted(said)}" if said else ""
        if safety is not None:
            error = content_policy_error(
                self.name, f"the provider withheld the image (finishReason {safety}){detail}"
            )
            error.metadata["upstream_code"] = safety
            return error
        reason = finish[0] if finish else "none"
        return ProviderBadResponseError(
            f"the model answered without an image (finishReason {reason}){detail}",
            provider=self.name,
            metadata={"upstream_code": reason[:64]},
        )

    def _image(self, b64: object, mime: str | None) -> GeneratedImage:
        data = decode_b64_image(b64, provider=self.name)
        width, height = image_dimensions(data)
        return GeneratedImage(
            data=data, mime_type=mime or sniff_mime(data), width=width, height=height
        )

    # ------------------------------------------------------------------ errors

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        if isinstance(payload, list) and len(payload) == 1:
            payload = payload[0]
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            error = {}
        message = error.get("message") if isinstance(error.get("message"), str) else None
        status_name = error.get("status") if isinstance(error.get("status"), str) else None
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        reason = _detail_field(details, "ErrorInfo", "reason")
        delay = _detail_field(details, "RetryInfo", "retryDelay")
        quota_ids = [
            str(v.get("quotaId"))
            for d in details
            if d.get("@type") == _TYPE_PREFIX + "QuotaFailure"
            for v in d.get("violations") or []
            if isinstance(v, dict)
        ]
        violations = [
            v
            for d in details
            if d.get("@type") == _TYPE_PREFIX + "BadRequest"
            for v in d.get("fieldViolations") or []
            if isinstance(v, dict)
        ]
        param = violations[0].get("field") if violations else None

        status = response.status
        # Google answers a bad key with 400 INVALID_ARGUMENT: it is an authentication failure.
        if reason == "API_KEY_INVALID" or (
            status == 400 and message is not None and "api key not valid" in message.lower()
        ):
            status = 401
        headers = dict(response.headers)
        seconds = _retry_delay_seconds(delay)
        if seconds is not None:
            headers["retry-after"] = seconds
        result = error_for_status(
            provider=self.name,
            status=status,
            message=message or f"the provider answered HTTP {response.status}",
            headers=headers,
            caller_credentials=call.endpoint.caller_credentials,
            code=reason or status_name,
            param=param if isinstance(param, str) and param else None,
            content_policy=(
                status == 400
                and message is not None
                and "responsible ai practices" in message.lower()
            ),
            quota_exhausted=any("perday" in quota.lower() for quota in quota_ids),
        )
        if status != response.status:
            result.metadata["upstream_status"] = str(response.status)
            if isinstance(result, ProviderError):
                result.upstream_status = response.status
        return result


# ---------------------------------------------------------------------- request bodies


def _image_size(call: ProviderCall, model: GoogleImageModel) -> str | None:
    """The tier to send: the caller's `image_size`, else the one a WxH size needs."""
    explicit = call.params.extra.get("image_size")
    if isinstance(explicit, str):
        return explicit
    tier = _tier_for_size(call, model)
    return tier if model.sends_image_size else None


def _sent_tier(call: ProviderCall, model: GoogleImageModel) -> str | None:
    """The tier the images were made at (for pricing keys), when the gateway knows it."""
    explicit = call.params.extra.get("image_size")
    if isinstance(explicit, str):
        return explicit
    size = call.params.size
    if model.tiers and size is not None and size != AUTO:
        return _tier_for_size(call, model)
    return model.tiers[0] if len(model.tiers) == 1 else None


def _tier_for_size(call: ProviderCall, model: GoogleImageModel) -> str | None:
    size = call.params.size
    if not model.tiers or size is None or size == AUTO:
        return None
    parsed = parse_size(size)
    area = parsed.width * parsed.height
    for tier in model.tiers:
        if area <= TIER_EDGES[tier] ** 2 * _TIER_SLACK:
            return tier
    largest = model.tiers[-1]
    edge = TIER_EDGES[largest]
    accepts = ", ".join(model.tiers)
    description = (
        f"size {size} is larger than {call.spec.family} makes: its image sizes are {accepts} "
        f"(the largest is about {edge}x{edge} at 1:1); ask for a smaller WIDTHxHEIGHT or only "
        f"the aspect ratio ({call.params.aspect_ratio or '1:1'})"
    )
    # Raised while preparing the call: nothing was sent, so nothing can have been billed.
    raise InvalidRequestError(
        description,
        field_violations=[FieldViolation("size", description)],
        metadata={"field": "size", "request_sent": "false"},
    )


def _imagen_body(call: ProviderCall, tier: str | None) -> dict[str, JsonValue]:
    params = call.params
    parameters: dict[str, JsonValue] = {"sampleCount": params.n}
    if params.aspect_ratio is not None:
        parameters["aspectRatio"] = params.aspect_ratio
    if tier is not None:
        parameters["sampleImageSize"] = tier
    output_options: dict[str, JsonValue] = {}
    for name, value in params.extra.items():
        if name == "image_size":
            continue
        if name in _OUTPUT_OPTIONS_WIRE:
            output_options[_OUTPUT_OPTIONS_WIRE[name]] = value
        else:
            parameters[_IMAGEN_WIRE.get(name, name)] = value
    if output_options:
        parameters["outputOptions"] = output_options
    # The reason is what the caller reads when every image is withheld.
    parameters.setdefault("includeRaiReason", True)
    return {"instances": [{"prompt": call.prompt}], "parameters": parameters}


def _gemini_body(call: ProviderCall, tier: str | None) -> dict[str, JsonValue]:
    params = call.params
    image_config: dict[str, JsonValue] = {}
    if params.aspect_ratio is not None:
        image_config["aspectRatio"] = params.aspect_ratio
    if tier is not None:
        image_config["imageSize"] = tier
    # IMAGE only: text parts would only add billed output tokens to an image request.
    generation_config: dict[str, JsonValue] = {"responseModalities": ["IMAGE"]}
    if image_config:
        generation_config["imageConfig"] = image_config
    for name, value in params.extra.items():
        if name != "image_size":
            generation_config[name] = value
    return {
        "contents": [{"role": "user", "parts": [{"text": call.prompt}]}],
        "generationConfig": generation_config,
    }


# ---------------------------------------------------------------------- response helpers


def gemini_usage(metadata: object) -> Usage | None:
    """Our Usage from a generateContent `usageMetadata` block (None when absent)."""
    if not isinstance(metadata, dict):
        return None

    def count(name: str) -> int:
        value = metadata.get(name)
        return value if isinstance(value, int) and value > 0 else 0

    def split(name: str) -> dict[str, int] | None:
        details = metadata.get(name)
        if not isinstance(details, list):
            return None
        by_modality: dict[str, int] = {}
        for item in details:
            if isinstance(item, dict) and isinstance(item.get("tokenCount"), int):
                modality = str(item.get("modality", "")).upper()
                by_modality[modality] = by_modality.get(modality, 0) + item["tokenCount"]
        return by_modality

    prompt = count("promptTokenCount")
    candidates = count("candidatesTokenCount")
    thoughts = count("thoughtsTokenCount")
    prompt_split = split("promptTokensDetails")
    input_details = (
        TokenDetails(
            text_tokens=prompt_split.get("TEXT", 0) + max(prompt - sum(prompt_split.values()), 0),
            image_tokens=prompt_split.get("IMAGE", 0),
        )
        if prompt_split
        else None
    )
    output_split = split("candidatesTokensDetails")
    if output_split:
        image = output_split.get("IMAGE", 0)
        # Tokens the split leaves out (a text part, usually) are text; thinking is billed as text.
        text = candidates - image + thoughts if candidates >= image else thoughts
        output_details: TokenDetails | None = TokenDetails(text_tokens=text, image_tokens=image)
    elif thoughts:
        output_details = TokenDetails(text_tokens=thoughts, image_tokens=candidates)
    else:
        # No split: an image-only answer's output tokens are image tokens.
        output_details = None
    return Usage(
        input_tokens=prompt,
        output_tokens=candidates + thoughts,
        total_tokens=count("totalTokenCount") or prompt + candidates + thoughts,
        input_tokens_details=input_details,
        output_tokens_details=output_details,
    )


def _detail_field(details: list[dict[str, object]], kind: str, name: str) -> str | None:
    for detail in details:
        if detail.get("@type") == _TYPE_PREFIX + kind and isinstance(detail.get(name), str):
            return str(detail[name])
    return None


def _retry_delay_seconds(delay: str | None) -> str | None:
    """ "37s" / "3.299376739s" (protobuf Duration JSON) as plain seconds."""
    if delay is None:
        return None
    match = _RETRY_DELAY.match(delay)
    return match.group(1) if match else None


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_QUOTED_CHARS else text[:_MAX_QUOTED_CHARS] + "…"


_JPEG_SOF = frozenset(
    {*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)}
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_dimensions(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of a PNG or JPEG file from its header (None, None otherwise)."""
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not data.startswith(b"\xff\xd8"):
        return None, None
    index = 2
    while index + 3 < len(data):
        if data[index] != 0xFF:
            return None, None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers carry no length
            index += 2
            continue
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if marker in _JPEG_SOF and index + 9 <= len(data):
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return width, height
        if length < 2:
            return None, None
        index += 2 + length
    return None, None
