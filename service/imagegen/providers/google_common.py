"""The wire format Google's image models speak on both the Gemini API and Vertex AI.

Wire format: Google's Gemini API reference (Imagen `:predict`, Gemini image models
`:generateContent`, errors as google.rpc.Status) and Vertex AI's (what Vertex adds); what a
user sees is in docs/providers/gemini.md and docs/providers/vertex_ai.md. `gemini.py` and
`vertex.py` differ in URL, auth, their model tables and the parameters they offer; everything
else lives here, and what the two platforms say differently within it is one `Dialect` per
adapter.

- Two model families, two routes, never mixed up: Imagen (`:predict`, `instances[0].prompt` +
  `parameters`, the wire names of the last google-genai mapping, which also calls the image-size
  tier `sampleImageSize`) and Gemini image models (`:generateContent`, `contents` +
  `generationConfig` with `responseModalities: ["IMAGE"]` and `imageConfig`). Sending a Gemini
  model to `:predict` is the LiteLLM bug users report (a 404).
- Sizes: a `WxH` also picks the image-size tier ("0.5K" < "1K" < "2K" < "4K"): the smallest the
  model makes whose pixel count covers the request (with 25% slack, so 1920x1080 is 2K and
  1344x768 is 1K); a size beyond the model's largest tier is INVALID_ARGUMENT listing the tiers,
  raised before anything is sent. `provider_params.image_size` names the tier and wins.
- Safety (all answered with HTTP 200):
  * Imagen: fewer `predictions` than `sampleCount` (entries carrying only `raiFilteredReason`
    are the withheld ones) → `ProviderResult.filtered`; no image at all, including the bare
    `{}` body, → CONTENT_POLICY_VIOLATION quoting `raiFilteredReason`. Google does not bill
    blocked Imagen images, so that refusal costs 0.
  * Gemini: `promptFeedback.blockReason`, or a candidate without an image whose
    `finishReason` is a safety reason (IMAGE_SAFETY, PROHIBITED_CONTENT, NO_IMAGE, ...), →
    CONTENT_POLICY_VIOLATION with the reason as `upstream_code`. Prompt (and thinking) tokens
    may still be billed, and an error cannot carry a usage block, so that cost is `unknown`.
    A candidate that just stops without an image (STOP with text only, IMAGE_OTHER, ...) is
    PROVIDER_BAD_RESPONSE. Thought parts (`"thought": true`, Gemini 3 interim images) are
    skipped.
- Errors are google.rpc.Status JSON (also accepted as a one-element list). A bad key is a 400
  INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID: it is mapped exactly like an HTTP 401
  (upstream_status still says 400). A 429 RESOURCE_EXHAUSTED takes its retry delay from
  RetryInfo.retryDelay ("37s", "3.29s"); a per-day quota (QuotaFailure quotaId "...PerDay...")
  is PROVIDER_QUOTA_EXCEEDED rather than rate limited. BadRequest field violations name the
  field. A 400 whose message is a Responsible-AI refusal is CONTENT_POLICY_VIOLATION.
- Usage: `usageMetadata` → Usage: promptTokenCount (split by promptTokensDetails) is input;
  candidatesTokenCount split by candidatesTokensDetails modality, plus thoughtsTokenCount
  (billed as text output), is output. Image dimensions are read from the returned PNG/JPEG.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import JsonValue

from imagegen.errors import (
    FieldViolation,
    ImageGenError,
    InvalidRequestError,
    ProviderBadResponseError,
)
from imagegen.imagefmt import image_dimensions, sniff_mime
from imagegen.providers.base import ModelSpec, ParamSpec, ProviderCall
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

B64_ONLY = (ResponseFormat.B64_JSON,)
_PARAMS = frozenset({"n", "size", "response_format"})

OUTPUT_MIME = ParamSpec(str, choices=("image/png", "image/jpeg"))
OUTPUT_COMPRESSION = ParamSpec(int, minimum=0, maximum=100)
# The Imagen provider params both platforms take alike. person_generation and
# safety_filter_level are each adapter's own: Vertex adds a choice to each.
IMAGEN_COMMON_PARAMS: Mapping[str, ParamSpec] = {
    "include_rai_reason": ParamSpec(bool),
    "include_safety_attributes": ParamSpec(bool),
    "output_mime_type": OUTPUT_MIME,
    "output_compression_quality": OUTPUT_COMPRESSION,
    "guidance_scale": ParamSpec(float, minimum=0),
    "language": ParamSpec(
        str, choices=("auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es")
    ),
}
# provider_params name → Imagen `parameters` field (outputOptions is nested, see _imagen_body).
IMAGEN_WIRE: Mapping[str, str] = {
    "person_generation": "personGeneration",
    "safety_filter_level": "safetySetting",
    "include_rai_reason": "includeRaiReason",
    "include_safety_attributes": "includeSafetyAttributes",
    "guidance_scale": "guidanceScale",
    "language": "language",
    "image_size": "sampleImageSize",
}
OUTPUT_OPTIONS_WIRE: Mapping[str, str] = {
    "output_mime_type": "mimeType",
    "output_compression_quality": "compressionQuality",
}

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


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one platform says differently within the shared wire format."""

    imagen_wire: Mapping[str, str]
    """provider_params name → Imagen `parameters` field."""
    image_config_wire: Mapping[str, str]
    """Gemini-model provider params sent inside `imageConfig` (the rest go to
    `generationConfig` as given)."""
    image_output_wire: Mapping[str, str]
    """Gemini-model provider params sent inside `imageConfig.imageOutputOptions`."""
    stores_images: bool
    """Whether Imagen may answer with `gcsUri` entries (images written to Cloud Storage)."""
    refusal: re.Pattern[str]
    """A 400 whose message matches is a prompt the safety system refused."""
    bad_key_message: re.Pattern[str] | None
    """A 400 whose message matches is a bad API key even without ErrorInfo API_KEY_INVALID."""


