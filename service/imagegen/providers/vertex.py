"""Vertex AI adapter (`vertex_ai/<model>`): Imagen and Gemini image models on Google Cloud.

Wire format: Vertex AI's reference (endpoint and auth, Imagen, Gemini image models); what a
user sees is in docs/providers/vertex_ai.md. The bodies, tiers, safety outcomes, usage and
google.rpc.Status errors are the ones the Gemini API speaks too (`google_common.py`); this
module holds what is Vertex's own:

- URL: `POST {host}/{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/
  models/{model}:predict` for Imagen (`imagen-*`, `imagegeneration@*`) and `:generateContent`
  for Gemini image models (any model with "gemini" in its name). The host is
  `{location}-aiplatform.googleapis.com`, `aiplatform.googleapis.com` for the `global`
  location and `aiplatform.{us|eu}.rep.googleapis.com` for the multi-regions; `api_base`
  replaces it (a trailing `/v1` or `/v1beta1` picks the version; so does `api_version`).
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
- Imagen: n above the model's images per call (4; Imagen 4 Ultra 1) is served by parallel
  calls. Beyond the Gemini API's params, Vertex takes negative_prompt, seed, add_watermark,
  enhance_prompt (the prompt Imagen used comes back as revised_prompt), person_generation
  allow_all, safety_filter_level block_none and output_gcs_uri (`storageUri`: the images then
  come back as `gs://` URLs, so response_format must be url or unset).
- Gemini: one image per call, n by parallel calls; `imageConfig` also takes the Vertex-only
  personGeneration / imageOutputOptions, and generationConfig a `seed`.

Edits (vertex_edits.py): Gemini image models take every input image as an inline part beside
the text; `imagen-3.0-capability-001` edits with RAW/MASK reference images and an edit mode.

Safety: a prompt refused before generation is a 400 INVALID_ARGUMENT ("... Responsible AI
practices ... Support codes: N", or "... usage guidelines ...") → CONTENT_POLICY_VIOLATION.
Errors: 401 UNAUTHENTICATED → PROVIDER_AUTHENTICATION_FAILED (the operator's credentials); 403
PERMISSION_DENIED; 404 NOT_FOUND (unknown or retired model); 429 RESOURCE_EXHAUSTED with
RetryInfo → retry_after; 5xx → PROVIDER_UNAVAILABLE. In express mode a bad key (400
API_KEY_INVALID) is mapped as a 401.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar
from urllib.parse import quote

from imagegen.errors import (
    FieldViolation,
    ImageGenError,
    InvalidRequestError,
    PermissionDeniedError,
    ProviderNotConfiguredError,
)
from imagegen.providers.base import (
    Endpoint,
    HttpProvider,
    HttpRequest,
    ModelSpec,
    ParamSpec,
    ProviderCall,
)
from imagegen.providers.gemini_edits import with_edits, with_input_images
from imagegen.providers.google_auth import CredentialSource, GoogleTokenSource
from imagegen.providers.google_common import (
    IMAGEN_2,
    IMAGEN_COMMON_PARAMS,
    IMAGEN_WIRE,
    OUTPUT_COMPRESSION,
    OUTPUT_MIME,
    OUTPUT_OPTIONS_WIRE,
    SHARED_FAMILIES,
    Dialect,
    GoogleImageModel,
    ModelTable,
    Route,
    parse_result,
    request_body,
    status_error,
)
from imagegen.providers.transport import HttpResponse, HttpTransport
from imagegen.providers.vertex_edits import (
    capability_body,
    capability_model,
    is_capability_model,
    without_edit_params,
)
from imagegen.types import ProviderResult, ResponseFormat

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

# Imagen on Vertex: the Gemini API set plus the Vertex-only fields.
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
    **IMAGEN_COMMON_PARAMS,
}
# Gemini image models on Vertex: imageConfig's Vertex-only fields and the seed.
_GEMINI_EXTRAS: Mapping[str, ParamSpec] = {
    "person_generation": ParamSpec(str, choices=("ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE")),
    "output_mime_type": OUTPUT_MIME,
    "output_compression_quality": OUTPUT_COMPRESSION,
    "seed": ParamSpec(int, minimum=0, maximum=2**31 - 1),
}

_DIALECT = Dialect(
    imagen_wire={
        **IMAGEN_WIRE,
        "negative_prompt": "negativePrompt",
        "seed": "seed",
        "add_watermark": "addWatermark",
        "enhance_prompt": "enhancePrompt",
        "output_gcs_uri": "storageUri",
    },
    image_config_wire={"person_generation": "personGeneration"},
    image_output_wire=OUTPUT_OPTIONS_WIRE,
    # output_gcs_uri: Imagen writes the images to Cloud Storage and answers gs:// URLs.
    stores_images=True,
    refusal=re.compile(r"responsible ai|usage guidelines|support codes?:", re.IGNORECASE),
    # Only express mode has keys: a bad one is recognised by ErrorInfo API_KEY_INVALID alone.
    bad_key_message=None,
    # Images asked for without a tier are reported (and priced) at the model's smallest.
)

_MODELS = ModelTable(
    (*SHARED_FAMILIES, IMAGEN_2),
    imagen_extras=_IMAGEN_EXTRAS,
    gemini_extras=_GEMINI_EXTRAS,
    # url only with output_gcs_uri (the images are then written to Cloud Storage).
    imagen_formats=(ResponseFormat.B64_JSON, ResponseFormat.URL),
    separators=("-", "@"),
    is_imagen=lambda model_id: "gemini" not in model_id,
)

# Imagen capability editing (vertex_edits.py): edits only, priced by no table row.
_CAPABILITY = capability_model(_IMAGEN_EXTRAS)

# The generation models with a price row (the capability model, edits only, has none).
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


def vertex_model(model: str) -> GoogleImageModel:
    """The family of a Vertex model id (snapshots, `@version` and -preview ids included);
    Gemini image models carry their edit capability."""
    if is_capability_model(model):
        return _CAPABILITY
    family = _MODELS.lookup(model)
    spec = with_edits(family.spec, family.route is Route.GENERATE_CONTENT)
    return replace(family, spec=spec)


def _model_for(call: ProviderCall) -> GoogleImageModel:
    """The model whose spec `call` was checked against."""
    if call.spec.family == _CAPABILITY.spec.family:
        return _CAPABILITY
    return _MODELS.for_call(call)


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
    # LiteLLM's names, with its vertex_ai_* aliases: where to call and as whom.
    endpoint_options: ClassVar[tuple[str, ...]] = (
        *_PROJECT_OPTIONS,
        *_LOCATION_OPTIONS,
        *_CREDENTIAL_OPTIONS,
    )
    credential_options: ClassVar[tuple[str, ...]] = _CREDENTIAL_OPTIONS

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
                metadata={"field": "api_base"},
                request_sent=False,
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
        model = _model_for(call)
        model_id = quote(call.provider_model, safe="-._~@")
        method = f"publishers/google/models/{model_id}:{model.route.value}"
        if target.express_key:
            url = f"{target.host}/{target.version}/{method}"
        else:
            if not project:
                raise ProviderNotConfiguredError(
                    f"vertex_ai/{call.provider_model} needs a project: set vertex_project (or "
                    "VERTEXAI_PROJECT / GOOGLE_CLOUD_PROJECT); the credentials name none",
                    metadata={"provider": self.name},
                    request_sent=False,
                )
            url = (
                f"{target.host}/{target.version}/projects/{quote(project, safe='.:-')}"
                f"/locations/{target.location}/{method}"
            )
        if model is _CAPABILITY:
            generic = request_body(without_edit_params(call), model, _DIALECT)
            body = capability_body(call, generic, call.edit)
        else:
            body = request_body(call, model, _DIALECT)
            if call.edit is not None and model.route is Route.GENERATE_CONTENT:
                body = with_input_images(body, call.edit)
        if model.route is Route.PREDICT:
            _check_storage(call)
        return HttpRequest(method="POST", url=url, headers={}, json=body)

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        return parse_result(self.name, call, response, _model_for(call), _DIALECT)

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        return status_error(self.name, call, response, _DIALECT)


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme == "Bearer" and token else None


def _invalid(field: str, description: str) -> InvalidRequestError:
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation(field, description)],
        metadata={"field": field},
        request_sent=False,
    )


def _check_storage(call: ProviderCall) -> None:
    """output_gcs_uri and response_format agree: gs:// URLs come back exactly when it is set."""
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
