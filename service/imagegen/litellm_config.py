"""LiteLLM's config keys that live outside imagegen's own sections, folded into them.

A LiteLLM proxy config carries some settings where LiteLLM's module reads them
(`litellm_settings`, `environment_variables`, `router_settings.model_group_alias`).
This module turns each into what imagegen does with it, on the raw document before
validation, so that the rest of the config code sees one shape. A key is either
honoured with LiteLLM's meaning or refused with a ConfigError that names it and says
what to use instead: a changed behaviour is never silent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from imagegen.errors import ConfigError

ENV_PREFIX = "os.environ/"

# litellm_settings keys the config validates itself (config._LitellmSettings).
# cache / cache_params: the image cache (imagegen.cache.settings checks cache_params).
OWN_KEYS = frozenset({"drop_params", "request_timeout", "cache", "cache_params"})
# litellm_settings keys that are router_settings keys of the same name and meaning
# (LiteLLM's proxy hands them to its Router).
ROUTER_KEYS = ("num_retries", "fallbacks", "default_fallbacks", "content_policy_fallbacks")
CALLBACK_KEYS = ("callbacks", "success_callback", "failure_callback")
# LiteLLM's switch for Entra ID tokens from the default Azure credential (managed or
# workload identity) on azure/ deployments without a key; per deployment in imagegen.
AZURE_TOKEN_REFRESH = "enable_azure_ad_token_refresh"
# Keys accepted only with the value that is imagegen's behaviour anyway.
SAME_AS_IMAGEGEN: Mapping[str, object] = {
    "set_verbose": False,
    "telemetry": False,  # LiteLLM's usage reporting to its makers; imagegen sends none
}
# Keys imagegen has no equivalent for, with what to use instead.
LITELLM_SETTINGS_REFUSED: Mapping[str, str] = {
    "context_window_fallbacks": "not for images (image models have no context window)",
    "set_verbose": "set the log level of the `imagegen` logger instead",
    "json_logs": "use telemetry_settings.log_format: json",
    "turn_off_message_logging": (
        "prompts are left out by default; see telemetry_settings.log_prompts"
    ),
    "service_callbacks": "use telemetry_settings.callbacks",
    "max_budget": "use general_settings / keys budgets",
}
# LiteLLM's otel callback reads these; the first is its own endpoint variable.
_LITELLM_OTEL_ENDPOINT = "OTEL_ENDPOINT"
_OTLP_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Aliases(BaseModel):
    """router_settings.model_group_alias: names served as another model group."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    targets: Mapping[str, str] = Field(default_factory=dict)
    """alias → the model_name it is served as."""
    hidden: frozenset[str] = frozenset()
    """Aliases that are served but not listed (LiteLLM's `hidden: true`)."""


def apply_environment_variables(raw: Mapping[str, Any], source: str) -> None:
    """`environment_variables`: set each variable before `os.environ/` references resolve.

    As in LiteLLM, a value is a default: a variable the process already has keeps its
    value (so a deployment's environment overrides the file).
    """
    section = raw.get("environment_variables")
    if section is None:
        return
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: environment_variables: must be a mapping of NAME: value")
    for name, value in section.items():
        where = f"{source}: environment_variables.{name}"
        if not isinstance(name, str) or not name or "=" in name or "\x00" in name:
            raise ConfigError(f"{where}: not a valid variable name")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: must be a string or a number")
        if name in os.environ:
            continue
        text = str(value)
        if text.startswith(ENV_PREFIX):
            ref = text[len(ENV_PREFIX) :]
            if ref not in os.environ:
                raise ConfigError(f"{where}: environment variable {ref} is not set")
            text = os.environ[ref]
        os.environ[name] = text