@dataclass(frozen=True, slots=True)
class Family:
    """An image model family as Google makes it, whichever platform serves it."""

    name: str
    """The family's name, which its model ids start with."""
    route: Route
    tiers: tuple[str, ...]
    """Image sizes it makes, smallest first; empty when the gateway does not know."""
    ratios: tuple[str, ...]
    per_call: int
    """Images one call makes: the gateway fans out above that."""


def _imagen(name: str, tiers: tuple[str, ...], per_call: int = 4) -> Family:
    return Family(name, Route.PREDICT, tiers, IMAGEN_RATIOS, per_call)


def _gemini(name: str, ratios: tuple[str, ...], tiers: tuple[str, ...]) -> Family:
    # candidateCount > 1 is not offered for image output: one image per call.
    return Family(name, Route.GENERATE_CONTENT, tiers, ratios, 1)


IMAGEN_4 = _imagen("imagen-4.0-generate", ("1K", "2K"))
# "Imagen 4 Ultra ... can generate only one image at a time" (Gemini API Imagen guide,
# unconfirmed); on Vertex too, since fan-out is always safe where a refused 4 is not.
IMAGEN_4_ULTRA = _imagen("imagen-4.0-ultra-generate", ("1K", "2K"), per_call=1)
IMAGEN_4_FAST = _imagen("imagen-4.0-fast-generate", ("1K",))
IMAGEN_3 = _imagen("imagen-3.0-generate", ("1K",))
IMAGEN_3_FAST = _imagen("imagen-3.0-fast-generate", ("1K",))
IMAGEN_2 = _imagen("imagegeneration", ("1K",))  # imagegeneration@006: Vertex only
GEMINI_25_FLASH_IMAGE = _gemini("gemini-2.5-flash-image", GEMINI_RATIOS, ("1K",))
GEMINI_3_PRO_IMAGE = _gemini("gemini-3-pro-image", GEMINI_RATIOS, ("1K", "2K", "4K"))
GEMINI_31_FLASH_IMAGE = _gemini(
    "gemini-3.1-flash-image", GEMINI_31_RATIOS, ("0.5K", "1K", "2K", "4K")
)
GEMINI_31_FLASH_LITE_IMAGE = _gemini("gemini-3.1-flash-lite-image", GEMINI_RATIOS, ("1K",))
# The families both platforms serve; each adapter adds its own.
SHARED_FAMILIES = (
    IMAGEN_4,
    IMAGEN_4_ULTRA,
    IMAGEN_4_FAST,
    IMAGEN_3,
    IMAGEN_3_FAST,
    GEMINI_25_FLASH_IMAGE,
    GEMINI_3_PRO_IMAGE,
    GEMINI_31_FLASH_IMAGE,
)
# Models the gateway has no rules for: parameters pass through and the provider judges them.
_IMAGEN_OTHER = _imagen("imagen", ())
_GEMINI_OTHER = _gemini("gemini-image", GEMINI_31_RATIOS, ())


