"""Vertex AI adapter (`vertex_ai/<model>`): Imagen and Gemini image models on Google Cloud.

Wire format: ../shared/reference/providers.md §4 (§4.1 endpoint and auth, §4.2/§4.3 Imagen,
§4.4 Gemini image models), with the bodies, safety outcomes and google.rpc.Status errors of §3
and the fake checklist of §9.4.

- URL: `POST {host}/{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/
  models/{model}:predict` for Imagen (`imagen-*`, `imagegeneration@*`) and `:generateContent`
  for Gemini image models (any model with "gemini" in its name; sending those to `:predict` is
  the LiteLLM bug users report). The host is `{location}-aiplatform.googleapis.com`,
  `aiplatform.googleapis.com` for the `global` location and `aiplatform.{us|eu}.rep.
  googleapis.com` for the multi-regions; `api_base` replaces it (a trailing `/v1` or `/v1beta1`
  picks the version; so does `api_version`).
- Project and location come from the deployment (`vertex_project` / `vertex_location`, LiteLLM's
  names, or their `vertex_ai_*` aliases), else VERTEXAI_PROJECT / GOOGLE_CLOUD_PROJECT and
  VERTEXAI_LOCATION / VERTEX_LOCATION / GOOGLE_CLOUD_LOCATION, else the credential's own project
  (a key's `project_id`) and `us-central1`.
- Auth: `Authorization: Bearer` with an OAuth2 token (scope cloud-platform) from google-auth: a
  service-account key (`vertex_credentials`: a file path, the JSON text or a mapping; or
  VERTEXAI_CREDENTIALS) or application default credentials. One token source per credential,
  cached and refreshed off the event loop with single flight (`google_auth.py`); a 401 drops the
  token and the call is retried once with a fresh one, as google-auth's AuthorizedSession does.
  A configured `api_key` selects Vertex AI express mode instead: `x-goog-api-key` on the global
  host, path `/{version}/publishers/google/models/{model}:...` with no project. The gateway never
  sends its Google credentials to an api_base a caller chose (PERMISSION_DENIED).
- Imagen: `instances[0].prompt` + `parameters`; n above the model's images per call (4; Imagen 4
  Ultra 1) is served by parallel calls. Typed provider params use google-genai's names:
  negative_prompt, seed, add_watermark, enhance_prompt, output_gcs_uri (`storageUri`: the images
  then come back as `gs://` URLs, so response_format must be url or unset), person_generation,
  safety_filter_level, output_mime_type / output_compression_quality (`outputOptions`), ...
  `includeRaiReason` is on unless the caller turns it off, so a refusal can say why.
- Gemini: `contents` + `generationConfig` (`responseModalities: ["IMAGE"]`, `imageConfig` with
  aspectRatio, imageSize and the Vertex-only personGeneration / imageOutputOptions, `seed`); one
  image per call, n by parallel calls. Thought parts (Gemini 3 interim images) are skipped.
- Sizes: a `WxH` or `W:H` size becomes an aspect ratio through the shared normalizer; a `WxH`
  also picks the image-size tier (the smallest that covers it, as in the Gemini API adapter); a
  size larger than the model's largest tier is INVALID_ARGUMENT. `image_size` names the tier.

Safety: a prompt refused before generation is a 400 INVALID_ARGUMENT ("... Responsible AI
practices ... Support codes: N") → CONTENT_POLICY_VIOLATION. Imagen answers with fewer
predictions (or `raiFilteredReason` entries, or `{}`) → `ProviderResult.filtered`, or
CONTENT_POLICY_VIOLATION at cost 0 when nothing is left (Google does not bill blocked images).
Gemini: `promptFeedback.blockReason` or a safety `finishReason` (IMAGE_SAFETY, NO_IMAGE, ...)
without an image → CONTENT_POLICY_VIOLATION (tokens may have been billed: cost unknown).
Errors: 401 UNAUTHENTICATED → PROVIDER_AUTHENTICATION_FAILED (the operator's credentials); 403
PERMISSION_DENIED; 404 NOT_FOUND (unknown or retired model); 429 RESOURCE_EXHAUSTED with
RetryInfo → retry_after; 5xx → PROVIDER_UNAVAILABLE. In express mode a bad key (400
API_KEY_INVALID) is mapped as a 401.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

from pydantic import JsonValue

from imagegen.errors import (
    FieldViolation,
    ImageGenError,
    InvalidRequestError,
    PermissionDeniedError,
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
from imagegen.providers.gemini import (
    GEMINI_31_RATIOS,
    GEMINI_NATIVE_SIZES,
    GEMINI_RATIOS,
    IMAGEN_NATIVE_SIZES,
    IMAGEN_RATIOS,
    TIER_EDGES,
    Route,
    gemini_usage,
    image_dimensions,
)
from imagegen.providers.google_auth import CredentialSource, GoogleTokenSource
from imagegen.providers.http_errors import content_policy_error, error_for_status
from imagegen.providers.transport import HttpResponse, HttpTransport
from imagegen.sizes import AUTO, parse_size
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    MAX_PROMPT_CHARS,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
    decode_b64_image,
)

GLOBAL_HOST = "https://aiplatform.googleapis.com"
DEFAULT_LOCATION = "us-central1"
DEFAULT_API_VERSION = "v1"
API_VERSIONS = ("v1", "v1beta1")
MULTI_REGIONS = frozenset({"us", "eu"})

ENV_PROJECT = ("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
ENV_LOCATION = ("VERTEXAI_LOCATION", "VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION")
ENV_CREDENTIALS = ("VERTEXAI_CREDENTIALS",)
ADC_ENV = "GOOGLE_APPLICATION_CREDENTIALS"

_PROJECT_OPTIONS = ("vertex_project", "vertex_ai_project")
_LOCATION_OPTIONS = ("vertex_location", "vertex_ai_location")
_CREDENTIAL_OPTIONS = ("vertex_credentials", "vertex_ai_credentials")
# Project ids, project numbers and domain-scoped ids ("example.com:proj"); region names.
_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9.:-]{0,99}$")
_LOCATION_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

# A request may ask for this much more than a tier's nominal pixel count and still be that
# tier (the models' own sizes differ from edge² by a few percent). Same rule as gemini.py.
_TIER_SLACK = 1.25
_NOT_SENT = {"request_sent": "false"}
_PARAMS = frozenset({"n", "size", "response_format"})
_TYPE_PREFIX = "type.googleapis.com/google.rpc."
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_REFUSAL = re.compile(r"responsible ai|usage guidelines|support codes?:", re.IGNORECASE)
_MAX_QUOTED_CHARS = 300

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

_OUTPUT_MIME = ParamSpec(str, choices=("image/png", "image/jpeg"))
_COMPRESSION = ParamSpec(int, minimum=0, maximum=100)

# Imagen on Vertex: the Gemini API set plus the Vertex-only fields (§4.2).
_IMAGEN_EXTRAS: Mapping[str, ParamSpec] = {
    "negative_prompt": ParamSpec(str),
    "seed": ParamSpec(int, minimum=0, maximum=2**32 - 1),
    "add_watermark": ParamSpec(bool),
    "enhance_prompt": ParamSpec(bool),
    "output_gcs_uri": ParamSpec(str),
    "person_generation": ParamSpec(str, choices=("dont_allow", "allow_adult", "allow_all")),
    "safety_filter_level": ParamSpec(
        str,
        choices=("block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"),
    ),
    "include_rai_reason": ParamSpec(bool),
    "include_safety_attributes": ParamSpec(bool),
    "output_mime_type": _OUTPUT_MIME,
    "output_compression_quality": _COMPRESSION,
    "guidance_scale": ParamSpec(float, minimum=0),
    "language": ParamSpec(
        str, choices=("auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es")
    ),
}
# provider_params name → `parameters` field (outputOptions is nested, see _imagen_body).
_IMAGEN_WIRE: Mapping[str, str] = {
    "negative_prompt": "negativePrompt",
    "seed": "seed",
    "add_watermark": "addWatermark",
    "enhance_prompt": "enhancePrompt",
    "output_gcs_uri": "storageUri",
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
# Gemini image models on Vertex: imageConfig's Vertex-only fields (§4.4) and the seed.
_GEMINI_EXTRAS: Mapping[str, ParamSpec] = {
    "person_generation": ParamSpec(str, choices=("ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE")),
    "output_mime_type": _OUTPUT_MIME,
    "output_compression_quality": _COMPRESSION,
    "seed": ParamSpec(int, minimum=0, maximum=2**31 - 1),
}


@dataclass(frozen=True, slots=True)
class VertexModel:
    """A model family: its rules, its route and the image-size tiers it makes."""

    spec: ModelSpec
    route: Route
    tiers: tuple[str, ...]
    """Image sizes it makes, smallest first; empty when the gateway does not know."""
    sends_image_size: bool
    """Whether the request may carry the tier (sampleImageSize / imageConfig.imageSize)."""


def _extras(base: Mapping[str, ParamSpec], tiers: tuple[str, ...]) -> dict[str, ParamSpec]:
    if len(tiers) > 1:
        return {**base, "image_size": ParamSpec(str, choices=tiers)}
    return dict(base)


def _imagen(
    family: str, *, tiers: tuple[str, ...], per_call: int = 4, known: bool = True
) -> VertexModel:
    spec = ModelSpec(
        family=family,
        params=_PARAMS,
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=IMAGEN_RATIOS,
        native_sizes=IMAGEN_NATIVE_SIZES,
        max_images_per_call=per_call,
        # url only with output_gcs_uri (the images are then written to Cloud Storage).
        response_formats=(ResponseFormat.B64_JSON, ResponseFormat.URL),
        send_response_format=False,
        provider_params=_extras(_IMAGEN_EXTRAS, tiers) if known else None,
        known=known,
    )
    return VertexModel(spec, Route.PREDICT, tiers if known else (), len(tiers) > 1 or not known)


def _gemini(
    family: str, *, ratios: tuple[str, ...], tiers: tuple[str, ...], known: bool = True
) -> VertexModel:
    spec = ModelSpec(
        family=family,
        params=_PARAMS,
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=ratios,
        native_sizes=GEMINI_NATIVE_SIZES,
        # candidateCount > 1 is not offered for image output: one image per call.
        max_images_per_call=1,
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params=_extras(_GEMINI_EXTRAS, tiers) if known else None,
        known=known,
    )
    return VertexModel(
        spec, Route.GENERATE_CONTENT, tiers if known else (), len(tiers) > 1 or not known
    )


IMAGEN_4 = _imagen("imagen-4.0-generate", tiers=("1K", "2K"))
# One image per call, as on the Gemini API [U]: fan-out is always safe, a refused 4 is not.
IMAGEN_4_ULTRA = _imagen("imagen-4.0-ultra-generate", tiers=("1K", "2K"), per_call=1)
IMAGEN_4_FAST = _imagen("imagen-4.0-fast-generate", tiers=("1K",))
IMAGEN_3 = _imagen("imagen-3.0-generate", tiers=("1K",))
IMAGEN_3_FAST = _imagen("imagen-3.0-fast-generate", tiers=("1K",))
IMAGEN_2 = _imagen("imagegeneration", tiers=("1K",))
GEMINI_25_FLASH_IMAGE = _gemini("gemini-2.5-flash-image", ratios=GEMINI_RATIOS, tiers=("1K",))
GEMINI_3_PRO_IMAGE = _gemini("gemini-3-pro-image", ratios=GEMINI_RATIOS, tiers=("1K", "2K", "4K"))
GEMINI_31_FLASH_IMAGE = _gemini(
    "gemini-3.1-flash-image", ratios=GEMINI_31_RATIOS, tiers=("0.5K", "1K", "2K", "4K")
)
# Models the gateway has no rules for: parameters pass through and Vertex judges them.
IMAGEN_OTHER = _imagen("imagen", tiers=(), known=False)
GEMINI_OTHER = _gemini("gemini-image", ratios=GEMINI_31_RATIOS, tiers=(), known=False)

# Longest prefix first: "imagen-4.0-ultra-generate" must not match "imagen-4.0-generate".
_BY_PREFIX: tuple[tuple[str, VertexModel], ...] = (
    ("imagen-4.0-ultra-generate", IMAGEN_4_ULTRA),
    ("imagen-4.0-fast-generate", IMAGEN_4_FAST),
    ("imagen-4.0-generate", IMAGEN_4),
    ("imagen-3.0-fast-generate", IMAGEN_3_FAST),
    ("imagen-3.0-generate", IMAGEN_3),
    ("imagegeneration", IMAGEN_2),
    ("gemini-3.1-flash-image", GEMINI_31_FLASH_IMAGE),
    ("gemini-3-pro-image", GEMINI_3_PRO_IMAGE),
    ("gemini-2.5-flash-image", GEMINI_25_FLASH_IMAGE),
)
_BY_FAMILY: Mapping[str, VertexModel] = {
    model.spec.family: model for model in (*(m for _, m in _BY_PREFIX), IMAGEN_OTHER, GEMINI_OTHER)
}

VERTEX_MODELS = (
    "imagen-4.0-generate-001",
    "imagen-4.0-ultra-generate-001",
    "imagen-4.0-fast-generate-001",
    "imagen-3.0-generate-002",
    "imagen-3.0-generate-001",
    "imagen-3.0-fast-generate-001",
    "imagegeneration@006",
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
)


def vertex_model(model: str) -> VertexModel:
    """The family of a Vertex model id (snapshots, `@version` and -preview ids included)."""
    lowered = model.lower()
    for prefix, candidate in _BY_PREFIX:
        if lowered == prefix or lowered.startswith((prefix + "-", prefix + "@")):
            return candidate
    return GEMINI_OTHER if "gemini" in lowered else IMAGEN_OTHER


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one deployment's calls go."""

    host: str
    version: str
    location: str
    project: str | None
    express_key: str | None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _first_env(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n].strip() for n in names if os.environ.get(n, "").strip()), None)


