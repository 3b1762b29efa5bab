"""LiteLLM's own config keys: model_group_alias, litellm_settings (num_retries, callbacks,
fallbacks) and environment_variables are honoured with LiteLLM's meaning, the rest refused
at start naming the key; through config parsing and through the running server."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.test_router_server import SERVER_ERROR, deployment, generate, outcomes


def document(*entries: dict[str, Any], **sections: Any) -> str:
    return yaml.safe_dump({"model_list": list(entries), **sections})


LOCAL = {"model_name": "dev", "litellm_params": {"model": "local/placeholder"}}


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, source="litellm.yaml")
    return str(caught.value)


# ------------------------------------------------------------------- model_group_alias


def test_an_alias_is_served_as_its_group_and_listed() -> None:
    settings = parse_settings(
        document(LOCAL, router_settings={"model_group_alias": {"gpt-4-img": "dev"}})
    )
    assert settings.group("gpt-4-img") == settings.group("dev")
    assert settings.model_names() == ["dev", "gpt-4-img"]
    assert settings.served_name("gpt-4-img") == "dev"


def test_a_hidden_alias_is_served_but_not_listed() -> None:
    alias = {"secret-name": {"model": "dev", "hidden": True}, "shown": {"model": "dev"}}
    settings = parse_settings(document(LOCAL, router_settings={"model_group_alias": alias}))
    assert settings.group("secret-name") == settings.group("dev")
    assert settings.model_names() == ["dev", "shown"]


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ({"x": "nope"}, "model_group_alias.x: 'nope' is not in model_list"),
        ({"dev": "dev"}, "'dev' is a model_name already"),
        ({"x": {"model": "dev", "hidden": "yes"}}, "x.hidden: must be true or false"),
        ({"x": {"model": "dev", "tier": 1}}, "x: unknown key(s) tier"),
        (["x"], "model_group_alias: must be a mapping"),
    ],
)
def test_a_bad_alias_is_refused_naming_it(alias: Any, message: str) -> None:
    assert message in refused(document(LOCAL, router_settings={"model_group_alias": alias}))


async def test_an_alias_is_served_and_listed_by_the_running_server(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        document(
            deployment(openai_fake, "a"),
            router_settings={
                "model_group_alias": {
                    "dall-e-3": "img",
                    "old-name": {"model": "img", "hidden": True},
                }
            },
        )
    )
    for name in ("dall-e-3", "old-name"):
        response, trailers = await generate(served, model=name)
        assert len(response.images) == 1
        assert trailers["x-imagegen-model-id"] == "a"
    listed = await served.stub.ListModels(pb.ListModelsRequest())
    names = [m.name for m in listed.models]
    assert names == ["img", "dall-e-3"]
    alias = listed.models[1]
    assert (alias.provider, alias.model_id) == ("openai", "a")


# ------------------------------------------------------------------- litellm_settings


def test_num_retries_and_fallbacks_are_the_routers() -> None:
    settings = parse_settings(
        document(
            LOCAL,
            {"model_name": "other", "litellm_params": {"model": "local/placeholder"}},
            litellm_settings={"num_retries": 3, "fallbacks": [{"dev": ["other"]}]},
        )
    )
    assert settings.router.num_retries == 3
    assert settings.router.fallbacks == {"dev": ("other",)}


def test_num_retries_given_twice_differently_is_refused() -> None:
    message = refused(
        document(LOCAL, litellm_settings={"num_retries": 3}, router_settings={"num_retries": 1})
    )
    assert "litellm_settings.num_retries: router_settings.num_retries says otherwise" in message


async def test_litellm_num_retries_retries_through_the_running_server(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    async with OpenAIFake() as second:
        served = await serve(
            document(
                deployment(openai_fake, "a", order=1),
                deployment(second, "b", order=2),
                litellm_settings={"num_retries": 1},
                router_settings={"retry_backoff_seconds": 0.01},
            )
        )
        openai_fake.fail_next(500, SERVER_ERROR)
        response, trailers = await generate(served)
    assert outcomes(response) == [("a", "PROVIDER_UNAVAILABLE"), ("b", "ok")]
    assert trailers["x-imagegen-attempts"] == "2"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("context_window_fallbacks", [{"dev": ["dev"]}], "not for images"),
        ("max_budget", 10, "keys budgets"),
        ("set_verbose", True, "log level"),
        ("some_future_flag", 1, "litellm_settings.some_future_flag: not supported"),
        ("callbacks", ["langfuse"], "callback 'langfuse' is not supported"),
        ("success_callback", ["otel", "datadog"], "callback 'datadog' is not supported"),
    ],
)
def test_unsupported_litellm_settings_are_refused(key: str, value: Any, message: str) -> None:
    text = refused(document(LOCAL, litellm_settings={key: value}))
    assert text.startswith("litellm.yaml: litellm_settings.")
    assert message in text


def test_an_unknown_section_is_refused() -> None:
    assert "section 'credential_list' is not supported" in refused(
        document(LOCAL, credential_list=[])
    )


# ------------------------------------------------------------------- callbacks: ["otel"]


def test_otel_takes_litellms_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ENDPOINT", "http://collector.local:4318/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER", "otlp_http")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    settings = parse_settings(document(LOCAL, litellm_settings={"callbacks": ["otel"]}))
    assert settings.telemetry.otlp_endpoint == "http://collector.local:4318"


def test_otel_keeps_an_endpoint_of_telemetry_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ENDPOINT", "http://elsewhere:4318")
    settings = parse_settings(
        document(
            LOCAL,
            litellm_settings={"callbacks": ["otel"]},
            telemetry_settings={"otlp_endpoint": "http://mine:4318"},
        )
    )
    assert settings.telemetry.otlp_endpoint == "http://mine:4318"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "needs an OTLP/HTTP endpoint"),
        ({"OTEL_ENDPOINT": "http://c:4318", "OTEL_EXPORTER": "console"}, "OTEL_EXPORTER='console'"),
        ({"OTEL_ENDPOINT": "http://c:4318", "OTEL_HEADERS": "k=v"}, "OTEL_EXPORTER_OTLP_HEADERS"),
    ],
)
def test_otel_without_a_usable_exporter_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name in (
        "OTEL_ENDPOINT",
        "OTEL_EXPORTER",
        "OTEL_HEADERS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert message in refused(document(LOCAL, litellm_settings={"callbacks": ["otel"]}))


# ------------------------------------------------------------------- environment_variables


def test_environment_variables_are_set_before_references_resolve(
    monkeypatch: pytest.MonkeyPatch, openai_fake: OpenAIFake
) -> None:
    monkeypatch.delenv("IMG_TEST_KEY", raising=False)
    monkeypatch.delenv("IMG_TEST_PORT", raising=False)
    entry = deployment(openai_fake, "a", api_key="os.environ/IMG_TEST_KEY")
    settings = parse_settings(
        document(
            entry, environment_variables={"IMG_TEST_KEY": "sk-from-section", "IMG_TEST_PORT": 7}
        )
    )
    assert settings.deployments[0].endpoint.api_key == "sk-from-section"
    assert os.environ["IMG_TEST_PORT"] == "7"


def test_the_process_environment_wins_over_the_section(
    monkeypatch: pytest.MonkeyPatch, openai_fake: OpenAIFake
) -> None:
    monkeypatch.setenv("IMG_TEST_KEY", "sk-from-process")
    entry = deployment(openai_fake, "a", api_key="os.environ/IMG_TEST_KEY")
    settings = parse_settings(
        document(entry, environment_variables={"IMG_TEST_KEY": "sk-from-section"})
    )
    assert settings.deployments[0].endpoint.api_key == "sk-from-process"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (["A=1"], "environment_variables: must be a mapping"),
        ({"A": {"nested": 1}}, "environment_variables.A: must be a string or a number"),
        ({"A": "os.environ/IMG_TEST_MISSING"}, "IMG_TEST_MISSING is not set"),
    ],
)
def test_bad_environment_variables_are_refused(
    monkeypatch: pytest.MonkeyPatch, section: Any, message: str
) -> None:
    monkeypatch.delenv("A", raising=False)
    monkeypatch.delenv("IMG_TEST_MISSING", raising=False)
    assert message in refused(document(LOCAL, environment_variables=section))