@dataclass(frozen=True, slots=True)
class GoogleImageModel:
    """A model family on one platform: its rules, its route and the image-size tiers it makes."""

    spec: ModelSpec
    route: Route
    tiers: tuple[str, ...]
    """Image sizes it makes, smallest first; empty when the gateway does not know."""
    sends_image_size: bool
    """Whether the request may carry the tier (sampleImageSize / imageConfig.imageSize)."""


class ModelTable:
    """One platform's image models: the families it serves, with the parameters it offers."""

    def __init__(
        self,
        families: Iterable[Family],
        *,
        imagen_extras: Mapping[str, ParamSpec],
        gemini_extras: Mapping[str, ParamSpec],
        imagen_formats: tuple[ResponseFormat, ...],
        separators: tuple[str, ...],
        is_imagen: Callable[[str], bool],
    ) -> None:
        """`separators` may follow a family name in a model id; `is_imagen` routes the ids
        of no known family."""
        self._extras = {Route.PREDICT: imagen_extras, Route.GENERATE_CONTENT: gemini_extras}
        self._imagen_formats = imagen_formats
        self._separators = separators
        self._is_imagen = is_imagen
        # Longest name first: "imagen-4.0-ultra-generate" must not match "imagen-4.0-generate".
        self._by_prefix = tuple(
            (family.name, self._model(family, known=True))
            for family in sorted(families, key=lambda family: -len(family.name))
        )
        self._imagen_other = self._model(_IMAGEN_OTHER, known=False)
        self._gemini_other = self._model(_GEMINI_OTHER, known=False)
        self._by_family = {
            model.spec.family: model
            for model in (*(m for _, m in self._by_prefix), self._imagen_other, self._gemini_other)
        }

    def _model(self, family: Family, *, known: bool) -> GoogleImageModel:
        imagen = family.route is Route.PREDICT
        spec = ModelSpec(
            family=family.name,
            params=_PARAMS,
            max_prompt_chars=MAX_PROMPT_CHARS,
            max_n=MAX_IMAGES_PER_REQUEST,
            aspect_ratios=family.ratios,
            native_sizes=IMAGEN_NATIVE_SIZES if imagen else GEMINI_NATIVE_SIZES,
            max_images_per_call=family.per_call,
            response_formats=self._imagen_formats if imagen else B64_ONLY,
            send_response_format=False,
            provider_params=(
                _provider_params(self._extras[family.route], family.tiers) if known else None
            ),
            known=known,
            # generateContent answers carry usageMetadata; Imagen's predict answers none.
            reports_tokens=not imagen,
        )
        return GoogleImageModel(
            spec, family.route, family.tiers, len(family.tiers) > 1 or not known
        )

    def lookup(self, model_id: str) -> GoogleImageModel:
        """The family of a model id (snapshots and suffixed ids included)."""
        lowered = model_id.lower()
        for prefix, model in self._by_prefix:
            if lowered == prefix or lowered.startswith(tuple(prefix + s for s in self._separators)):
                return model
        return self._imagen_other if self._is_imagen(lowered) else self._gemini_other

    def for_call(self, call: ProviderCall) -> GoogleImageModel:
        """The model whose spec `call` was checked against (by the call's model id when the
        spec is not one of this table's)."""
        return self._by_family.get(call.spec.family) or self.lookup(call.provider_model)


def _provider_params(
    extras: Mapping[str, ParamSpec], tiers: tuple[str, ...]
) -> dict[str, ParamSpec]:
    # A tier to choose only where the model makes more than one.
    if len(tiers) > 1:
        return {**extras, "image_size": ParamSpec(str, choices=tiers)}
    return dict(extras)


# ---------------------------------------------------------------------- image-size tiers

DEFAULT_TIER = "1K"


def image_size(call: ProviderCall, model: GoogleImageModel) -> str | None:
    """The tier to send: the caller's `image_size`, else the one a WxH size needs."""
    explicit = call.params.extra.get("image_size")
    if isinstance(explicit, str):
        return explicit
    tier = _tier_for_size(call, model)
    return tier if model.sends_image_size else None