def _option(endpoint: Endpoint, names: tuple[str, ...]) -> object:
    return next((endpoint.options[n] for n in names if endpoint.options.get(n)), None)


class VertexProvider(HttpProvider):
    """Vertex AI on Google Cloud (OAuth2 via google-auth, or an express-mode API key)."""

    name: ClassVar[str] = "vertex_ai"
    # Express-mode keys only from the config: GOOGLE_API_KEY belongs to the Gemini API.
    env_api_key: ClassVar[tuple[str, ...]] = ()
    env_api_base: ClassVar[tuple[str, ...]] = ()
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._sources: dict[CredentialSource, GoogleTokenSource] = {}

    def spec_for(self, model: str) -> ModelSpec:
        return vertex_model(model).spec

    # ------------------------------------------------------------------ endpoint

    def _target(self, endpoint: Endpoint) -> _Target:
        project = _text(_option(endpoint, _PROJECT_OPTIONS)) or _first_env(ENV_PROJECT)
        location = (
            _text(_option(endpoint, _LOCATION_OPTIONS))
            or _first_env(ENV_LOCATION)
            or DEFAULT_LOCATION
        )
        express_key = endpoint.api_key or None
        version = endpoint.api_version or DEFAULT_API_VERSION
        if endpoint.api_base:
            host = endpoint.api_base.rstrip("/")
            for candidate in API_VERSIONS:
                if host.endswith("/" + candidate):
                    host = host[: -len(candidate) - 1]
                    version = endpoint.api_version or candidate
        elif express_key or location == "global":
            host = GLOBAL_HOST
        elif location in MULTI_REGIONS:
            host = f"https://aiplatform.{location}.rep.googleapis.com"
        else:
            host = f"https://{location}-aiplatform.googleapis.com"
        return _Target(host, version, location, project, express_key)

    def api_base(self, endpoint: Endpoint) -> str:
        return self._target(endpoint).host

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        target = self._target(endpoint)
        problems = []
        if target.project is not None and not _PROJECT_RE.match(target.project):
            problems.append(f"vertex_project {target.project[:64]!r} is not a project id")
        if not _LOCATION_RE.match(target.location):
            problems.append(f"vertex_location {target.location[:64]!r} is not a location")
        if target.version not in API_VERSIONS:
            problems.append(f"api_version must be one of {', '.join(API_VERSIONS)}")
        credentials = _option(endpoint, _CREDENTIAL_OPTIONS)
        if credentials is not None and not isinstance(credentials, str | Mapping):
            problems.append("vertex_credentials must be a key file path, its JSON or a mapping")
        if problems:
            raise ProviderNotConfiguredError(
                f"vertex_ai/{model}: " + "; ".join(problems),
                metadata={"provider": self.name, "model": model[:64]},
            )

    def token_source(self, endpoint: Endpoint) -> GoogleTokenSource:
        """The token source for `endpoint`'s credential (one per distinct credential)."""
        option = _option(endpoint, _CREDENTIAL_OPTIONS) or _first_env(ENV_CREDENTIALS)
        source = CredentialSource.from_option(option, os.environ.get(ADC_ENV))
        existing = self._sources.get(source)
        if existing is None:
            existing = self._sources[source] = GoogleTokenSource(source, provider=self.name)
        return existing

    # ------------------------------------------------------------------ request

    async def generate(self, call: ProviderCall, transport: HttpTransport) -> ProviderResult:
        request = await self.prepare(call)
        response = await transport.send(request, deadline=call.deadline, provider=self.name)
        token = _bearer(request)
        if response.status == 401 and token is not None:
            # The token may have been revoked, or our clock is behind Google's: one fresh try.
            self.token_source(call.endpoint).invalidate(token)
            request = await self.prepare(call)
            response = await transport.send(request, deadline=call.deadline, provider=self.name)
        if response.status >= 400:
            raise self.parse_error(call, response)
        return self.parse_response(call, response)

    async def prepare(self, call: ProviderCall) -> HttpRequest:
        endpoint = call.endpoint
        target = self._target(endpoint)
        if target.express_key:
            request = self._request(call, target, target.project)
            return HttpRequest(
                request.method, request.url, {"x-goog-api-key": target.express_key}, request.json
            )
        if endpoint.caller_api_base:
            raise PermissionDeniedError(
                "this server does not send its Google credentials to an api_base chosen by the "
                "caller; send an api_key (Vertex AI express mode) with it, or leave api_base unset",
                field_violations=[FieldViolation("api_base", "not accepted without api_key")],
                metadata={"field": "api_base", **_NOT_SENT},
            )
        # Validate the request before spending a token refresh on it.
        self._request(call, target, target.project or "-")
        access = await self.token_source(endpoint).token(call.deadline)
        project = target.project or access.project
        request = self._request(call, target, project)
        headers = {"authorization": f"Bearer {access.token}"}
        if access.quota_project:
            headers["x-goog-user-project"] = access.quota_project
        return HttpRequest(request.method, request.url, headers, request.json)

    def build_request(self, call: ProviderCall) -> HttpRequest:
        """URL and body, without auth: `prepare` adds the bearer token (or the express key)."""
        target = self._target(call.endpoint)
        return self._request(call, target, target.project)

    def _request(self, call: ProviderCall, target: _Target, project: str | None) -> HttpRequest:
        model = _BY_FAMILY.get(call.spec.family) or vertex_model(call.provider_model)
        model_id = quote(call.provider_model, safe="-._~@")
        method = f"publishers/google/models/{model_id}:{model.route.value}"
        if target.express_key:
            url = f"{target.host}/{target.version}/{method}"
        else:
            if not project:
                raise ProviderNotConfiguredError(
                    f"vertex_ai/{call.provider_model} needs a project: set vertex_project (or "
                    "VERTEXAI_PROJECT / GOOGLE_CLOUD_PROJECT); the credentials name none",
                    metadata={"provider": self.name, **_NOT_SENT},
                )
            url = (
                f"{target.host}/{target.version}/projects/{quote(project, safe='.:-')}"
                f"/locations/{target.location}/{method}"
            )
        tier = _image_size(call, model)
        body = (
            _imagen_body(call, tier) if model.route is Route.PREDICT else _gemini_body(call, tier)
        )
        return HttpRequest(method="POST", url=url, headers={}, json=body)

    # ------------------------------------------------------------------ response

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        payload = response.json()
        if not isinstance(payload, dict):
            raise ProviderBadResponseError(
                "the provider's response is not a JSON object", provider=self.name
            )
        model = _BY_FAMILY.get(call.spec.family) or vertex_model(call.provider_model)
        tier = _sent_tier(call, model)
        if model.route is Route.PREDICT:
            return self._imagen_result(call, response, payload, tier)
        return self._gemini_result(response, payload, tier)

    def _imagen_result(
        self,
        call: ProviderCall,
        response: HttpResponse,
        payload: dict[str, object],
        tier: str | None,
    ) -> ProviderResult:
        predictions = payload.get("predictions", [])
        if not isinstance(predictions, list):
            raise ProviderBadResponseError(
                "the provider's predictions are not a list", provider=self.name
            )
        images: list[GeneratedImage] = []
        reasons: list[str] = []
        for item in predictions:
            if not isinstance(item, dict):
                raise ProviderBadResponseError("a prediction is not an object", provider=self.name)
            mime = item.get("mimeType") if isinstance(item.get("mimeType"), str) else None
            # With enhancePrompt, Imagen reports the prompt it actually used.
            revised = item.get("prompt") if isinstance(item.get("prompt"), str) else None
            if item.get("bytesBase64Encoded"):
                image = self._image(item["bytesBase64Encoded"], mime)
                image.revised_prompt = revised
                images.append(image)
            elif isinstance(item.get("gcsUri"), str) and item["gcsUri"]:
                images.append(
                    GeneratedImage(url=item["gcsUri"], mime_type=mime, revised_prompt=revised)
                )
            elif isinstance(item.get("raiFilteredReason"), str):
                reasons.append(item["raiFilteredReason"])
        if not images:
            # `{}` (no predictions at all) is an all-filtered answer without includeRaiReason.
            # Google does not bill blocked images: the upstream status makes the cost 0.
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
        self, response: HttpResponse, payload: dict[str, object], tier: str | None
    ) -> ProviderResult:
        candidates = payload.get("candidates") or []
        if not isinstance(candidates, list):
            raise ProviderBadResponseError(
                "the provider's candidates are not a list", provider=self.name
            )
        images: list[GeneratedImage] = []
        finish: list[str] = []
        said: list[str] = []
        for candidate in candidates:
            if not isinstance(candidate, dict):
                raise ProviderBadResponseError("a candidate is not an object", provider=self.name)
            if isinstance(candidate.get("finishReason"), str):
                finish.append(candidate["finishReason"])
            if isinstance(candidate.get("finishMessage"), str):
                said.append(candidate["finishMessage"])
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
                    said.append(part["text"])
        if not images:
            raise self._no_image(payload.get("promptFeedback"), finish, said)
        return ProviderResult(
            images=images,
            usage=gemini_usage(payload.get("usageMetadata")),
            created=int(time.time()),
            size=tier,
            headers=dict(response.headers),
        )

    def _no_image(self, feedback: object, finish: list[str], said: list[str]) -> ImageGenError:
        block = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if isinstance(block, str) and block:
            message = feedback.get("blockReasonMessage") if isinstance(feedback, dict) else None
            detail = f": {_quoted(message)}" if isinstance(message, str) and message else ""
            error = content_policy_error(
                self.name, f"the provider's safety filter blocked the prompt ({block}){detail}"
            )
            error.metadata["upstream_code"] = block[:64]
            return error
        detail = f": {_quoted(said[0])}" if said else ""
        safety = next((reason for reason in finish if reason in _SAFETY_FINISH), None)
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
            data=data, mime_type=sniff_mime(data) or mime, width=width, height=height
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
        # Express mode: Google answers a bad key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
        if reason == "API_KEY_INVALID":
            status = 401
        headers = dict(response.headers)
        seconds = _retry_delay_seconds(_detail_field(details, "RetryInfo", "retryDelay"))
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
            content_policy=status == 400 and message is not None and bool(_REFUSAL.search(message)),
            quota_exhausted=any("perday" in quota.lower() for quota in quota_ids),
        )
        if status != response.status:
            result.metadata["upstream_status"] = str(response.status)
            if isinstance(result, ProviderError):
                result.upstream_status = response.status
        return result


