"""Google AI Studio / Gemini Developer API adapter (`gemini/<model>`).

Wire format: the Gemini API reference (Imagen, Gemini image models, errors) and its pricing
page; what a user sees is in docs/providers/gemini.md. The bodies, tiers, safety outcomes,
usage and google.rpc.Status errors are the ones Vertex AI speaks too (`google_common.py`); this
module holds what is the Gemini API's own:

- Base `https://generativelanguage.googleapis.com/v1beta`, auth `x-goog-api-key` (an AI
  Studio key: GEMINI_API_KEY or GOOGLE_API_KEY). `POST {base}/models/{m}:predict` for Imagen
  (`imagen-*`) and `:generateContent` for everything else (e.g. `gemini-2.5-flash-image`,
  `gemini-3-pro-image-preview`): an unknown model name goes to `:generateContent` unless it
  starts with `imagen`. Model ids may carry the API's own `models/` prefix.
- Imagen: up to 4 images a call (Imagen 4 Ultra: 1), the gateway fans out above that. The
  Gemini API refuses `negativePrompt`, `seed`, `addWatermark`, `enhancePrompt`, `allow_all` and
  `block_none` (Vertex-only), so they are not offered; images come back as bytes only.
- Gemini image models: one image per call, n served by parallel calls; `imageConfig` takes
  `aspectRatio` and `imageSize` only.
- A bad key is a 400 INVALID_ARGUMENT with ErrorInfo API_KEY_INVALID, or just the message "API
  key not valid": mapped like a 401. Retired model ids answer 404 → PROVIDER_MODEL_NOT_FOUND.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import quote, urlsplit

from imagegen.errors import ImageGenError, ProviderNotConfiguredError
from imagegen.providers.base import (
    Endpoint,
    HttpProvider,
    HttpRequest,
    ModelSpec,
    ParamSpec,
    ProviderCall,
)
from imagegen.providers.gemini_edits import with_edits, with_input_images
from imagegen.providers.google_common import (
    B64_ONLY,
    GEMINI_31_FLASH_LITE_IMAGE,
    IMAGEN_COMMON_PARAMS,
    IMAGEN_WIRE,
    SHARED_FAMILIES,
    Dialect,
    GoogleImageModel,
    ModelTable,
    parse_result,
    request_body,
    status_error,
)
from imagegen.providers.transport import HttpResponse
from imagegen.types import ProviderResult

GEMINI_API_HOST = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"

_IMAGEN_EXTRAS: Mapping[str, ParamSpec] = {
    # The Gemini API refuses allow_all (Vertex only).
    "person_generation": ParamSpec(str, choices=("dont_allow", "allow_adult")),
    # The Gemini API refuses block_none (Vertex only).
    "safety_filter_level": ParamSpec(
        str, choices=("block_low_and_above", "block_medium_and_above", "block_only_high")
    ),
    **IMAGEN_COMMON_PARAMS,
}

_DIALECT = Dialect(
    imagen_wire=IMAGEN_WIRE,
    # Whatever an unknown Gemini model is given passes into generationConfig as named.
    image_config_wire={},
    image_output_wire={},
    # The Gemini API has no Cloud Storage output: a gcsUri answer is a bad response.
    stores_images=False,
    refusal=re.compile(r"responsible ai practices", re.IGNORECASE),
    bad_key_message=re.compile(r"api key not valid", re.IGNORECASE),
    # A model with several tiers may have made any of them (auto size): unknown.
)

_MODELS = ModelTable(
    (*SHARED_FAMILIES, GEMINI_31_FLASH_LITE_IMAGE),
    imagen_extras=_IMAGEN_EXTRAS,
    # Gemini models take no provider params here but the tier.
    gemini_extras={},
    imagen_formats=B64_ONLY,
    separators=("-",),
    is_imagen=lambda model_id: model_id.startswith("imagen"),
)

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
    return _MODELS.lookup(_model_id(model))


class GeminiProvider(HttpProvider):
    """The Gemini Developer API (Google AI Studio keys)."""

    name: ClassVar[str] = "gemini"
    env_api_key: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("GEMINI_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def spec_for(self, model: str) -> ModelSpec:
        family = google_model(model)
        return with_edits(family.spec, family.route.value == "generateContent")

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

    def build_request(self, call: ProviderCall) -> HttpRequest:
        model = _MODELS.for_call(call)
        model_id = quote(_model_id(call.provider_model), safe="-._~@")
        url = f"{self.api_base(call.endpoint)}/models/{model_id}:{model.route.value}"
        headers = {"x-goog-api-key": call.endpoint.api_key or ""}
        body = request_body(call, model, _DIALECT)
        if call.edit is not None:
            body = with_input_images(body, call.edit)
        return HttpRequest(method="POST", url=url, headers=headers, json=body)

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        return parse_result(self.name, call, response, _MODELS.for_call(call), _DIALECT)

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        return status_error(self.name, call, response, _DIALECT)