def sent_tier(call: ProviderCall, model: GoogleImageModel) -> str | None:
    """The tier the images were made at (for pricing keys), when the gateway knows it."""
    explicit = call.params.extra.get("image_size")
    if isinstance(explicit, str):
        return explicit
    size = call.params.size
    if model.tiers and size is not None and size != AUTO:
        return _tier_for_size(call, model)
    # Without a tier in the request Google makes 1K images (the documented default).
    if DEFAULT_TIER in model.tiers:
        return DEFAULT_TIER
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
    edge = TIER_EDGES[model.tiers[-1]]
    description = (
        f"size {size} is larger than {call.spec.family} makes: its image sizes are "
        f"{', '.join(model.tiers)} (the largest is about {edge}x{edge} at 1:1); ask for a "
        f"smaller WIDTHxHEIGHT or only the aspect ratio ({call.params.aspect_ratio or '1:1'})"
    )
    # Raised while preparing the call: nothing was sent, so nothing can have been billed.
    raise InvalidRequestError(
        description,
        field_violations=[FieldViolation("size", description)],
        metadata={"field": "size"},
        request_sent=False,
    )


# ---------------------------------------------------------------------- request bodies


def request_body(
    call: ProviderCall, model: GoogleImageModel, dialect: Dialect
) -> dict[str, JsonValue]:
    """The JSON body of `call` for the model's route."""
    tier = image_size(call, model)
    if model.route is Route.PREDICT:
        return _imagen_body(call, tier, dialect)
    return _gemini_body(call, tier, dialect)


def _imagen_body(call: ProviderCall, tier: str | None, dialect: Dialect) -> dict[str, JsonValue]:
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
        if name in OUTPUT_OPTIONS_WIRE:
            output_options[OUTPUT_OPTIONS_WIRE[name]] = value
        else:
            parameters[dialect.imagen_wire.get(name, name)] = value
    if output_options:
        parameters["outputOptions"] = output_options
    # The reason is what the caller reads when every image is withheld.
    parameters.setdefault("includeRaiReason", True)
    return {"instances": [{"prompt": call.prompt}], "parameters": parameters}


def _gemini_body(call: ProviderCall, tier: str | None, dialect: Dialect) -> dict[str, JsonValue]:
    params = call.params
    image_config: dict[str, JsonValue] = {}
    if params.aspect_ratio is not None:
        image_config["aspectRatio"] = params.aspect_ratio
    if tier is not None:
        image_config["imageSize"] = tier
    # IMAGE only: text parts would only add billed output tokens to an image request.
    generation_config: dict[str, JsonValue] = {"responseModalities": ["IMAGE"]}
    output_options: dict[str, JsonValue] = {}
    for name, value in params.extra.items():
        if name == "image_size":
            continue
        if name in dialect.image_config_wire:
            image_config[dialect.image_config_wire[name]] = value
        elif name in dialect.image_output_wire:
            output_options[dialect.image_output_wire[name]] = value
        else:
            generation_config[name] = value
    if output_options:
        image_config["imageOutputOptions"] = output_options
    if image_config:
        # A raw imageConfig passed through to an unknown model is sent as given, as raw Imagen
        # `parameters` fields are.
        generation_config.setdefault("imageConfig", image_config)
    return {
        "contents": [{"role": "user", "parts": [{"text": call.prompt}]}],
        "generationConfig": generation_config,
    }


# ---------------------------------------------------------------------- responses


def parse_result(
    provider: str,
    call: ProviderCall,
    response: HttpResponse,
    model: GoogleImageModel,
    dialect: Dialect,
) -> ProviderResult:
    """Images and usage from a successful answer of the model's route."""
    payload = response.json()
    if not isinstance(payload, dict):
        raise ProviderBadResponseError(
            "the provider's response is not a JSON object", provider=provider
        )
    tier = sent_tier(call, model)
    if model.route is Route.PREDICT:
        return _imagen_result(provider, call, response, payload, tier, dialect)
    return _gemini_result(provider, response, payload, tier)