# ---------------------------------------------------------------------- request bodies


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme == "Bearer" and token else None


def _image_size(call: ProviderCall, model: VertexModel) -> str | None:
    """The tier to send: the caller's `image_size`, else the one a WxH size needs."""
    explicit = call.params.extra.get("image_size")
    if isinstance(explicit, str):
        return explicit
    tier = _tier_for_size(call, model)
    return tier if model.sends_image_size else None


def _sent_tier(call: ProviderCall, model: VertexModel) -> str | None:
    """The tier the images were made at, when the gateway knows it."""
    explicit = call.params.extra.get("image_size")
    if isinstance(explicit, str):
        return explicit
    if model.tiers and call.params.size not in (None, AUTO):
        return _tier_for_size(call, model)
    return model.tiers[0] if model.tiers else None


def _tier_for_size(call: ProviderCall, model: VertexModel) -> str | None:
    size = call.params.size
    if not model.tiers or size is None or size == AUTO:
        return None
    parsed = parse_size(size)
    area = parsed.width * parsed.height
    for tier in model.tiers:
        if area <= TIER_EDGES[tier] ** 2 * _TIER_SLACK:
            return tier
    largest = TIER_EDGES[model.tiers[-1]]
    description = (
        f"size {size} is larger than {call.spec.family} makes: its image sizes are "
        f"{', '.join(model.tiers)} (the largest is about {largest}x{largest} at 1:1); ask for a "
        f"smaller WIDTHxHEIGHT or only the aspect ratio ({call.params.aspect_ratio or '1:1'})"
    )
    raise InvalidRequestError(
        description,
        field_violations=[FieldViolation("size", description)],
        metadata={"field": "size", **_NOT_SENT},
    )


