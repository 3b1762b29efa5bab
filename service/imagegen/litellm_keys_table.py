"""Every LiteLLM config key an image deployment can carry, and what imagegen does with it.

The rows are built from the sets the config code itself acts on (litellm_config's key
sets, the validated sections' fields, each provider adapter's endpoint options), so the
table in docs/migrating-from-litellm.md, which is generated from here, cannot drift from
what a config load does: a key the code starts to accept without a line saying what it
means fails `key_rules()` (and its test).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from imagegen.config import KNOWN_SECTIONS, PARAMS_FIELDS, ROUTING_KEYS
from imagegen.litellm_config import (
    AZURE_TOKEN_REFRESH,
    CALLBACK_KEYS,
    DEPLOYMENT_REFUSED,
    LITELLM_SETTINGS_REFUSED,
    MODEL_INFO_REFUSED,
    MODEL_INFO_USED,
    OWN_KEYS,
    ROUTER_KEYS,
    SAME_AS_IMAGEGEN,
    SECTION_REFUSED,
)
from imagegen.pricing.table import MODEL_INFO_PRICE_KEYS
from imagegen.providers.base import STANDARD_PARAMS
from imagegen.providers.registry import Providers
from imagegen.router.settings import RouterSettings
from imagegen.spend.settings import GENERAL_SETTINGS_KEYS

Verdict = Literal["honoured", "refused", "accepted"]
"""honoured: same meaning as LiteLLM's; refused: the start stops, naming what to use instead;
accepted: loads and changes nothing, because it is imagegen's behaviour anyway (or, for
model_info, purely descriptive)."""

PARAMS = "model_list[].litellm_params"
INFO = "model_list[].model_info"


@dataclass(frozen=True, slots=True)
class KeyRule:
    """What imagegen does with one LiteLLM config key."""

    section: str
    key: str
    verdict: Verdict
    what: str
    """The meaning here, or why it is refused and what to use instead."""


_LITELLM_SETTINGS: Mapping[str, str] = {
    "drop_params": "parameters a model does not take are dropped (and reported) instead of refused",
    "request_timeout": "the default deadline of a request, in seconds",
    "cache": "turns on the image cache",
    "cache_params": "the image cache's backend and limits (local, redis, disk, s3)",
    "num_retries": "the router's retries (router_settings.num_retries)",
    "fallbacks": "the router's fallbacks (router_settings.fallbacks)",
    "default_fallbacks": "the router's default fallbacks (router_settings.default_fallbacks)",
    "content_policy_fallbacks": "the router's fallbacks after a safety refusal",
    "callbacks": "'otel' exports traces over OTLP/HTTP (OTEL_ENDPOINT or "
    "OTEL_EXPORTER_OTLP_ENDPOINT); any other callback is refused: use "
    "telemetry_settings.callbacks",
    "success_callback": "as callbacks",
    "failure_callback": "as callbacks",
    AZURE_TOKEN_REFRESH: "azure/ deployments without a key get Entra ID tokens from "
    "DefaultAzureCredential (managed identity, workload identity, environment)",
}
_SAME_AS_IMAGEGEN_WHY: Mapping[str, str] = {
    "set_verbose": "`false` only (imagegen's logs are not verbose); `true`: set the level of "
    "the `imagegen` logger",
    "telemetry": "`false` only: imagegen reports nothing to its makers",
}
_PARAMS: Mapping[str, str] = {
    "model": "provider/model: which adapter and which of its models",
    "api_key": "the provider's key (os.environ/NAME, or the provider's own variable)",
    "api_base": "the provider's base URL",
    "api_version": "the provider's API version (Azure)",
    "timeout": "this deployment's deadline in seconds",
    "drop_params": "as litellm_settings.drop_params, for this deployment",
    "coerce_size": "imagegen's own: map a size the model cannot make to its nearest ratio",
    "base_model": "the model whose prices and parameter rules apply",
    "rpm": "requests per minute of this deployment",
    "ipm": "imagegen's own: images per minute of this deployment",
    "tpm": "tokens per minute of this deployment (input + output, as its answers report them); "
    "refused for models that report no tokens (dall-e, Imagen, Bedrock...)",
    "weight": "share of traffic under simple-shuffle",
    "order": "priority: lower orders are tried first",
    "max_parallel_requests": "calls in flight at once on this deployment",
}
_STANDARD: Mapping[str, str] = {
    name: "a default for requests that leave it unset, validated like a request's own"
    for name in STANDARD_PARAMS
}
_OPTIONS: Mapping[str, str] = {
    "azure_ad_token": "a fixed Entra ID token",
    "tenant_id": "Entra service principal (with client_id, client_secret), via azure-identity",
    "client_id": "Entra service principal; alone with enable_azure_ad_token_refresh: a "
    "user-assigned managed identity",
    "client_secret": "Entra service principal secret",
    "azure_scope": "the Entra token scope (default Cognitive Services')",
    "enable_azure_ad_token_refresh": "this deployment uses DefaultAzureCredential (managed "
    "identity, workload identity)",
    "aws_access_key_id": "static AWS credentials (with aws_secret_access_key)",
    "aws_secret_access_key": "static AWS credentials",
    "aws_session_token": "the session token of temporary AWS credentials",
    "aws_region_name": "the Bedrock region",
    "aws_profile_name": "a profile of the shared AWS config (botocore's chain)",
    "aws_bedrock_runtime_endpoint": "the Bedrock runtime URL (a VPC endpoint)",
    "aws_role_name": "a role ARN assumed with STS (botocore), refreshed before expiry",
    "aws_session_name": "the assumed role's session name",
    "aws_external_id": "the ExternalId of AssumeRole",
    "aws_sts_endpoint": "the STS URL (a VPC endpoint)",
    "aws_web_identity_token": "an OIDC token: AssumeRoleWithWebIdentity",
    "vertex_project": "the Google Cloud project",
    "vertex_ai_project": "as vertex_project",
    "vertex_location": "the Vertex region",
    "vertex_ai_location": "as vertex_location",
    "vertex_credentials": "a service-account key: a file path, its JSON text or a mapping",
    "vertex_ai_credentials": "as vertex_credentials",
    "organization": "OpenAI's organization header",
    "project": "OpenAI's project header",
    "poll_interval": "imagegen's own: seconds between polls of an asynchronous job",
    "prefer_wait": "imagegen's own: Replicate's Prefer: wait",
}
_ROUTER_EXTRA: Mapping[str, str] = {
    "model_group_alias": "an alias served as another model group ({alias: group} or "
    "{alias: {model: group, hidden: true}})",
    "retry_backoff_max_seconds": "imagegen's own: the longest backoff between retries",
    "default_fallbacks": "groups to try after any group without fallbacks of its own fails",
    "redis_host": "shared router state in Redis (with redis_port, redis_password)",
    "redis_port": "as redis_host",
    "redis_password": "as redis_host",
}
_GENERAL: Mapping[str, str] = {
    "master_key": "the admin key: key routes, /spend/logs, the gRPC KeyAdmin service",
    "database_url": "PostgreSQL for keys and the spend log",
    "spend_log_path": "imagegen's own: the SQLite file when there is no database_url",
    "spend_batch_size": "imagegen's own: spend rows written per batch",
    "spend_batch_interval_ms": "imagegen's own: the longest wait before a batch is written",
    "log_prompts": "imagegen's own: keep prompts in spend rows (off by default)",
    "allow_unpriced_models": "imagegen's own: keys with budgets may call models of unknown price",
    "quota_redis_url": "imagegen's own: budgets and key limits shared by replicas in Redis",
    "quota_redis_namespace": "imagegen's own: the Redis key prefix of quotas",
    "quota_fail_open": "imagegen's own: serve when the quota Redis is down",
    "quota_hold_seconds": "imagegen's own: how long a budget hold lives",
}
_SECTIONS: Mapping[str, str] = {
    "model_list": "the deployments (rows below)",
    "litellm_settings": "LiteLLM's module settings (rows below)",
    "router_settings": "the router's settings (rows below)",
    "general_settings": "keys, the spend log, the master key (rows below)",
    "environment_variables": "set before os.environ/ references resolve; a variable the "
    "process already has keeps its value",
    "guardrails": "LiteLLM's guardrail list: imagegen's built-in and custom guardrails",
    "server_settings": "imagegen's own: ports, TLS, limits",
    "telemetry_settings": "imagegen's own: traces, metrics, the request log line, callbacks",
    "storage_settings": "imagegen's own: where images answered as URLs are kept",
    "keys": "imagegen's own: virtual keys defined in the file",
}


def key_rules() -> tuple[KeyRule, ...]:
    """Every row, in a stable order. KeyError: a key the code acts on has no description."""
    rows: list[KeyRule] = [
        KeyRule("(top level)", name, "honoured", _SECTIONS[name]) for name in sorted(KNOWN_SECTIONS)
    ]
    rows.append(
        KeyRule("(top level)", "any other section", "refused", "a section imagegen does not read")
    )
    honoured = [*sorted(OWN_KEYS), *ROUTER_KEYS, *CALLBACK_KEYS, AZURE_TOKEN_REFRESH]
    rows += _rows("litellm_settings", honoured, "honoured", _LITELLM_SETTINGS)
    rows += _rows("litellm_settings", sorted(SAME_AS_IMAGEGEN), "accepted", _SAME_AS_IMAGEGEN_WHY)
    refused = sorted(set(LITELLM_SETTINGS_REFUSED) - set(SAME_AS_IMAGEGEN))
    rows += _rows("litellm_settings", refused, "refused", LITELLM_SETTINGS_REFUSED)
    rows.append(_any_other("litellm_settings"))

    router = {**_ROUTER_EXTRA, **_descriptions(RouterSettings)}
    rows += _rows(
        "router_settings", [*RouterSettings.model_fields, "model_group_alias"], "honoured", router
    )
    rows += _rows(
        "router_settings",
        sorted(SECTION_REFUSED["router_settings"]),
        "refused",
        SECTION_REFUSED["router_settings"],
    )
    rows.append(_any_other("router_settings"))

    rows += _rows("general_settings", list(GENERAL_SETTINGS_KEYS), "honoured", _GENERAL)
    rows += _rows(
        "general_settings",
        sorted(SECTION_REFUSED["general_settings"]),
        "refused",
        SECTION_REFUSED["general_settings"],
    )
    rows.append(_any_other("general_settings"))

    rows += _rows(PARAMS, [*PARAMS_FIELDS, *sorted(ROUTING_KEYS)], "honoured", _PARAMS)
    rows += _rows(PARAMS, STANDARD_PARAMS, "honoured", _STANDARD)
    rows += [
        KeyRule(PARAMS, option, "honoured", f"{', '.join(owners)}: {_OPTIONS[option]}")
        for option, owners in _option_owners().items()
    ]
    rows += _rows(PARAMS, sorted(DEPLOYMENT_REFUSED), "refused", DEPLOYMENT_REFUSED)
    rows.append(
        KeyRule(
            PARAMS,
            "another provider's option",
            "refused",
            "e.g. aws_region_name on an openai deployment (LiteLLM drops it silently)",
        )
    )
    rows.append(
        KeyRule(
            PARAMS,
            "any other key",
            "honoured",
            "sent to the provider as a parameter, checked against the model's rules (as "
            "LiteLLM sends non-OpenAI keys in the body)",
        )
    )

    rows += _rows(INFO, list(MODEL_INFO_USED), "honoured", MODEL_INFO_USED)
    rows += _rows(INFO, MODEL_INFO_PRICE_KEYS, "honoured", _PRICE_KEYS)
    rows += _rows(INFO, sorted(MODEL_INFO_REFUSED), "refused", MODEL_INFO_REFUSED)
    rows.append(KeyRule(INFO, "any other *cost* key", "refused", "a price imagegen does not read"))
    rows.append(
        KeyRule(INFO, "any other key", "accepted", "descriptive (mode, supports_*, ...): no effect")
    )
    return tuple(rows)


_PRICE_KEYS: Mapping[str, str] = {
    "output_cost_per_image": "USD per generated image",
    "input_cost_per_pixel": "USD per pixel: width x height x rate per image (LiteLLM's "
    "default image cost)",
    "input_cost_per_token": "USD per text input token",
    "input_cost_per_image_token": "USD per image input token",
    "output_cost_per_image_token": "USD per image output token (needed for token pricing)",
    "output_cost_per_token": "USD per text output token",
}


def _rows(
    section: str, keys: Iterable[str], verdict: Verdict, what: Mapping[str, str]
) -> list[KeyRule]:
    return [KeyRule(section, key, verdict, what[key]) for key in keys]


def _any_other(section: str) -> KeyRule:
    return KeyRule(
        section, "any other key", "refused", "a setting that silently does nothing is refused"
    )


def _descriptions(model: type[RouterSettings]) -> dict[str, str]:
    return {
        name: " ".join(field.description.split())
        for name, field in model.model_fields.items()
        if field.description
    }


def _option_owners() -> dict[str, list[str]]:
    """Each endpoint option, with the providers that read it (in provider order)."""
    owners: dict[str, list[str]] = {}
    for name, adapter in sorted(Providers.discover().items()):
        for option in adapter.endpoint_options:
            owners.setdefault(option, []).append(name)
    return owners


def rule_for(section: str, key: str) -> KeyRule | None:
    """The row naming `key` of `section` exactly (None: it falls under an "any other" row)."""
    return next((r for r in key_rules() if r.section == section and r.key == key), None)


def markdown_table() -> str:
    """The table of docs/migrating-from-litellm.md (between its generated-table markers)."""
    lines = [
        "| Where | Key | imagegen | What it does, or what to use instead |",
        "|---|---|---|---|",
    ]
    for rule in key_rules():
        key = rule.key if rule.key.startswith(("any ", "another ")) else f"`{rule.key}`"
        lines.append(f"| `{rule.section}` | {key} | {rule.verdict} | {rule.what} |")
    return "\n".join(lines) + "\n"
