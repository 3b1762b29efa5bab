"""`imagegen check-config`: what a config will do, model by model and section by section.

The config load stops at its first problem; this check loads each model and each section on
its own (with the same code as a load), so that one report lists everything: each model
served (provider, id, price, where its credentials come from) or not and why, each section
key honoured, accepted without effect or refused, and credentials that cannot be resolved
here. Nothing is sent to a provider, and no secret is printed (credentials are described by
kind and source, never by value). `imagegen serve` runs the same check before it starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from imagegen.config import Settings, settings_from_mapping
from imagegen.deployment import Deployment
from imagegen.errors import ConfigError
from imagegen.litellm_config import AZURE_TOKEN_REFRESH, MODEL_INFO_USED, check_model_info
from imagegen.litellm_keys_table import INFO, rule_for
from imagegen.pricing.table import (
    MODEL_INFO_PRICE_KEYS,
    Price,
    load_price_table,
    parse_price_table,
)
from imagegen.providers.registry import Providers

Status = Literal["served", "not served", "honoured", "accepted", "refused", "unresolved", "note"]
# A model or a section that cannot work as written: check-config exits 1, serve does not start.
FAILING: frozenset[Status] = frozenset({"not served", "refused", "unresolved"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report."""

    where: str
    status: Status
    detail: str


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """The whole check; `settings` is what serve runs (None when the file does not load)."""

    source: str
    findings: tuple[Finding, ...]
    settings: Settings | None
    error: str | None = None
    """The load's own first error (None when the whole file loads)."""

    @property
    def ok(self) -> bool:
        return self.settings is not None and not any(f.status in FAILING for f in self.findings)

    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status in FAILING]

    def render(self) -> str:
        width = max((len(f.status) for f in self.findings), default=0)
        lines = [f"{self.source}:"]
        lines += [f"  {f.status.ljust(width)}  {f.where}: {f.detail}" for f in self.findings]
        served = sum(1 for f in self.findings if f.status == "served")
        failed = len(self.failures())
        verdict = "ok" if self.ok else "NOT OK"
        lines.append(f"{verdict}: {served} model(s) served, {failed} problem(s)")
        return "\n".join(lines)