def _invalid(field: str, description: str) -> InvalidRequestError:
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation(field, description)],
        metadata={"field": field, **_NOT_SENT},
    )


def _imagen_body(call: ProviderCall, tier: str | None) -> dict[str, JsonValue]:
    params = call.params
    storage = params.extra.get("output_gcs_uri", params.extra.get("storageUri"))
    if storage is not None and not (isinstance(storage, str) and storage.startswith("gs://")):
        raise _invalid(
            "provider_params.output_gcs_uri", "output_gcs_uri must be a gs://bucket/prefix URI"
        )
    if params.response_format is ResponseFormat.URL and storage is None:
        raise _invalid(
            "response_format",
            "response_format=url needs provider_params.output_gcs_uri (a gs:// prefix the "
            "images are written to); without it Vertex AI returns the image bytes",
        )
    if params.response_format is ResponseFormat.B64_JSON and storage is not None:
        raise _invalid(
            "response_format",
            "with output_gcs_uri Vertex AI writes the images to Cloud Storage and returns gs:// "
            "URLs: ask for response_format=url, or leave output_gcs_uri out",
        )
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
    output_options: dict[str, JsonValue] = {}
    for name, value in params.extra.items():
        if name == "image_size":
            continue
        if name == "person_generation":
            image_config["personGeneration"] = value
        elif name in _OUTPUT_OPTIONS_WIRE:
            output_options[_OUTPUT_OPTIONS_WIRE[name]] = value
        else:
            generation_config[name] = value
    if output_options:
        image_config["imageOutputOptions"] = output_options
    if image_config:
        generation_config["imageConfig"] = image_config
    return {
        "contents": [{"role": "user", "parts": [{"text": call.prompt}]}],
        "generationConfig": generation_config,
    }


# ---------------------------------------------------------------------- error helpers


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
