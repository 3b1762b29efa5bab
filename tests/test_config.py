"""config.yaml → Settings: LiteLLM compatibility, os.environ/ references, and error messages."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from imagegen.cli import main
from imagegen.config import ServerSettings, load_settings, parse_settings, settings_from_mapping
from imagegen.errors import ConfigError
from imagegen.providers.registry import Providers

# A LiteLLM proxy config for image models, as its docs write one.
LITELLM_CONFIG = """\
model_list:
  - model_name: gpt-image-1
    litellm_params:
      model: openai/gpt-image-1
      api_key: os.environ/OPENAI_API_KEY
      rpm: 60
      weight: 2
    model_info:
      id: openai-gpt-image-1-primary
  - model_name: dalle3-azure
    litellm_params:
      model: azure/my-dalle3-deployment
      api_base: https://example-resource.openai.azure.com
      api_key: os.environ/AZURE_API_KEY
      api_version: "2024-02-01"
      timeout: 90
      drop_params: false
    model_info:
      base_model: dall-e-3
litellm_settings:
  drop_params: true
  request_timeout: 300
  set_verbose: false
general_settings:
  master_key: sk-litellm-master
router_settings:
  routing_strategy: simple-shuffle
"""


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-from-env")
    monkeypatch.setenv("AZURE_API_KEY", "azure-from-env")


def config_error(text: str, source: str = "bad.yaml") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, source=source)
    return str(caught.value)


# ---------------------------------------------------------------- LiteLLM compatibility


def test_litellm_config_loads_unchanged(keys: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="imagegen.config"):
        settings = parse_settings(LITELLM_CONFIG, source="config.yaml")

    assert settings.source == "config.yaml"
    assert settings.drop_params is True
    assert settings.request_timeout == 300
    assert [d.model_name for d in settings.deployments] == ["gpt-image-1", "dalle3-azure"]

    openai, azure = settings.deployments
    assert openai.provider == "openai"
    assert openai.provider_model == "gpt-image-1"
    assert openai.model_id == "openai-gpt-image-1-primary"
    assert openai.endpoint.api_key == "sk-openai-from-env"
    assert openai.provider_params == {}

    assert azure.provider == "azure"
    assert azure.provider_model == "my-dalle3-deployment"
    assert azure.base_model == "dall-e-3"
    assert azure.endpoint.api_base == "https://example-resource.openai.azure.com"
    assert azure.endpoint.api_key == "azure-from-env"
    assert azure.endpoint.api_version == "2024-02-01"
    assert azure.timeout == 90
    assert azure.drop_params is False

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # general_settings and router_settings are read now; neither warns.
    assert settings.access.master_key == "sk-litellm-master"
    assert not any("'general_settings' is not used" in w for w in warnings)
    assert not any("'router_settings' is not used" in w for w in warnings)
    # set_verbose: false is what imagegen does anyway, so it is accepted without a word.
    assert not any("set_verbose" in w for w in warnings)
    assert all(r.levelno < logging.ERROR for r in caplog.records)


def test_unused_litellm_keys_are_refused_naming_the_key_before_resolving_them(
    keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key imagegen would not act on stops the start, named; its os.environ/ reference is
    # not resolved first (the missing variable would hide which key is the problem).
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    text = LITELLM_CONFIG.replace(
        "general_settings:\n",
        "general_settings:\n  redis_password: os.environ/REDIS_PASSWORD\n",
    )
    message = config_error(text, source="config.yaml")
    assert message.startswith("config.yaml: general_settings.redis_password: not supported")
    text = LITELLM_CONFIG.replace(
        "router_settings:\n", "router_settings:\n  enable_pre_call_checks: true\n"
    )
    assert "router_settings.enable_pre_call_checks: not supported" in config_error(text)


def test_params_is_an_alias_of_litellm_params() -> None:
    settings = parse_settings(
        "model_list:\n  - model_name: dev\n    params:\n      model: local/placeholder\n"
    )
    (deployment,) = settings.deployments
    assert deployment.provider == "local"
    assert deployment.provider_model == "placeholder"


def test_params_and_litellm_params_together_is_an_error() -> None:
    message = config_error(
        "model_list:\n"
        "  - model_name: dev\n"
        "    litellm_params:\n"
        "      model: local/placeholder\n"
        "    params:\n"
        "      model: local/placeholder\n"
    )
    assert message == "bad.yaml: model_list[0]: give litellm_params or params, not both"


def test_entry_without_params_is_an_error() -> None:
    message = config_error("model_list:\n  - model_name: dev\n")
    assert message.startswith("bad.yaml: model_list[0]: ")
    assert "litellm_params" in message


def test_empty_file_is_an_empty_config() -> None:
    settings = parse_settings("", source="empty.yaml")
    assert settings.deployments == ()
    assert settings.default_model is None
    assert settings.server.port == 50051


def test_server_settings() -> None:
    settings = parse_settings(
        "model_list:\n"
        "  - model_name: dev\n"
        "    litellm_params: {model: local/placeholder}\n"
        "server_settings:\n"
        "  host: 127.0.0.1\n"
        "  port: 6000\n"
        "  max_message_mb: 8\n"
        "  default_model: dev\n"
        "  allow_request_credentials: true\n"
    )
    assert settings.default_model == "dev"
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 6000
    assert settings.server.max_message_bytes == 8 * 1024 * 1024
    assert settings.server.allow_request_credentials is True


def test_the_server_section_is_used_as_validated_frozen() -> None:
    settings = parse_settings("server_settings: {stream_chunk_kb: 64, http_port: null}")
    assert isinstance(settings.server, ServerSettings)
    assert settings.server.stream_chunk_bytes == 64 * 1024
    assert settings.server.http_port is None
    with pytest.raises(ValidationError):
        settings.server.port = 1  # type: ignore[misc]
    # One schema: every key the file accepts is a field of the settings the server reads.
    with pytest.raises(ConfigError, match=r"server_settings\.max_message_bytes"):
        parse_settings("server_settings: {max_message_bytes: 1}")


def test_settings_from_a_mapping_are_those_from_its_yaml() -> None:
    document: dict[str, Any] = {
        "model_list": [
            {"model_name": "img", "litellm_params": {"model": "local/placeholder", "rpm": 5}}
        ],
        "router_settings": {"num_retries": 2},
        "server_settings": {"default_model": "img"},
    }
    from_mapping = settings_from_mapping(document, source="mapping")
    assert from_mapping == parse_settings(yaml.safe_dump(document), source="mapping")
    assert from_mapping.deployments[0].rpm == 5
    with pytest.raises(ConfigError, match=r"^Router\(\.\.\.\): model_list\[0\]"):
        settings_from_mapping({"model_list": [{"model_name": "x"}]}, source="Router(...)")


# ---------------------------------------------------------------- os.environ/ references


def test_environment_references_are_resolved_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IG_KEY", "sk-resolved-key")
    monkeypatch.setenv("IG_BASE", "https://images.example.com/v1")
    monkeypatch.setenv("IG_BACKGROUND", "transparent")
    monkeypatch.setenv("IG_ORG", "org-123")
    monkeypatch.setenv("IG_TIMEOUT", "42")
    monkeypatch.setenv("IG_PORT", "7001")
    settings = parse_settings(
        "model_list:\n"
        "  - model_name: img\n"
        "    litellm_params:\n"
        "      model: openai/gpt-image-1\n"
        "      api_key: os.environ/IG_KEY\n"
        "      api_base: os.environ/IG_BASE\n"
        "      organization: os.environ/IG_ORG\n"
        "      background: os.environ/IG_BACKGROUND\n"
        "litellm_settings:\n"
        "  request_timeout: os.environ/IG_TIMEOUT\n"
        "server_settings:\n"
        "  port: os.environ/IG_PORT\n"
    )
    (deployment,) = settings.deployments
    assert deployment.endpoint.api_key == "sk-resolved-key"
    assert deployment.endpoint.api_base == "https://images.example.com/v1"
    assert deployment.endpoint.options == {"organization": "org-123"}
    assert deployment.provider_params == {"background": "transparent"}
    assert settings.request_timeout == 42
    assert settings.server.port == 7001


def test_missing_environment_variable_names_variable_and_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IG_MISSING_KEY", raising=False)
    message = config_error(
        "model_list:\n"
        "  - model_name: ok\n"
        "    litellm_params: {model: local/placeholder}\n"
        "  - model_name: img\n"
        "    litellm_params:\n"
        "      model: openai/gpt-image-1\n"
        "      api_key: os.environ/IG_MISSING_KEY\n"
    )
    assert message == (
        "bad.yaml: model_list[1].litellm_params.api_key: "
        "environment variable IG_MISSING_KEY is not set"
    )


def test_secrets_stay_out_of_the_settings_repr(keys: None) -> None:
    settings = parse_settings(LITELLM_CONFIG)
    text = repr(settings)
    assert "sk-openai-from-env" not in text
    assert "azure-from-env" not in text


# ---------------------------------------------------------------- errors: file, key, problem


def test_bad_yaml_reports_the_line_and_the_problem() -> None:
    message = config_error("server_settings:\n  port: 50051\n  host: a: b\n")
    assert message == "bad.yaml: not valid YAML at line 3: mapping values are not allowed here"


def test_top_level_must_be_a_mapping() -> None:
    assert config_error("- a\n- b\n") == "bad.yaml: the top level must be a mapping"


@pytest.mark.parametrize("model", ["gpt-image-1", "openai/", "dalle/dall-e-3"])
def test_model_needs_a_known_provider_prefix(model: str) -> None:
    message = config_error(
        f"model_list:\n  - model_name: a\n    litellm_params:\n      model: {model}\n"
    )
    assert message.startswith(f"bad.yaml: model_list[0].litellm_params.model: {model!r} must be")
    assert ", ".join(sorted(Providers.discover())) in message


def test_params_alias_is_named_in_errors() -> None:
    message = config_error("model_list:\n  - model_name: a\n    params:\n      model: nope/x\n")
    assert message.startswith("bad.yaml: model_list[0].params.model: 'nope/x'")


def test_negative_request_timeout() -> None:
    message = config_error("litellm_settings:\n  request_timeout: -5\n")
    assert message.startswith("bad.yaml: litellm_settings.request_timeout: ")
    assert "greater than 0" in message


def test_negative_deployment_timeout() -> None:
    message = config_error(
        "model_list:\n"
        "  - model_name: a\n"
        "    litellm_params:\n"
        "      model: local/placeholder\n"
        "      timeout: -1\n"
    )
    assert message.startswith("bad.yaml: model_list[0].litellm_params.timeout: ")
    assert "greater than 0" in message


def test_unknown_server_settings_key() -> None:
    message = config_error("server_settings:\n  prot: 50051\n")
    assert message.startswith("bad.yaml: server_settings.prot: ")
    assert "not permitted" in message


def test_unknown_key_in_a_model_entry() -> None:
    message = config_error(
        "model_list:\n"
        "  - model_name: a\n"
        "    litellm_params: {model: local/placeholder}\n"
        "    modelinfo: {}\n"
    )
    assert message.startswith("bad.yaml: model_list[0].modelinfo: ")


def test_wrong_type_names_the_key() -> None:
    message = config_error("litellm_settings:\n  drop_params: sometimes\n")
    assert message.startswith("bad.yaml: litellm_settings.drop_params: ")
    assert "bool" in message


def test_a_model_group_needs_distinct_deployments() -> None:
    # Several deployments may share a model_name (a router group), but two identical ones
    # would share one id, and with it their cooldowns and rate counters.
    message = config_error(
        "model_list:\n"
        "  - model_name: img\n"
        "    litellm_params: {model: local/placeholder}\n"
        "  - model_name: img\n"
        "    litellm_params: {model: local/placeholder}\n"
    )
    assert message.startswith("bad.yaml: two deployments have the id ")


def test_default_model_must_be_listed() -> None:
    message = config_error(
        "model_list:\n"
        "  - model_name: img\n"
        "    litellm_params: {model: local/placeholder}\n"
        "server_settings:\n"
        "  default_model: other\n"
    )
    assert message == "bad.yaml: server_settings.default_model 'other' is not in model_list"


def test_provider_requirements_are_checked_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    message = config_error(
        "model_list:\n  - model_name: img\n    litellm_params:\n      model: openai/gpt-image-1\n"
    )
    assert message.startswith("bad.yaml: model_list[0]: ")
    assert "OPENAI_API_KEY" in message


def test_load_settings_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model_list:\n  - model_name: dev\n    params: {model: local/placeholder}\n")
    settings = load_settings(path)
    assert settings.source == str(path)
    assert [d.model_name for d in settings.deployments] == ["dev"]


def test_load_settings_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server_settings:\n  port: 99999\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: server_settings.port: ")


def test_load_settings_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == f"{path}: cannot read the config file (No such file or directory)"


# ---------------------------------------------------------------- model ids and extra keys


def _openai_entry(api_key: str, api_base: str = "https://api.example.com/v1") -> str:
    return (
        "model_list:\n"
        "  - model_name: img\n"
        "    litellm_params:\n"
        "      model: openai/gpt-image-1\n"
        f"      api_key: {api_key}\n"
        f"      api_base: {api_base}\n"
    )


def test_derived_model_id_is_stable_and_keeps_the_key_out() -> None:
    first = parse_settings(_openai_entry("sk-first-secret-key")).deployments[0].model_id
    again = parse_settings(_openai_entry("sk-first-secret-key")).deployments[0].model_id
    rotated = parse_settings(_openai_entry("sk-rotated-secret")).deployments[0].model_id
    elsewhere = parse_settings(_openai_entry("sk-first-secret-key", "https://other.example.com"))
    assert first == again
    # A rotated key is the same deployment: cost and routing history stay attached to it.
    assert first == rotated
    assert elsewhere.deployments[0].model_id != first
    assert "sk-first" not in first
    assert "secret" not in first
    assert len(first) == 16


def test_router_keys_become_deployment_fields(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="imagegen.config"):
        settings = parse_settings(
            "model_list:\n"
            "  - model_name: dev\n"
            "    litellm_params:\n"
            "      model: local/placeholder\n"
            "      rpm: 100\n"
            "      ipm: 40\n"
            "      weight: 3\n"
            "      order: 2\n"
            "      max_parallel_requests: 5\n",
            source="c.yaml",
        )
    (deployment,) = settings.deployments
    assert (deployment.rpm, deployment.ipm, deployment.weight) == (100, 40, 3.0)
    assert (deployment.order, deployment.max_parallel_requests) == (2, 5)
    assert deployment.provider_params == {}
    assert caplog.records == []


@pytest.mark.parametrize(("key", "hint"), [("num_retries", "router_settings.num_retries")])
def test_per_deployment_router_keys_without_an_equivalent_are_refused(key: str, hint: str) -> None:
    message = config_error(
        f"model_list:\n  - model_name: dev\n    litellm_params:\n"
        f"      model: local/placeholder\n      {key}: 3\n",
        source="c.yaml",
    )
    assert message.startswith(f"c.yaml: model_list[0].litellm_params.{key}: not supported")
    assert hint in message


def test_bad_router_values_name_the_key() -> None:
    entry = (
        "model_list:\n  - model_name: dev\n    litellm_params:\n      model: local/placeholder\n"
    )
    message = config_error(entry + "      rpm: -1\n")
    assert message == "bad.yaml: model_list[0].litellm_params.rpm: must be a non-negative integer"
    message = config_error(entry + "      weight: 0\n")
    assert message == "bad.yaml: model_list[0].litellm_params.weight: must be a positive number"
    message = config_error(entry + "router_settings:\n  routing_strategy: fastest\n")
    assert message.startswith("bad.yaml: router_settings.routing_strategy: ")
    message = config_error(
        entry + "router_settings:\n  retry_policy: {BadRequestErrorRetries: 2}\n"
    )
    assert "unknown key 'BadRequestErrorRetries'" in message
    message = config_error(entry + "router_settings:\n  fallbacks: [{dev: [nowhere]}]\n")
    assert message == "bad.yaml: router_settings.fallbacks: 'nowhere' is not in model_list"


def test_router_settings_are_parsed() -> None:
    settings = parse_settings(
        "model_list:\n"
        "  - model_name: a\n"
        "    litellm_params: {model: local/placeholder}\n"
        "  - model_name: b\n"
        "    litellm_params: {model: local/placeholder}\n"
        "router_settings:\n"
        "  routing_strategy: least-busy\n"
        "  num_retries: 2\n"
        "  retry_policy: {RateLimitErrorRetries: 4}\n"
        "  allowed_fails: 1\n"
        "  cooldown_time: 30\n"
        "  fallbacks: [{a: [b]}]\n"
        "  content_policy_fallbacks: {a: [b]}\n"
        "  default_fallbacks: [b]\n"
        "  redis_host: 127.0.0.1\n"
        "  redis_port: 6380\n"
        "  fan_out_on_failure: partial\n"
    )
    router = settings.router
    assert router.routing_strategy == "least-busy"
    assert (router.num_retries, router.allowed_fails, router.cooldown_time) == (2, 1, 30.0)
    assert router.retry_policy == {"RateLimitErrorRetries": 4}
    assert router.fallbacks == {"a": ("b",)}
    assert router.content_policy_fallbacks == {"a": ("b",)}
    assert router.default_fallbacks == ("b",)
    assert router.redis_url == "redis://127.0.0.1:6380/0"
    assert router.fan_out_on_failure == "partial"
    assert [d.model_name for d in settings.group("a")] == ["a"]
    assert settings.model_names() == ["a", "b"]


def test_endpoint_options_and_provider_params_are_told_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_API_KEY", raising=False)
    settings = parse_settings(
        "model_list:\n"
        "  - model_name: img\n"
        "    litellm_params:\n"
        "      model: openai/gpt-image-1\n"
        "      api_key: sk-x\n"
        "      organization: org-abc\n"
        "      background: transparent\n"
        "      output_compression: 80\n"
        "  - model_name: az\n"
        "    litellm_params:\n"
        "      model: azure/gpt-image-1\n"
        "      api_base: https://example-resource.openai.azure.com\n"
        "      api_version: 2025-04-01-preview\n"
        "      azure_ad_token: entra-token\n"
        "      quality_hint: fast\n"
    )
    openai, azure = settings.deployments
    assert openai.endpoint.options == {"organization": "org-abc"}
    assert openai.provider_params == {"background": "transparent", "output_compression": 80}
    assert azure.endpoint.options == {"azure_ad_token": "entra-token"}
    assert azure.endpoint.api_key is None
    assert azure.provider_params == {"quality_hint": "fast"}


# ---------------------------------------------------------------- `imagegen serve --config`


def test_serve_with_a_bad_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server_settings:\n  prot: 1\n")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"imagegen: config error: {path}: server_settings.prot: " in err


def test_serve_with_a_bad_config_exits_2_as_a_command(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "model_list:\n  - model_name: img\n    litellm_params:\n      model: dall-e-3\n"
    )
    command = Path(sys.executable).with_name("imagegen")
    done = subprocess.run(
        [str(command), "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert (
        f"imagegen: config error: {path}: model_list[0].litellm_params.model: 'dall-e-3' "
        "must be provider/model" in done.stderr
    )
    assert done.stdout == ""


def test_serve_with_a_missing_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.yaml"
    assert main(["serve", "--config", str(path)]) == 2
    assert f"{path}: cannot read the config file" in capsys.readouterr().err
