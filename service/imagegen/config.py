"""YAML configuration → frozen, validated settings.

The file format is LiteLLM's `config.yaml` for image models, so an existing one
works unchanged:

    model_list:
      - model_name: gpt-image-1
        litellm_params:            # `params` is accepted as well
          model: openai/gpt-image-1
          api_key: os.environ/OPENAI_API_KEY
        model_info:
          base_model: gpt-image-1  # for an Azure deployment with another name
          output_cost_per_image: 0.04   # a price of your own (optional)
    litellm_settings:
      drop_params: true
      request_timeout: 600
    server_settings:               # imagegen's own section
      port: 50051
      http_port: 4000              # the OpenAI-compatible HTTP door; null turns it off

Every problem is reported at start with the file, the key and what is wrong;
`os.environ/NAME` references are resolved here and a missing variable is named.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imagegen.cache.settings import CacheParams, CacheSettings, build_cache_settings
from imagegen.deadline import DEFAULT_TIMEOUT_SECONDS
from imagegen.deployment import Deployment
from imagegen.errors import ConfigError, ImageGenError, InvalidRequestError
from imagegen.guardrails.settings import (
    GuardrailEntry,
    GuardrailSettings,
    build_guardrail_settings,
)
from imagegen.images.url_allowlist import HostAllowlist
from imagegen.litellm_config import (
    Aliases,
    aliases_of,
    apply_environment_variables,
    check_model_info,
    fold_litellm_settings,
    refuse_deployment_keys,
    refuse_foreign_options,
    refuse_unknown,
)
from imagegen.memory import DEFAULT_BUDGET_MB
from imagegen.pricing.table import MODEL_INFO_PRICE_KEYS, price_from_model_info
from imagegen.providers.base import STANDARD_PARAMS, Endpoint
from imagegen.providers.local import PLACEHOLDER_MODEL
from imagegen.providers.openai_models import OPENAI_MODELS
from imagegen.providers.registry import Providers, endpoint_from_env
from imagegen.router.settings import (
    RouterSettings,
    check_fallback_names,
    check_router_settings,
    deployment_limit,
)
from imagegen.spend.settings import AccessSettings, KeyEntry, with_keys
from imagegen.storage.settings import StorageSettings, check_storage
from imagegen.telemetry.settings import TelemetrySettings
from imagegen.types import MAX_IMAGES_PER_REQUEST, MAX_PROMPT_CHARS, ImageRequest

log = logging.getLogger(__name__)

ENV_PREFIX = "os.environ/"
DEFAULT_PORT = 50051
DEFAULT_HTTP_PORT = 4000
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# 2 MiB pieces stay well under the 4 MiB default receive limit of every gRPC client.
DEFAULT_STREAM_CHUNK_BYTES = 2 * 1024 * 1024

# Per-deployment router keys the router acts on (typed fields of Deployment).
_ROUTING_KEYS = frozenset({"rpm", "ipm", "tpm", "weight", "order", "max_parallel_requests"})
# Other LiteLLM router keys: accepted so existing configs load, with no effect on image models.
_ROUTER_KEYS = frozenset(
    {
        "num_retries",
        "max_retries",
        "cooldown_time",
        "stream_timeout",
        "region_name",
        "custom_llm_provider",
    }
)
_KNOWN_TOP_LEVEL = frozenset(
    {
        "model_list",
        "litellm_settings",
        "server_settings",
        "guardrails",
        "telemetry_settings",
        "general_settings",
        "keys",
        "router_settings",
        "storage_settings",
        "environment_variables",
    }
)


class ServerSettings(BaseModel):
    """`server_settings`: how the server listens (the gRPC door and the OpenAI-compatible
    HTTP door) and its bounds. The file's section, validated, used as is."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    host: str = "0.0.0.0"
    """The listen address of both doors."""
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    """The gRPC port (0: a free port)."""
    http_host: str | None = None
    """The HTTP door's listen address (None: the same as `host`)."""
    http_port: int | None = Field(default=DEFAULT_HTTP_PORT, ge=0, le=65535)
    """The HTTP door's port: None turns the door off, 0 picks a free port."""
    console: bool = True
    """The web console at /ui on the HTTP door (docs/console.md); false turns it off."""
    grace_period_seconds: float = Field(default=30.0, ge=0)
    """How long in-flight calls may finish after SIGTERM."""
    drain_seconds: float = Field(default=0.0, ge=0, le=300)
    """After SIGTERM, health says NOT_SERVING for this long while calls are still taken,
    so that load balancers polling health stop sending before the listener closes."""
    max_message_mb: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES // (1024 * 1024), ge=4, le=2047)
    """Send/receive limit, sized for several multi-MB images in one unary response."""
    default_model: str | None = None
    """The model of requests that name none."""
    allow_request_credentials: bool = False
    """Whether callers may send api_key/api_base/api_version (off: no SSRF, no open relay)."""
    serve_unlisted_models: bool = False
    """Serve any "provider/model" string, not just model_list names."""
    stream_keepalive_seconds: float = Field(default=5.0, gt=0)
    """StreamGenerateImages sends a progress event after this long without another event."""
    stream_chunk_kb: int = Field(default=DEFAULT_STREAM_CHUNK_BYTES // 1024, ge=16, le=3072)
    """Streamed images larger than this go as several image_chunk events, so that no message
    exceeds a client's default 4 MiB receive limit."""
    max_in_flight_requests: int | None = Field(default=None, ge=1)
    """Requests this process serves at once (both doors); more are RESOURCE_EXHAUSTED."""
    memory_budget_mb: int | None = Field(default=DEFAULT_BUDGET_MB, ge=16, le=1024 * 1024)
    """Image data this process holds for calls in flight at most, in MiB (provider answers
    being read and decoded, answers on their way to callers, edits' inputs); more waits,
    the provider held back by TCP flow control. None: no bound. Per process (per worker)."""
    max_queued_requests: int = Field(default=1000, ge=0, le=1_000_000)
    """Calls this process lets wait for a deployment at its max_parallel_requests; past it,
    or when the wait would outlast the caller's deadline, RESOURCE_EXHAUSTED at once."""
    max_streams_per_key: int | None = Field(default=None, ge=1)
    """Streams open at once per virtual key (per anonymous caller without keys)."""
    tls_cert_file: str | None = None
    """PEM certificate chain: with tls_key_file, both doors serve TLS."""
    tls_key_file: str | None = None
    """The PEM private key of tls_cert_file."""
    tls_client_ca_file: str | None = None
    """PEM CA bundle: when set, gRPC callers must present a certificate it signed (mTLS)."""
    max_prompt_chars: int | None = Field(default=None, ge=1, le=MAX_PROMPT_CHARS)
    """A bound on prompt length tighter than the built-in 100,000 characters."""
    max_images_per_request: int | None = Field(default=None, ge=1, le=MAX_IMAGES_PER_REQUEST)
    """A bound on n tighter than the built-in 10."""
    workers: int = Field(default=1, ge=1, le=64)
    """Serving processes sharing the ports (SO_REUSEPORT), each with its own event loop."""
    image_url_allowlist: tuple[str, ...] = ()
    """Hosts whose http(s) image URLs the HTTP door fetches for an edit (`host`, `host:port`,
    `*.domain`); empty: image URLs are refused, only uploads and data URLs are read."""
    image_url_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """How long fetching one input image URL may take, redirects included."""

    @field_validator("image_url_allowlist")
    @classmethod
    def _check_allowlist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        HostAllowlist.parse(value)  # a bad entry is refused at start, named
        return value

    @property
    def image_urls(self) -> HostAllowlist:
        return HostAllowlist.parse(self.image_url_allowlist)

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 1024 * 1024

    @property
    def stream_chunk_bytes(self) -> int:
        return self.stream_chunk_kb * 1024


class Settings(BaseModel):
    """Everything the gateway needs, validated: each section as its feature uses it."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    deployments: tuple[Deployment, ...] = ()
    """model_list, each entry resolved to its provider, endpoint and price."""
    default_model: str | None = None
    drop_params: bool = False
    request_timeout: float = DEFAULT_TIMEOUT_SECONDS
    serve_unlisted_models: bool = False
    """Serve any "provider/model" string, not just model_list names (the in-process SDK does)."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    """Traces, metrics, the request log line and logging callbacks."""
    access: AccessSettings = Field(default_factory=AccessSettings)
    """Virtual keys, budgets and the spend log (general_settings, keys)."""
    source: str = "<built-in>"
    router: RouterSettings = Field(default_factory=RouterSettings)
    storage: StorageSettings | None = None
    """Where images answered as URLs are kept (None: no store, only provider URLs)."""
    cache: CacheSettings | None = None
    """The image cache (litellm_settings.cache); None: off."""
    aliases: Aliases = Field(default_factory=Aliases)
    """router_settings.model_group_alias: names served as another model group."""

    def served_name(self, model_name: str) -> str:
        """The model group `model_name` is served as (itself unless an alias)."""
        return self.aliases.targets.get(model_name, model_name)

    def deployment(self, model_name: str) -> Deployment | None:
        """The first deployment of the group `model_name` (None when not served)."""
        group = self.group(model_name)
        return group[0] if group else None

    def group(self, model_name: str) -> tuple[Deployment, ...]:
        """Every deployment serving `model_name`, in config order."""
        name = self.served_name(model_name)
        return tuple(d for d in self.deployments if d.model_name == name)

    def model_names(self) -> list[str]:
        """The served model names, each once, in config order; then the listed aliases."""
        names = list(dict.fromkeys(d.model_name for d in self.deployments))
        return names + [a for a in self.aliases.targets if a not in self.aliases.hidden]


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    model: str = Field(min_length=1)
    """"provider/model", e.g. "openai/gpt-image-1" or "azure/<deployment>"."""
    api_key: str | None = None
    """The provider key (default: the provider's environment variable)."""
    api_base: str | None = None
    """The provider's base URL (default: the provider's own, or its environment variable)."""
    api_version: str | None = None
    """The provider API version, where it has one (Azure)."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds each attempt on this deployment may take when the request sets no timeout."""
    drop_params: bool | None = None
    """Drop parameters this deployment's model does not take instead of refusing them (default:
    litellm_settings.drop_params)."""
    coerce_size: bool | None = None
    """Serve an unmakeable size as the nearest one the model makes, reported in size_coercion
    (default: refuse)."""
    base_model: str | None = None
    """The model whose rules and price apply, when the model string does not say (Azure
    deployments)."""


class _ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = None
    """The deployment id (x-imagegen-model-id, attempts); default: a stable hash of the settings,
    never of the key."""
    base_model: str | None = None
    """The model whose rules and price apply (as litellm_params.base_model)."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(min_length=1)
    """The name callers send as `model`."""
    litellm_params: _Params | None = None
    """The deployment: provider/model, credentials, endpoint, per-deployment router keys and
    default provider parameters."""
    params: _Params | None = None
    """Another name for litellm_params."""
    model_info: _ModelInfo | None = None
    """Facts about the deployment: its id, the base model its rules and price come from, a price,
    guardrails."""


class _LitellmSettings(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    drop_params: bool = False
    """Drop parameters a model does not take instead of refusing them with UNSUPPORTED_PARAMETER."""
    request_timeout: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0)
    """Seconds a call may take when the caller sets neither a deadline nor a timeout."""
    cache: bool = False
    """Turn the image cache on (configured by cache_params)."""
    cache_params: CacheParams | None = None
    """The image cache: where entries live and for how long."""


class _File(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    model_list: list[_Entry] = Field(default_factory=list)
    """The models served: one entry per deployment; entries sharing a model_name form a load-
    balanced group."""
    litellm_settings: _LitellmSettings = Field(default_factory=_LitellmSettings)
    """LiteLLM's global settings that imagegen acts on (drop_params, request_timeout, the cache)."""
    server_settings: ServerSettings = Field(default_factory=ServerSettings)
    """imagegen's own section: ports, TLS, bounds, shutdown, workers."""
    guardrails: list[GuardrailEntry] = Field(default_factory=list)
    """Prompt and image checks, in LiteLLM's shape (guardrail_name + litellm_params)."""
    telemetry_settings: TelemetrySettings = Field(default_factory=TelemetrySettings)
    """Traces, metrics, the request log line and logging callbacks."""
    general_settings: AccessSettings = Field(default_factory=AccessSettings)
    """The master key, the spend log and fleet quotas (LiteLLM's section and names)."""
    keys: list[KeyEntry] = Field(default_factory=list)
    """Virtual keys defined in the config (more can live in the database)."""
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    """How a deployment is picked within a group, retries, cooldowns and fallbacks."""
    storage_settings: StorageSettings | None = None
    """Where images answered as URLs are stored (default: local, when the HTTP door is on)."""


# What the code acts on, for the LiteLLM key table (imagegen.litellm_keys_table).
KNOWN_SECTIONS = _KNOWN_TOP_LEVEL
ROUTING_KEYS = _ROUTING_KEYS
PARAMS_FIELDS = tuple(_Params.model_fields)


def resolve_env_refs(value: Any, where: str) -> Any:
    """Replace every "os.environ/NAME" string in `value` with the variable's value."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]
    if isinstance(value, dict):
        return {k: resolve_env_refs(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env_refs(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _resolve_used(raw: dict[str, Any]) -> dict[str, Any]:
    # Only what imagegen reads is resolved: the parts it ignores may hold LiteLLM's own
    # references (general_settings.master_key, cache passwords) to variables that a gateway
    # which never uses them has no reason to set.
    resolved: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _KNOWN_TOP_LEVEL:
            continue
        sections: dict[str, type[BaseModel]] = {
            "litellm_settings": _LitellmSettings,
            "general_settings": AccessSettings,
            "router_settings": RouterSettings,
            "storage_settings": StorageSettings,
        }
        if key in sections and isinstance(value, dict):
            used = set(sections[key].model_fields)
            if key == "litellm_settings" and value.get("cache") is not True:
                # The cache's secrets (a Redis password) matter only when the cache is on.
                used.discard("cache_params")
            resolved[key] = {
                name: resolve_env_refs(item, f"{key}.{name}") if name in used else item
                for name, item in value.items()
            }
        else:
            resolved[key] = resolve_env_refs(value, key)
    return resolved


def load_settings(path: str | Path) -> Settings:
    """Read and validate a config file. Raises ConfigError naming the file and key."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    return parse_settings(text, source=str(path))


def parse_settings(text: str, *, source: str = "<config>") -> Settings:
    """Validate a config document (YAML text)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        what = f": {problem}" if problem else ""
        raise ConfigError(f"{source}: not valid YAML{at}{what}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    return settings_from_mapping(raw, source=source)


def settings_from_mapping(raw: Mapping[str, Any], *, source: str = "<config>") -> Settings:
    """Validate a config given as a mapping (the file's shape), as a file is validated."""
    raw = dict(raw)
    for key in sorted(set(raw) - _KNOWN_TOP_LEVEL, key=str):
        raise ConfigError(
            f"{source}: section {key!r} is not supported by imagegen; remove it (sections: "
            f"{', '.join(sorted(_KNOWN_TOP_LEVEL))})"
        )
    # Before any os.environ/ reference resolves: the section may define what they name.
    apply_environment_variables(raw, source)
    raw.pop("environment_variables", None)
    raw = fold_litellm_settings(raw, source)
    alias_section = raw.get("router_settings")
    if isinstance(alias_section, dict) and "model_group_alias" in alias_section:
        alias_section = dict(alias_section)
        alias_value = alias_section.pop("model_group_alias")
        raw["router_settings"] = alias_section
    else:
        alias_value = None
    general = raw.get("general_settings")
    if isinstance(general, dict) and "keys" in general:
        # AccessSettings.keys comes from the top-level `keys:` section, never from here.
        refuse_unknown("general_settings", ["keys"], source)
    try:
        resolved = _resolve_used(raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        document = _File.model_validate(resolved)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        location = ".".join(_loc_part(p) for p in first["loc"]).replace(".[", "[")
        raise ConfigError(f"{source}: {location}: {first['msg']}") from None
    return _build(document, source, alias_value)


def _loc_part(part: str | int) -> str:
    return f"[{part}]" if isinstance(part, int) else str(part)


def _build(document: _File, source: str, alias_value: Any = None) -> Settings:
    refuse_unknown("litellm_settings", document.litellm_settings.model_extra or {}, source)
    refuse_unknown("general_settings", document.general_settings.model_extra or {}, source)
    refuse_unknown("router_settings", document.router_settings.model_extra or {}, source)
    # Adapters check the endpoints here; each gateway then makes instances of its own.
    providers = Providers.discover()
    deployments = tuple(
        _deployment(entry, f"{source}: model_list[{index}]", providers)
        for index, entry in enumerate(document.model_list)
    )
    seen = {deployment.model_name for deployment in deployments}
    ids = [deployment.model_id for deployment in deployments]
    for model_id in ids:
        if ids.count(model_id) > 1:
            raise ConfigError(
                f"{source}: two deployments have the id {model_id!r}; give each its own "
                "model_info.id"
            )
    aliases = aliases_of(alias_value, seen, source)
    router = check_router_settings(document.router_settings, source)
    check_fallback_names(router, seen | set(aliases.targets), source)
    server = document.server_settings
    _check_tls(server, source)
    default_model = server.default_model
    if default_model is not None and default_model not in seen and not server.serve_unlisted_models:
        raise ConfigError(
            f"{source}: server_settings.default_model {default_model!r} is not in model_list"
        )
    return Settings(
        deployments=deployments,
        default_model=default_model,
        drop_params=document.litellm_settings.drop_params,
        request_timeout=document.litellm_settings.request_timeout,
        serve_unlisted_models=server.serve_unlisted_models,
        server=server,
        guardrails=build_guardrail_settings(
            document.guardrails, _model_guardrails(document.model_list), source
        ),
        telemetry=document.telemetry_settings,
        access=with_keys(document.general_settings, document.keys, source),
        source=source,
        router=router,
        storage=_storage(document.storage_settings, server, source),
        cache=build_cache_settings(
            document.litellm_settings.cache, document.litellm_settings.cache_params, source
        ),
        aliases=aliases,
    )


def _storage(
    section: StorageSettings | None, server: ServerSettings, source: str
) -> StorageSettings | None:
    # The embedded default: a local directory served by the HTTP door, so that
    # response_format=url works for every model; without the door there is nobody to serve it.
    if section is None:
        return StorageSettings() if server.http_port is not None else None
    check_storage(section, source)
    if section.type == "local" and server.http_port is None and section.public_base_url is None:
        raise ConfigError(
            f"{source}: storage_settings: the local store is served by the HTTP door; "
            "turn the door on (server_settings.http_port) or set public_base_url"
        )
    return section


def _model_guardrails(entries: list[_Entry]) -> list[tuple[str, object]]:
    # model_info.guardrails: the guardrails a model group adds to the default_on ones.
    return [
        (entry.model_name, (entry.model_info.model_extra or {}).get("guardrails"))
        if entry.model_info is not None
        else (entry.model_name, None)
        for entry in entries
    ]


def _check_tls(server: ServerSettings, source: str) -> None:
    if (server.tls_cert_file is None) != (server.tls_key_file is None):
        raise ConfigError(
            f"{source}: server_settings: give tls_cert_file and tls_key_file together"
        )
    if server.tls_client_ca_file is not None and server.tls_cert_file is None:
        raise ConfigError(f"{source}: server_settings.tls_client_ca_file: needs tls_cert_file")
    for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
        path = getattr(server, name)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{source}: server_settings.{name}: no file at {path}")


def _deployment(entry: _Entry, where: str, providers: Providers) -> Deployment:
    if entry.litellm_params is not None and entry.params is not None:
        raise ConfigError(f"{where}: give litellm_params or params, not both")
    params = entry.litellm_params or entry.params
    if params is None:
        raise ConfigError(f"{where}: litellm_params (or params) with a model is required")
    where_params = f"{where}.{'litellm_params' if entry.litellm_params else 'params'}"
    provider_name, sep, provider_model = params.model.partition("/")
    if not sep or provider_name not in providers or not provider_model:
        raise ConfigError(
            f"{where_params}.model: {params.model!r} must be provider/model with a provider "
            f"among {', '.join(sorted(providers))}"
        )
    extras = dict(params.model_extra or {})
    options = {k: extras.pop(k) for k in list(extras) if k in providers.endpoint_options}
    router_options = {k: extras.pop(k) for k in list(extras) if k in _ROUTER_KEYS}
    routing = {k: extras.pop(k) for k in list(extras) if k in _ROUTING_KEYS}
    request_defaults = _request_defaults(
        {k: extras.pop(k) for k in list(extras) if k in STANDARD_PARAMS}, where_params
    )
    refuse_deployment_keys(router_options, where_params)
    refuse_foreign_options(options, provider_name, providers, where_params)
    info = entry.model_info
    info_extra = dict(info.model_extra or {}) if info else {}
    check_model_info(info_extra, MODEL_INFO_PRICE_KEYS, f"{where}.model_info")
    price = price_from_model_info(info_extra, f"{where}.model_info")
    provider = providers[provider_name]
    endpoint = endpoint_from_env(
        provider,
        Endpoint(
            api_base=params.api_base,
            api_key=params.api_key,
            api_version=params.api_version,
            options=options,
        ),
    )
    base_model = (info.base_model if info else None) or params.base_model
    try:
        provider.check_endpoint(endpoint, provider_model)
    except ImageGenError as exc:  # the provider's own words say what is missing
        raise ConfigError(f"{where}: {exc}") from None
    model_id = (info.id if info else None) or _derived_id(entry.model_name, params)
    tpm = deployment_limit(routing.get("tpm"), "tpm", where_params)
    if tpm is not None and not provider.spec_for(base_model or provider_model).reports_tokens:
        raise ConfigError(
            f"{where_params}.tpm: {params.model} reports no tokens, so a tokens-per-minute "
            "limit could never be reached; use rpm or ipm (requests or images per minute)"
        )
    return Deployment(
        model_name=entry.model_name,
        model_id=model_id,
        provider=provider_name,
        provider_model=provider_model,
        endpoint=endpoint,
        base_model=base_model,
        price=price,
        timeout=params.timeout,
        drop_params=params.drop_params,
        coerce_size=params.coerce_size,
        provider_params=extras,
        request_defaults=request_defaults,
        router_options=router_options,
        weight=deployment_limit(
            routing.get("weight", 1.0), "weight", where_params, positive_float=True
        ),
        rpm=deployment_limit(routing.get("rpm"), "rpm", where_params),
        ipm=deployment_limit(routing.get("ipm"), "ipm", where_params),
        tpm=tpm,
        max_parallel_requests=deployment_limit(
            routing.get("max_parallel_requests"), "max_parallel_requests", where_params
        ),
        order=deployment_limit(routing.get("order"), "order", where_params),
    )


def _request_defaults(values: dict[str, Any], where: str) -> dict[str, Any]:
    # LiteLLM lets a deployment fix `quality: hd` or `size: ...`; they are defaults for
    # requests that leave the field unset, validated like a request's own values.
    if not values:
        return {}
    try:
        validated = ImageRequest.create(prompt="-", **values)
    except InvalidRequestError as exc:
        field_names = ", ".join(v.field for v in exc.field_violations) or "?"
        raise ConfigError(f"{where}.{field_names}: {exc.field_violations[0].description}") from None
    return {name: getattr(validated, name) for name in values}


def _derived_id(model_name: str, params: _Params) -> str:
    # Secrets stay out of the id: it appears in trailers and logs.
    material = "\x00".join(
        [model_name, params.model, params.api_base or "", params.api_version or ""]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def embedded_settings(*, port: int = DEFAULT_PORT) -> Settings:
    """What `imagegen serve` runs with no config file.

    The offline `placeholder` model always; OpenAI's image models too when
    OPENAI_API_KEY is set.
    """
    deployments = [
        Deployment(
            model_name=PLACEHOLDER_MODEL,
            model_id=f"local/{PLACEHOLDER_MODEL}",
            provider="local",
            provider_model=PLACEHOLDER_MODEL,
            endpoint=Endpoint(),
        )
    ]
    if os.environ.get("OPENAI_API_KEY"):
        endpoint = endpoint_from_env(Providers.discover()["openai"], Endpoint())
        deployments += [
            Deployment(
                model_name=model,
                model_id=f"openai/{model}",
                provider="openai",
                provider_model=model,
                endpoint=endpoint,
            )
            for model in OPENAI_MODELS
        ]
    return Settings(
        deployments=tuple(deployments),
        default_model=PLACEHOLDER_MODEL,
        server=ServerSettings(port=port),
        storage=StorageSettings(),
    )


def sdk_settings() -> Settings:
    """The in-process SDK's settings: any provider/model, credentials from arguments or env."""
    return Settings(serve_unlisted_models=True)