def _imagen_result(
    provider: str,
    call: ProviderCall,
    response: HttpResponse,
    payload: dict[str, object],
    tier: str | None,
    dialect: Dialect,
) -> ProviderResult:
    predictions = payload.get("predictions") or []
    if not isinstance(predictions, list):
        raise ProviderBadResponseError(
            "the provider's predictions are not a list", provider=provider
        )
    images: list[GeneratedImage] = []
    reasons: list[str] = []
    for item in predictions:
        if not isinstance(item, dict):
            raise ProviderBadResponseError("a prediction is not an object", provider=provider)
        mime = item.get("mimeType") if isinstance(item.get("mimeType"), str) else None
        # With enhancePrompt, Imagen reports the prompt it actually used.
        revised = item.get("prompt") if isinstance(item.get("prompt"), str) else None
        stored = item.get("gcsUri")
        if item.get("bytesBase64Encoded"):
            image = _image(provider, item["bytesBase64Encoded"], mime)
            image.revised_prompt = revised
            images.append(image)
        elif dialect.stores_images and isinstance(stored, str) and stored:
            images.append(GeneratedImage(url=stored, mime_type=mime, revised_prompt=revised))
        elif isinstance(item.get("raiFilteredReason"), str):
            reasons.append(item["raiFilteredReason"])
        elif stored and not dialect.stores_images:
            raise ProviderBadResponseError(
                "the provider stored the image in Cloud Storage instead of returning it",
                provider=provider,
            )
    if not images:
        # `{}` (no predictions at all) is what an all-filtered answer looks like without
        # includeRaiReason. Google does not bill blocked images: upstream_status makes it $0.
        detail = reasons[0] if reasons else "every generated image was filtered"
        raise content_policy_error(
            provider,
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
    provider: str, response: HttpResponse, payload: dict[str, object], tier: str | None
) -> ProviderResult:
    candidates = payload.get("candidates") or []
    if not isinstance(candidates, list):
        raise ProviderBadResponseError(
            "the provider's candidates are not a list", provider=provider
        )
    images: list[GeneratedImage] = []
    finish: list[str] = []
    texts: list[str] = []
    messages: list[str] = []
    for candidate in candidates:
        if not isinstance(candidate, dict):
            raise ProviderBadResponseError("a candidate is not an object", provider=provider)
        if isinstance(candidate.get("finishReason"), str):
            finish.append(candidate["finishReason"])
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
                    _image(provider, inline["data"], mime if isinstance(mime, str) else None)
                )
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
    if not images:
        said = messages[0] if messages else (texts[0] if texts else "")
        raise _no_image(provider, payload.get("promptFeedback"), finish, said)
    return ProviderResult(
        images=images,
        usage=gemini_usage(payload.get("usageMetadata")),
        created=int(time.time()),
        size=tier,
        headers=dict(response.headers),
    )


def _no_image(provider: str, feedback: object, finish: list[str], said: str) -> ImageGenError:
    block = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if isinstance(block, str) and block:
        message = feedback.get("blockReasonMessage") if isinstance(feedback, dict) else None
        detail = f": {_quoted(message)}" if isinstance(message, str) and message else ""
        error = content_policy_error(
            provider, f"the provider's safety filter blocked the prompt ({block}){detail}"
        )
        error.metadata["upstream_code"] = block[:64]
        return error
    detail = f": {_quoted(said)}" if said else ""
    safety = next((reason for reason in finish if reason in _SAFETY_FINISH), None)
    if safety is not None:
        error = content_policy_error(
            provider, f"the provider withheld the image (finishReason {safety}){detail}"
        )
        error.metadata["upstream_code"] = safety
        return error
    reason = finish[0] if finish else "none"
    return ProviderBadResponseError(
        f"the model answered without an image (finishReason {reason}){detail}",
        provider=provider,
        metadata={"upstream_code": reason[:64]},
    )


def _image(provider: str, b64: object, mime: str | None) -> GeneratedImage:
    data = decode_b64_image(b64, provider=provider)
    width, height = image_dimensions(data)
    # The bytes are the truth; the declared type only covers formats the sniffer does not know.
    return GeneratedImage(data=data, mime_type=sniff_mime(data) or mime, width=width, height=height)


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


# ---------------------------------------------------------------------- errors


def status_error(
    provider: str, call: ProviderCall, response: HttpResponse, dialect: Dialect
) -> ImageGenError:
    """The ImageGenError for a google.rpc.Status error answer."""
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
        dialect.bad_key_message is not None
        and status == 400
        and message is not None
        and dialect.bad_key_message.search(message) is not None
    ):
        status = 401
    headers = dict(response.headers)
    seconds = _retry_delay_seconds(_detail_field(details, "RetryInfo", "retryDelay"))
    if seconds is not None:
        headers["retry-after"] = seconds
    result = error_for_status(
        provider=provider,
        status=status,
        message=message or f"the provider answered HTTP {response.status}",
        headers=headers,
        caller_credentials=call.endpoint.caller_credentials,
        code=reason or status_name,
        param=param if isinstance(param, str) and param else None,
        content_policy=(
            status == 400 and message is not None and dialect.refusal.search(message) is not None
        ),
        quota_exhausted=any("perday" in quota.lower() for quota in quota_ids),
    )
    if status != response.status:
        # The error was parsed from an envelope that names another status: the one on the
        # wire is what tells whether the provider answered (and billed).
        result = result.annotated(None, {"upstream_status": str(response.status)})
        result.upstream_status = response.status
    return result


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