def check_config_file(path: str | Path) -> ConfigReport:
    """Check the config file at `path` (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        return _unreadable(str(path), f"cannot read the config file ({exc.strerror})")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return _unreadable(str(path), "not valid YAML")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return _unreadable(str(path), "the top level must be a mapping")
    return check_config(raw, source=str(path))


def check_config(raw: Mapping[str, Any], *, source: str) -> ConfigReport:
    """Check a config document given as a mapping (the file's shape)."""
    settings: Settings | None = None
    error: str | None = None
    try:
        settings = settings_from_mapping(raw, source=source)
    except ConfigError as exc:
        error = str(exc)
    findings: list[Finding] = []
    good: list[Any] = []
    base = _context(raw)
    entries = raw.get("model_list") or []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        entry_findings, served = _check_model(index, entry, base, source)
        findings += entry_findings
        if served:
            good.append(entry)
    for name, value in raw.items():
        if name != "model_list":
            findings += _check_section(str(name), value, good, base, source)
    if error is not None and not any(f.status in FAILING for f in findings):
        # A problem between parts (two deployments with one id, an alias of a model
        # that is not served): the load's own words.
        findings.append(Finding("(whole file)", "refused", _local(error, source)))
    return ConfigReport(source, tuple(findings), settings, error)


def _unreadable(source: str, why: str) -> ConfigReport:
    return ConfigReport(source, (Finding("(file)", "refused", why),), None, f"{source}: {why}")


def _context(raw: Mapping[str, Any]) -> dict[str, Any]:
    # What every partial load needs: the variables os.environ/ references may name, the
    # guardrails a model_info may name, and the litellm_settings switch that changes what an
    # azure/ deployment authenticates with.
    context: dict[str, Any] = {}
    if isinstance(raw.get("environment_variables"), dict):
        context["environment_variables"] = raw["environment_variables"]
    if isinstance(raw.get("guardrails"), list):
        context["guardrails"] = raw["guardrails"]
    section = raw.get("litellm_settings")
    if isinstance(section, dict) and AZURE_TOKEN_REFRESH in section:
        context["litellm_settings"] = {AZURE_TOKEN_REFRESH: section[AZURE_TOKEN_REFRESH]}
    return context


def _check_model(
    index: int, entry: Any, base: dict[str, Any], source: str
) -> tuple[list[Finding], bool]:
    name = entry.get("model_name") if isinstance(entry, dict) else None
    where = f"model_list[{index}]" + (f" {name}" if isinstance(name, str) else "")
    try:
        loaded = settings_from_mapping({**base, "model_list": [entry]}, source=source)
    except ConfigError as exc:
        # Loaded alone, the entry is model_list[0]: name it by its place in the file.
        detail = _local(str(exc), source).replace("model_list[0]", f"model_list[{index}]", 1)
        return [Finding(where, "not served", detail)], False
    deployment = loaded.deployments[0]
    status, detail = credentials(deployment)
    if status in FAILING:
        findings = [Finding(where, "not served", f"its credentials: {detail}")]
    else:
        findings = [Finding(where, "served", _served(deployment))]
    info = entry.get("model_info") if isinstance(entry, dict) else None
    if isinstance(info, dict):
        extra = {k: v for k, v in info.items() if k not in MODEL_INFO_USED}
        for key in check_model_info(extra, MODEL_INFO_PRICE_KEYS, f"{where}.model_info"):
            findings.append(Finding(f"{where}.model_info.{key}", "accepted", _any_info(key)))
    findings.append(Finding(f"{where} credentials", status, detail))
    return findings, status not in FAILING


def _any_info(key: str) -> str:
    rule = rule_for(INFO, "any other key")
    return rule.what if rule else "descriptive: no effect"


def _served(deployment: Deployment) -> str:
    text = f"as {deployment.provider}/{deployment.provider_model} (id {deployment.model_id})"
    return f"{text}; price: {_price(_price_of(deployment))}"


def _price_of(deployment: Deployment) -> Price | None:
    # As the gateway resolves it: the configured price, else the table row of the model's
    # family (the shipped table, then the rows the adapter brings).
    if deployment.price is not None:
        return deployment.price
    adapter = Providers.discover()[deployment.provider]
    spec = adapter.spec_for(deployment.base_model or deployment.provider_model)
    model = spec.family if spec.known else deployment.provider_model
    found = load_price_table().lookup(deployment.provider, model)
    if found is None and adapter.price_rows:
        found = parse_price_table(adapter.price_rows).lookup(deployment.provider, model)
    return found


def _price(price: Price | None) -> str:
    if price is None:
        return "unknown (costs are reported as unknown, never 0)"
    if price.per_pixel is not None:
        return f"{price.per_pixel} USD per pixel (configured)"
    return price.basis + (" (configured)" if price.retrieved == "config" else "")


def _check_section(
    name: str, value: Any, good: list[Any], base: dict[str, Any], source: str
) -> list[Finding]:
    if name == "environment_variables":
        names = sorted(map(str, value)) if isinstance(value, dict) else []
        try:
            settings_from_mapping({name: value}, source=source)
        except ConfigError as exc:
            return [Finding(name, "refused", _local(str(exc), source))]
        return [
            Finding(name, "honoured", f"sets {', '.join(names) or 'nothing'} (values not shown)")
        ]
    document = {**base, "model_list": good, name: value}
    whole: str | None = None
    try:
        settings_from_mapping(document, source=source)
    except ConfigError as exc:
        whole = _local(str(exc), source)
    if not isinstance(value, dict) or name not in _KEYED:
        if whole is not None:
            return [Finding(name, "refused", whole)]
        return [Finding(name, "honoured", "loads as written")]
    findings = []
    for key, item in value.items():
        if whole is not None:  # which keys fail on their own
            try:
                settings_from_mapping(
                    {**base, "model_list": good, name: {key: item}}, source=source
                )
            except ConfigError as exc:
                message = _local(str(exc), source).removeprefix(f"{name}.{key}: ")
                findings.append(Finding(f"{name}.{key}", "refused", message))
                continue
        rule = rule_for(name, str(key))
        if rule is None or rule.verdict == "refused":
            # Loaded, yet no row of LiteLLM's: one of imagegen's own keys of the section.
            findings.append(Finding(f"{name}.{key}", "honoured", "imagegen's own setting"))
        else:
            findings.append(Finding(f"{name}.{key}", rule.verdict, rule.what))
    if whole is not None and not any(f.status == "refused" for f in findings):
        findings.append(Finding(name, "refused", whole))  # keys that only fail together
    return findings


_KEYED = frozenset({"litellm_settings", "router_settings", "general_settings"})


def _local(message: str, source: str) -> str:
    prefix = f"{source}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def credentials(deployment: Deployment) -> tuple[Status, str]:
    """Where `deployment`'s credentials come from, checked without calling anyone.

    "unresolved" when they cannot work (a key file that is not there, a profile that does
    not exist); "note" when only the machine the gateway runs on can tell (instance
    metadata, a managed identity).
    """
    options = deployment.endpoint.options
    if deployment.provider == "azure":
        return _azure(deployment.endpoint.api_key, options)
    if deployment.provider == "bedrock":
        return _bedrock(options)
    if deployment.provider == "vertex_ai":
        return _vertex(deployment.endpoint.api_key, options)
    if deployment.provider == "local":
        return "honoured", "none needed"
    if deployment.endpoint.api_key:
        return "honoured", "an API key (from the config or the provider's variable)"
    return "note", "no API key: the provider's base URL must not need one"


def _azure(api_key: str | None, options: Mapping[str, Any]) -> tuple[Status, str]:
    if api_key:
        return "honoured", "an API key"
    if options.get("azure_ad_token"):
        return "honoured", "a fixed Entra ID token (it expires: prefer a service principal)"
    if options.get("client_secret"):
        return "honoured", (
            f"Entra service principal {str(options.get('client_id'))[:64]!r} of tenant "
            f"{str(options.get('tenant_id'))[:64]!r} (its token is fetched at the first request)"
        )
    if options.get("client_id"):  # alone (a service principal has its secret): user-assigned
        return "note", (
            f"the user-assigned managed identity {str(options['client_id'])[:64]!r}: only "
            "the Azure host can answer (known at the first request)"
        )
    federated = os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
    if federated:
        if not Path(federated).is_file():
            return "unresolved", "AZURE_FEDERATED_TOKEN_FILE names no file (workload identity)"
        return "honoured", "workload identity (AZURE_FEDERATED_TOKEN_FILE)"
    if os.environ.get("AZURE_CLIENT_SECRET") and os.environ.get("AZURE_TENANT_ID"):
        return "honoured", "the environment's service principal (AZURE_CLIENT_SECRET)"
    if os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"):
        return "honoured", "managed identity (the host's identity endpoint)"
    return "note", (
        "DefaultAzureCredential finds nothing here but the instance metadata service: "
        "only a managed identity on an Azure host can answer (known at the first request)"
    )


def _bedrock(options: Mapping[str, Any]) -> tuple[Status, str]:
    base = _aws_base(options)
    if base[0] in FAILING:
        return base
    role = options.get("aws_role_name")
    if role:
        how = "with a web identity token" if options.get("aws_web_identity_token") else base[1]
        sts = " at aws_sts_endpoint" if options.get("aws_sts_endpoint") else ""
        return "honoured", f"assumes {str(role)[:200]} through STS{sts} ({how}) at first use"
    return base


def _aws_base(options: Mapping[str, Any]) -> tuple[Status, str]:
    if options.get("aws_access_key_id") and options.get("aws_secret_access_key"):
        return "honoured", "static keys from the config"
    profile = options.get("aws_profile_name") or os.environ.get("AWS_PROFILE")
    if profile:
        import botocore.session

        if profile not in botocore.session.Session().available_profiles:
            return "unresolved", f"no AWS profile named {str(profile)[:64]!r} in the shared config"
        return "honoured", f"the AWS profile {str(profile)[:64]!r}"
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return "honoured", "keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    if os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") and os.environ.get("AWS_ROLE_ARN"):
        return "honoured", "web identity from AWS_WEB_IDENTITY_TOKEN_FILE (EKS)"
    if os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or os.environ.get(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    ):
        return "honoured", "the container's credentials endpoint (ECS)"
    shared = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))
    if shared.expanduser().is_file():
        return "honoured", "the shared credentials file (default profile)"
    return "note", (
        "botocore's chain finds nothing here but instance metadata: only an EC2 or EKS "
        "host role can answer (known at the first request)"
    )