def fold_litellm_settings(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """The document with `litellm_settings` keys moved to the sections that act on them.

    Raises ConfigError for a key imagegen cannot honour.
    """
    section = raw.get("litellm_settings")
    if section is None:
        return raw
    if not isinstance(section, dict):
        return raw  # the schema reports the wrong type with its location
    raw = dict(raw)
    own: dict[str, Any] = {}
    router = _section(raw, "router_settings", source)
    telemetry = _section(raw, "telemetry_settings", source)
    otel = False
    for key, value in section.items():
        where = f"{source}: litellm_settings.{key}"
        if key in OWN_KEYS:
            own[key] = value
        elif key in ROUTER_KEYS:
            if key in router and router[key] != value:
                raise ConfigError(
                    f"{where}: router_settings.{key} says otherwise; give it in one place"
                )
            router[key] = value
        elif key in CALLBACK_KEYS:
            otel = _callbacks(value, where) or otel
        elif key == AZURE_TOKEN_REFRESH:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: must be true or false")
            if value:
                raw["model_list"] = _with_azure_token_refresh(raw.get("model_list"))
        elif key in SAME_AS_IMAGEGEN and value == SAME_AS_IMAGEGEN[key]:
            continue
        elif key in LITELLM_SETTINGS_REFUSED:
            raise ConfigError(
                f"{where}: not supported by imagegen: {LITELLM_SETTINGS_REFUSED[key]}"
            )
        else:
            raise ConfigError(
                f"{where}: not supported by imagegen (it would change nothing here, and a "
                "setting that silently does nothing is worse than none); remove it"
            )
    if otel:
        _turn_on_otlp(telemetry, source)
    raw["litellm_settings"] = own
    if router:
        raw["router_settings"] = router
    if telemetry:
        raw["telemetry_settings"] = telemetry
    return raw


def _with_azure_token_refresh(entries: Any) -> Any:
    if not isinstance(entries, list):
        return entries
    updated = []
    for entry in entries:
        if isinstance(entry, dict):
            name = "litellm_params" if "litellm_params" in entry else "params"
            params = entry.get(name)
            model = params.get("model") if isinstance(params, dict) else None
            if isinstance(params, dict) and isinstance(model, str) and model.startswith("azure/"):
                entry = {**entry, name: {AZURE_TOKEN_REFRESH: True, **params}}
        updated.append(entry)
    return updated


def _section(raw: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {name}: must be a mapping")
    return dict(value)


def _callbacks(value: Any, where: str) -> bool:
    """Whether the list names LiteLLM's `otel`; any other callback is refused."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}: must be a list of callback names")
    for name in names:
        if name != "otel":
            raise ConfigError(
                f"{where}: callback {name!r} is not supported by imagegen; 'otel' is (OTLP "
                "export), and telemetry_settings.callbacks sends each request to stdout, a "
                "file, a webhook or a Python class"
            )
    return bool(names)


def _turn_on_otlp(telemetry: dict[str, Any], source: str) -> None:
    # LiteLLM's otel callback exports to OTEL_ENDPOINT (or the standard OTLP variables);
    # imagegen exports traces over OTLP/HTTP whenever an endpoint is known, so the callback
    # means: find the endpoint, and refuse when there is none rather than trace nowhere.
    where = f"{source}: litellm_settings.callbacks: 'otel'"
    exporter = os.environ.get("OTEL_EXPORTER", "").strip().lower()
    if exporter and exporter not in ("otlp_http", "otlp"):
        raise ConfigError(
            f"{where}: OTEL_EXPORTER={exporter!r} is not supported; imagegen exports over "
            "OTLP/HTTP (OTEL_EXPORTER=otlp_http)"
        )
    if os.environ.get("OTEL_HEADERS") and not os.environ.get("OTEL_EXPORTER_OTLP_HEADERS"):
        raise ConfigError(
            f"{where}: OTEL_HEADERS is LiteLLM's name; set OTEL_EXPORTER_OTLP_HEADERS instead"
        )
    if telemetry.get("otlp_endpoint") or any(os.environ.get(name) for name in _OTLP_ENV):
        return
    endpoint = os.environ.get(_LITELLM_OTEL_ENDPOINT)
    if not endpoint:
        raise ConfigError(
            f"{where}: needs an OTLP/HTTP endpoint: set OTEL_ENDPOINT or "
            "OTEL_EXPORTER_OTLP_ENDPOINT, or telemetry_settings.otlp_endpoint"
        )
    telemetry["otlp_endpoint"] = _otlp_base(endpoint)


def _otlp_base(endpoint: str) -> str:
    # LiteLLM's OTEL_ENDPOINT may name the traces path itself; imagegen adds it.
    stripped = endpoint.rstrip("/")
    suffix = "/v1/traces"
    return stripped[: -len(suffix)] if stripped.endswith(suffix) else stripped


def aliases_of(value: Any, served: set[str], source: str) -> Aliases:
    """router_settings.model_group_alias, checked against the served model names.

    LiteLLM writes `{alias: group}` or `{alias: {model: group, hidden: true}}`.
    """
    where = f"{source}: router_settings.model_group_alias"
    if value is None:
        return Aliases()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping of alias: model_name")
    targets: dict[str, str] = {}
    hidden: set[str] = set()
    for alias, target in value.items():
        at = f"{where}.{alias}"
        if isinstance(target, dict):
            unknown = set(target) - {"model", "hidden"}
            if unknown:
                raise ConfigError(f"{at}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
            if not isinstance(target.get("hidden", False), bool):
                raise ConfigError(f"{at}.hidden: must be true or false")
            if target.get("hidden", False):
                hidden.add(str(alias))
            target = target.get("model")
        if not isinstance(alias, str) or not alias:
            raise ConfigError(f"{where}: an alias must be a non-empty string")
        if not isinstance(target, str) or not target:
            raise ConfigError(f"{at}: must name a model_name (or be {{model: ..., hidden: ...}})")
        if alias in served:
            raise ConfigError(f"{at}: {alias!r} is a model_name already; an alias needs a new name")
        if target not in served:
            raise ConfigError(f"{at}: {target!r} is not in model_list")
        targets[alias] = target
    return Aliases(targets=targets, hidden=frozenset(hidden))


# Per-deployment LiteLLM router keys imagegen has no per-deployment equivalent for.
DEPLOYMENT_REFUSED: Mapping[str, str] = {
    "num_retries": "retries are the router's: router_settings.num_retries",
    "max_retries": "retries are the router's: router_settings.num_retries",
    "cooldown_time": "cooldowns are the router's: router_settings.cooldown_time",
    "stream_timeout": "use timeout (it bounds streams too)",
    "region_name": "use the provider's own key (aws_region_name, vertex_location)",
    "custom_llm_provider": "name the provider in model: provider/model",
}


# model_info keys imagegen acts on besides the price keys (pricing.table.MODEL_INFO_PRICE_KEYS).
MODEL_INFO_USED: Mapping[str, str] = {
    "id": "the deployment's id (x-imagegen-model-id, x-litellm-model-id, spend rows)",
    "base_model": "the model whose price and parameter rules apply (e.g. an Azure deployment)",
    "guardrails": "guardrails this model group adds to the default_on ones",
}
# model_info keys that would change who may call a model or what it costs, with no
# equivalent here.
MODEL_INFO_REFUSED: Mapping[str, str] = {
    "input_cost_per_image": (
        "LiteLLM charges it for images in chat prompts, not for generated images; use "
        "output_cost_per_image or input_cost_per_pixel"
    ),
    "output_cost_per_pixel": "use input_cost_per_pixel (LiteLLM's image price per pixel)",
    "access_groups": "give keys the model names themselves (keys[].models)",
    "team_id": "imagegen has no teams; give keys the model names (keys[].models)",
    "rpm": "give it in litellm_params (litellm_params.rpm), where imagegen enforces it",
    "tpm": "give it in litellm_params (litellm_params.tpm), where imagegen enforces it",
}


def check_model_info(keys: Iterable[str], price_keys: Iterable[str], where: str) -> list[str]:
    """The model_info keys that are descriptive only (LiteLLM's `mode`, `supports_*`, ...).

    Raises ConfigError for a refused key, and for any other cost key: a price imagegen
    does not read must not be believed to apply.
    """
    priced = set(price_keys)
    ignored = []
    for key in sorted(keys):
        if key in MODEL_INFO_USED or key in priced:
            continue
        if key in MODEL_INFO_REFUSED:
            raise ConfigError(
                f"{where}.{key}: not supported by imagegen: {MODEL_INFO_REFUSED[key]}"
            )
        if "cost" in key:
            raise ConfigError(
                f"{where}.{key}: not a price imagegen reads (it reads "
                f"{', '.join(sorted(priced))}); remove it"
            )
        ignored.append(key)
    return ignored


# LiteLLM keys of imagegen's sections that imagegen refuses with a pointer of its own (any
# other unknown key is refused too, with a general message).
SECTION_REFUSED: Mapping[str, Mapping[str, str]] = {
    "router_settings": {
        "context_window_fallbacks": LITELLM_SETTINGS_REFUSED["context_window_fallbacks"],
        "enable_pre_call_checks": "LiteLLM's pre-call checks are context-window checks; "
        "image requests have none",
        "timeout": "use litellm_settings.request_timeout, or a deployment's timeout",
        "tpm": "give tpm per deployment (litellm_params.tpm), as rpm and ipm",
    },
    "general_settings": {
        "store_prompts_in_spend_logs": "use general_settings.log_prompts",
        "alerting": "use telemetry_settings.callbacks (a webhook)",
        "max_parallel_requests": "give it per key (keys[].max_parallel_requests) or "
        "server_settings.max_in_flight_requests",
    },
}


def refuse_unknown(section: str, keys: Iterable[str], source: str) -> None:
    """A ConfigError naming the first key of `section` that imagegen does not act on."""
    for key in sorted(keys):
        instead = SECTION_REFUSED.get(section, {}).get(key)
        if instead is not None:
            raise ConfigError(f"{source}: {section}.{key}: not supported by imagegen: {instead}")
        raise ConfigError(
            f"{source}: {section}.{key}: not supported by imagegen; remove it (a setting that "
            "silently does nothing would change behaviour unseen)"
        )


class _Adapters(Protocol):
    def items(self) -> Iterable[tuple[str, Any]]: ...


def refuse_foreign_options(
    options: Iterable[str], provider: str, adapters: _Adapters, where: str
) -> None:
    """A ConfigError for an endpoint option of another provider (LiteLLM drops `aws_*` keys on
    a deployment that is not Bedrock without a word; here a misplaced credential is loud)."""
    owners: dict[str, list[str]] = {}
    for name, adapter in adapters.items():
        for option in adapter.endpoint_options:
            owners.setdefault(option, []).append(name)
    for key in sorted(options):
        if provider not in owners.get(key, [provider]):
            raise ConfigError(
                f"{where}.{key}: an option of {' and '.join(owners[key])} deployments; "
                f"this one is {provider}: remove it"
            )


def refuse_deployment_keys(keys: Iterable[str], where: str) -> None:
    """A ConfigError for the first per-deployment key of DEPLOYMENT_REFUSED in `keys`."""
    for key in sorted(keys):
        raise ConfigError(f"{where}.{key}: not supported by imagegen: {DEPLOYMENT_REFUSED[key]}")