def _vertex(api_key: str | None, options: Mapping[str, Any]) -> tuple[Status, str]:
    if api_key:
        return "honoured", "an API key (express mode)"
    value = options.get("vertex_credentials") or options.get("vertex_ai_credentials")
    if isinstance(value, Mapping):
        return _service_account(dict(value), "vertex_credentials (a mapping)")
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.startswith("{"):
            try:
                return _service_account(json.loads(text), "vertex_credentials (JSON)")
            except ValueError:
                return "unresolved", "vertex_credentials starts like JSON but is not JSON"
        return _key_file(Path(text), "the vertex_credentials file")
    adc = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if adc:
        return _key_file(Path(adc), "GOOGLE_APPLICATION_CREDENTIALS")
    gcloud = Path("~/.config/gcloud/application_default_credentials.json").expanduser()
    if gcloud.is_file():
        return "honoured", "gcloud's application default credentials"
    return "note", (
        "no key and no application default credentials here: only the metadata server of "
        "a Google Cloud host can answer (known at the first request)"
    )


def _key_file(path: Path, what: str) -> tuple[Status, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError:
        return "unresolved", f"{what}: no readable file there"
    except ValueError:
        return "unresolved", f"{what}: the file is not JSON"
    return _service_account(data, what)


def _service_account(data: Any, what: str) -> tuple[Status, str]:
    if not isinstance(data, dict):
        return "unresolved", f"{what}: not a JSON object"
    kind = data.get("type")
    if kind == "service_account":
        if not data.get("private_key") or not data.get("client_email"):
            return "unresolved", f"{what}: a service account key without its private key"
        return "honoured", f"{what}: service account {str(data['client_email'])[:128]}"
    if kind in ("authorized_user", "external_account", "impersonated_service_account"):
        return "honoured", f"{what}: {kind} credentials"
    return "unresolved", f"{what}: not a Google credential (type {str(kind)[:40]!r})"
