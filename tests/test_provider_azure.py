"""The Azure OpenAI adapter through the in-process Gateway against the Azure fake.

Both routes (deployment + dated api-version, and the v1 route), both kinds of auth, rules and
prices taken from `base_model`, Azure's narrower enums, and error mapping.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest
import yaml
from PIL import Image

from imagegen.config import parse_settings
from imagegen.deadline import Deadline
from imagegen.errors import (
    CallerCredentialRejectedError,
    Code,
    ConfigError,
    ContentPolicyViolationError,
    ImageGenError,
    InvalidRequestError,
    ProviderAuthenticationError,
    ProviderBadResponseError,
    ProviderModelNotFoundError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    UnsupportedParameterError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.providers.azure import AzureProvider
from imagegen.providers.base import CallParams, Endpoint, ProviderCall
from imagegen.providers.openai_models import azure_spec
from imagegen.types import GeneratedImage, ImageRequest, ResponseFormat
from tests.conftest import GatewayFactory
from tests.fakes.azure import AzureFake

KEY = "azure-test-key"
ENTRA = "entra-test-token"
DATED = "2025-04-01-preview"
MILLION = Decimal(1_000_000)
OUTPUT_FORMAT = "provider_params.output_format"
_DEFAULT = object()


def entry(
    name: str,
    api_base: str,
    *,
    deployment: str | None = None,
    api_key: Any = KEY,
    api_version: Any = DATED,
    model_info: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One model_list entry for an Azure deployment; None leaves a setting out."""
    litellm_params: dict[str, Any] = {"model": f"azure/{deployment or name}", "api_base": api_base}
    if api_key is not None:
        litellm_params["api_key"] = api_key
    if api_version is not None:
        litellm_params["api_version"] = api_version
    litellm_params.update(params)
    item: dict[str, Any] = {"model_name": name, "litellm_params": litellm_params}
    if model_info is not None:
        item["model_info"] = model_info
    return item


def config(entries: Iterable[dict[str, Any]], **sections: Any) -> str:
    return yaml.safe_dump({"model_list": list(entries), **sections})


@pytest.fixture
def gateway(azure_fake: AzureFake, gateway_for: GatewayFactory) -> Gateway:
    """The fake's two default deployments on the dated deployment route."""
    return gateway_for(
        config(
            [
                entry("dall-e-3", azure_fake.base_url, deployment="dalle3"),
                entry("gpt-image-1", azure_fake.base_url),
            ]
        )
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(**fields))


async def rejected(gateway: Gateway, error: type[ImageGenError], **fields: Any) -> ImageGenError:
    """The error `gateway` raises for the request; its class must be exactly `error`."""
    with pytest.raises(ImageGenError) as info:
        await generate(gateway, **fields)
    assert type(info.value) is error, repr(info.value)
    return info.value


def field_of(error: ImageGenError) -> str:
    (violation,) = error.field_violations
    assert error.metadata["field"] == violation.field
    return violation.field


def pillow(image: GeneratedImage) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(image.data())) as decoded:
        decoded.load()
        return decoded.format, decoded.size


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- deployment route


async def test_deployment_route_dall_e_3_url_query_key_header_and_no_model_in_body(
    azure_fake: AzureFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="dall-e-3",
        prompt="a harbour at night",
        size="1024x1792",
        quality="hd",
        style="natural",
        response_format="b64_json",
    )

    (sent,) = azure_fake.requests
    assert sent.method == "POST"
    assert sent.path == "/openai/deployments/dalle3/images/generations"
    assert sent.query == {"api-version": DATED}
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.json == {
        "prompt": "a harbour at night",
        "n": 1,
        "quality": "hd",
        "size": "1024x1792",
        "style": "natural",
        "response_format": "b64_json",
    }

    (image,) = generation.result.images
    assert pillow(image) == ("PNG", (1024, 1792))
    assert image.mime_type == "image/png"
    assert image.revised_prompt == (
        "a harbour at night. Rendered in a natural style, richly detailed."
    )
    assert generation.result.headers["x-ms-deployment-name"] == "dalle3"
    facts = generation.facts
    assert facts.provider == "azure"
    assert facts.provider_model == "dalle3"
    assert facts.api_base == azure_fake.base_url
    # Azure's own DALL·E 3 price, not OpenAI's 0.12.
    assert facts.response_cost == Decimal("0.132")


@pytest.mark.parametrize(
    ("quality", "size", "price"),
    [
        (None, "1024x1024", "0.044"),
        ("standard", "1792x1024", "0.088"),
        ("hd", "1024x1024", "0.088"),
        ("hd", "1792x1024", "0.132"),
    ],
)
async def test_azure_dall_e_3_is_priced_from_the_azure_rows(
    gateway: Gateway, quality: str | None, size: str, price: str
) -> None:
    fields: dict[str, Any] = {"size": size, "response_format": "b64_json"}
    if quality is not None:
        fields["quality"] = quality
    generation = await generate(gateway, model="dall-e-3", prompt="x", **fields)
    assert generation.facts.response_cost == Decimal(price)


async def test_deployment_route_dall_e_3_url_images(
    azure_fake: AzureFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="dall-e-3", prompt="a fox", response_format="url")
    assert azure_fake.requests[-1].json["response_format"] == "url"
    (image,) = generation.result.images
    assert image.url is not None
    assert image.url.startswith("https://dalleprodsec.blob.core.windows.net/private/images/")
    assert image.revised_prompt is not None


async def test_deployment_route_gpt_image_1_usage_and_token_cost(
    azure_fake: AzureFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="gpt-image-1",
        prompt="one two three four",
        size="1024x1536",
        quality="low",
        provider_params={"output_format": "jpeg", "output_compression": 70},
    )
    sent = azure_fake.requests[-1]
    assert sent.path == "/openai/deployments/gpt-image-1/images/generations"
    assert sent.json == {
        "prompt": "one two three four",
        "n": 1,
        "quality": "low",
        "size": "1024x1536",
        "output_format": "jpeg",
        "output_compression": 70,
    }
    (image,) = generation.result.images
    assert image.mime_type == "image/jpeg"
    assert pillow(image) == ("JPEG", (1024, 1536))
    usage = generation.result.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (4, 408)
    assert generation.facts.response_cost == (4 * Decimal(5) + 408 * Decimal(40)) / MILLION


@pytest.mark.parametrize("suffix", ["/", "/openai", "/openai/"])
async def test_api_base_with_an_openai_suffix_reaches_the_same_route(
    azure_fake: AzureFake, gateway_for: GatewayFactory, suffix: str
) -> None:
    gateway = gateway_for(
        config([entry("painter", azure_fake.base_url + suffix, deployment="dalle3")])
    )
    generation = await generate(gateway, model="painter", prompt="x")
    assert azure_fake.requests[-1].path == "/openai/deployments/dalle3/images/generations"
    assert generation.facts.api_base == azure_fake.base_url


async def test_request_api_version_replaces_the_configured_one(
    azure_fake: AzureFake, gateway: Gateway
) -> None:
    await generate(gateway, model="gpt-image-1", prompt="x", api_version="2024-10-21")
    assert azure_fake.requests[-1].query == {"api-version": "2024-10-21"}
    assert azure_fake.requests[-1].headers["api-key"] == KEY


async def test_api_version_from_the_environment(
    azure_fake: AzureFake, gateway_for: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    gateway = gateway_for(config([entry("gpt-image-1", azure_fake.base_url, api_version=None)]))
    await generate(gateway, model="gpt-image-1", prompt="x")
    assert azure_fake.requests[-1].query == {"api-version": "2024-10-21"}


# --------------------------------------------------------------------------- v1 route


async def test_v1_route_sends_the_deployment_name_as_model_and_no_api_version(
    azure_fake: AzureFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("images", azure_fake.base_url, deployment="gpt-image-1", api_version="v1")])
    )
    generation = await generate(gateway, model="images", prompt="a lamp", n=2)

    sent = azure_fake.requests[-1]
    assert sent.path == "/openai/v1/images/generations"
    assert sent.query == {}
    assert sent.headers["api-key"] == KEY
    assert sent.json == {"prompt": "a lamp", "model": "gpt-image-1", "n": 2}
    assert len(generation.result.images) == 2
    assert all(pillow(image) == ("PNG", (1024, 1024)) for image in generation.result.images)
    assert generation.facts.response_cost is not None
    assert generation.facts.response_cost > 0


@pytest.mark.parametrize(
    ("api_base_suffix", "api_version", "query"),
    [
        ("", "preview", {"api-version": "preview"}),
        ("", "latest", {"api-version": "latest"}),
        ("/openai/v1", None, {}),
        ("/openai/v1/", DATED, {"api-version": DATED}),
    ],
)
async def test_v1_route_variants(
    azure_fake: AzureFake,
    gateway_for: GatewayFactory,
    api_base_suffix: str,
    api_version: str | None,
    query: dict[str, str],
) -> None:
    gateway = gateway_for(
        config(
            [
                entry(
                    "painter",
                    azure_fake.base_url + api_base_suffix,
                    deployment="dalle3",
                    api_version=api_version,
                )
            ]
        )
    )
    await generate(gateway, model="painter", prompt="x", response_format="b64_json")
    sent = azure_fake.requests[-1]
    assert sent.path == "/openai/v1/images/generations"
    assert sent.query == query
    assert sent.json["model"] == "dalle3"


async def test_v1_route_provider_params_cannot_reroute_to_another_deployment(
    azure_fake: AzureFake, gateway_for: GatewayFactory
) -> None:
    # The v1 route routes by the body's model; an unknown deployment passes params through.
    gateway = gateway_for(
        config([entry("painter", azure_fake.base_url, deployment="sketcher", api_version="v1")])
    )
    error = await rejected(
        gateway,
        InvalidRequestError,
        model="painter",
        prompt="x",
        provider_params={"model": "dalle3"},
    )
    assert field_of(error) == "provider_params.model"
    assert azure_fake.requests == []


# --------------------------------------------------------------------------- auth


async def test_entra_token_is_sent_as_bearer_instead_of_api_key(
    azure_fake: AzureFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("gpt-image-1", azure_fake.base_url, api_key=None, azure_ad_token=ENTRA)])
    )
    generation = await generate(gateway, model="gpt-image-1", prompt="x")
    sent = azure_fake.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {ENTRA}"
    assert "api-key" not in sent.headers
    # The token configures the endpoint; it is not a request field.
    assert "azure_ad_token" not in sent.json
    assert len(generation.result.images) == 1


async def test_rejected_entra_token_is_an_operator_problem(
    azure_fake: AzureFake, gateway_for: GatewayFactory
) -> None:
    token = "expired-entra-token-abcdefghijklmnop"
    gateway = gateway_for(
        config([entry("gpt-image-1", azure_fake.base_url, api_key=None, azure_ad_token=token)])
    )
    error = await rejected(gateway, ProviderAuthenticationError, model="gpt-image-1", prompt="x")
    assert error.code is Code.FAILED_PRECONDITION
    assert token not in str(error)


async def test_rejected_configured_key_is_an_operator_problem_and_never_echoed(
    azure_fake: AzureFake, gateway_for: GatewayFactory
) -> None:
    wrong = "0123456789abcdef0123456789abcdef"
    gateway = gateway_for(config([entry("gpt-image-1", azure_fake.base_url, api_key=wrong)]))
    error = await rejected(gateway, ProviderAuthenticationError, model="gpt-image-1", prompt="x")
    assert error.reason == "PROVIDER_AUTHENTICATION_FAILED"
    assert error.code is Code.FAILED_PRECONDITION
    assert azure_fake.requests[-1].headers["api-key"] == wrong
    assert wrong not in str(error)
    assert wrong not in repr(error.metadata)
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_rejected_caller_key_is_unauthenticated(
    azure_fake: AzureFake, gateway: Gateway
) -> None:
    caller_key = "caller-key-0000000000000000000000"
    error = await rejected(
        gateway, CallerCredentialRejectedError, model="gpt-image-1", prompt="x", api_key=caller_key
    )
    assert error.reason == "PROVIDER_CREDENTIAL_REJECTED"
    assert error.code is Code.UNAUTHENTICATED
    assert azure_fake.requests[-1].headers["api-key"] == caller_key
    assert caller_key not in str(error)


# --------------------------------------------------------------------------- base_model


@pytest.mark.parametrize("where", ["model_info", "litellm_params"])
async def test_base_model_gives_an_arbitrary_deployment_its_rules_and_price(
    gateway_for: GatewayFactory, where: str
) -> None:
    async with AzureFake(deployments={"team-painter": "dall-e-3"}) as fake:
        where_given: dict[str, Any] = (
            {"model_info": {"base_model": "dall-e-3"}}
            if where == "model_info"
            else {"base_model": "dall-e-3"}
        )
        item = entry("painter", fake.base_url, deployment="team-painter", **where_given)
        gateway = gateway_for(config([item]))

        generation = await generate(
            gateway, model="painter", prompt="x", style="vivid", response_format="b64_json"
        )
        assert fake.requests[-1].path == "/openai/deployments/team-painter/images/generations"
        # base_model is a gateway setting, never a request field.
        assert "base_model" not in fake.requests[-1].json
        assert fake.requests[-1].json["style"] == "vivid"
        assert generation.facts.response_cost == Decimal("0.044")

        error = await rejected(gateway, InvalidRequestError, model="painter", prompt="x", n=2)
        assert field_of(error) == "n"
        assert len(fake.requests) == 1


async def test_arbitrary_deployment_without_base_model_has_unknown_cost(
    gateway_for: GatewayFactory,
) -> None:
    async with AzureFake(deployments={"team-painter": "dall-e-3"}) as fake:
        gateway = gateway_for(config([entry("painter", fake.base_url, deployment="team-painter")]))
        generation = await generate(gateway, model="painter", prompt="x")
    assert len(generation.result.images) == 1
    # Never a silent $0: the gateway cannot tell what this deployment is.
    assert generation.facts.response_cost is None
    assert generation.facts.response_cost_text == "unknown"


async def test_base_model_gpt_image_deployment_is_token_priced(
    gateway_for: GatewayFactory,
) -> None:
    async with AzureFake(deployments={"prod-img": "gpt-image-1"}) as fake:
        gateway = gateway_for(
            config(
                [
                    entry(
                        "prod",
                        fake.base_url,
                        deployment="prod-img",
                        model_info={"base_model": "gpt-image-1"},
                    )
                ]
            )
        )
        generation = await generate(gateway, model="prod", prompt="a b", quality="high")
        await rejected(
            gateway, UnsupportedParameterError, model="prod", prompt="x", response_format="url"
        )
        assert len(fake.requests) == 1
    assert generation.facts.response_cost == (2 * Decimal(5) + 4160 * Decimal(40)) / MILLION


# --------------------------------------------------------------------------- narrower enums


@pytest.mark.parametrize(
    ("model", "fields", "field", "says"),
    [
        ("gpt-image-1", {"provider_params": {"output_format": "webp"}}, OUTPUT_FORMAT, "png, jpeg"),
        ("dall-e-3", {"size": "256x256"}, "size", "1024x1024"),
        ("dall-e-3", {"size": "512x512"}, "size", "1024x1024"),
        ("dall-e-2", {"size": "256x256"}, "size", "1024x1024"),
        ("dall-e-2", {"size": "512x512"}, "size", "1024x1024"),
    ],
)
async def test_azure_narrower_enums_are_rejected_before_calling(
    gateway_for: GatewayFactory,
    model: str,
    fields: dict[str, Any],
    field: str,
    says: str,
) -> None:
    async with AzureFake(deployments={"dep": model}) as fake:
        gateway = gateway_for(
            config([entry("m", fake.base_url, deployment="dep", model_info={"base_model": model})])
        )
        error = await rejected(gateway, InvalidRequestError, model="m", prompt="x", **fields)
        assert fake.requests == []
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == field
    assert says in error.message


def test_azure_spec_keeps_openai_rules_minus_small_sizes_and_webp() -> None:
    dall_e_2 = azure_spec("dall-e-2")
    assert dall_e_2.sizes == ("1024x1024",)
    gpt = azure_spec("gpt-image-1")
    assert gpt.provider_params is not None
    assert gpt.provider_params["output_format"].choices == ("png", "jpeg")
    # Dashless deployment names still find their model.
    assert azure_spec("gptimage1mini").family == "gpt-image-1-mini"
    assert azure_spec("dalle3").family == "dall-e-3"
    assert not azure_spec("team-painter").known


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("drop", "says"),
    [
        ("api_version", "api_version"),
        ("api_base", "api_base"),
        ("api_key", "api_key"),
    ],
)
def test_incomplete_deployment_route_fails_at_config_load(drop: str, says: str) -> None:
    litellm_params = {
        "model": "azure/dalle3",
        "api_base": "http://127.0.0.1:1",
        "api_key": KEY,
        "api_version": DATED,
    }
    del litellm_params[drop]
    text = config([{"model_name": "dall-e-3", "litellm_params": litellm_params}])
    with pytest.raises(ConfigError) as info:
        parse_settings(text, source="azure.yaml")
    message = str(info.value)
    # The adapter's ProviderNotConfiguredError, wrapped with the file and the entry.
    assert message.startswith("azure.yaml: model_list[0]: PROVIDER_NOT_CONFIGURED: azure/dalle3")
    assert says in message
    assert KEY not in message


def test_v1_route_needs_no_api_version_at_config_load() -> None:
    text = config([entry("x", "http://127.0.0.1:1/openai/v1", api_version=None)])
    (deployment,) = parse_settings(text).deployments
    assert deployment.endpoint.api_version is None


# --------------------------------------------------------------------------- errors


async def test_safety_refusal_is_a_content_policy_violation(
    azure_fake: AzureFake, gateway: Gateway
) -> None:
    for model in ("dall-e-3", "gpt-image-1"):
        error = await rejected(
            gateway, ContentPolicyViolationError, model=model, prompt="a forbidden thing"
        )
        assert error.reason == "CONTENT_POLICY_VIOLATION"
        assert error.code is Code.INVALID_ARGUMENT
        assert error.metadata["provider"] == "azure"
        assert error.metadata["upstream_status"] == "400"
        assert error.facts is not None
        assert error.facts.response_cost == 0


async def test_inner_error_alone_marks_a_refusal(azure_fake: AzureFake, gateway: Gateway) -> None:
    # Chat-style filter bodies use other codes and spell it `innererror`.
    azure_fake.fail_next(
        400,
        {
            "error": {
                "code": "content_filter",
                "message": "The response was filtered.",
                "innererror": {"code": "ResponsibleAIPolicyViolation"},
            }
        },
    )
    error = await rejected(gateway, ContentPolicyViolationError, model="gpt-image-1", prompt="x")
    assert error.metadata["upstream_code"] == "content_filter"


async def test_rate_limit_carries_retry_after(azure_fake: AzureFake, gateway: Gateway) -> None:
    error = await rejected(
        gateway, ProviderRateLimitedError, model="gpt-image-1", prompt="ratelimit"
    )
    assert error.reason == "PROVIDER_RATE_LIMITED"
    assert error.code is Code.UNAVAILABLE
    assert error.retry_after == 7
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_retry_after_ms_is_preferred(azure_fake: AzureFake, gateway: Gateway) -> None:
    azure_fake.fail_next(
        429,
        {"error": {"code": "429", "message": "slow down"}},
        headers={"retry-after": "2", "retry-after-ms": "1500"},
    )
    error = await rejected(gateway, ProviderRateLimitedError, model="gpt-image-1", prompt="x")
    assert error.retry_after == 1.5


async def test_unknown_deployment_is_provider_model_not_found(
    azure_fake: AzureFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config([entry("ghost", azure_fake.base_url)]))
    error = await rejected(gateway, ProviderModelNotFoundError, model="ghost", prompt="x")
    assert error.reason == "PROVIDER_MODEL_NOT_FOUND"
    assert error.code is Code.NOT_FOUND
    assert error.metadata["upstream_code"] == "DeploymentNotFound"
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_server_error_is_provider_unavailable(
    azure_fake: AzureFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ProviderUnavailableError, model="dall-e-3", prompt="servererror"
    )
    assert error.reason == "PROVIDER_UNAVAILABLE"
    assert error.metadata["upstream_status"] == "500"
    assert error.facts is not None
    assert error.facts.response_cost == 0


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        {"created": 1, "data": []},
        {"created": 1, "data": [{"b64_json": "%%%"}]},
    ],
)
async def test_unusable_success_answer_is_a_bad_response_of_unknown_cost(
    azure_fake: AzureFake, gateway: Gateway, body: dict[str, Any] | str
) -> None:
    azure_fake.fail_next(200, body)
    error = await rejected(gateway, ProviderBadResponseError, model="gpt-image-1", prompt="x")
    assert error.reason == "PROVIDER_BAD_RESPONSE"
    assert error.facts is not None
    assert error.facts.response_cost is None


async def test_connection_refused_is_provider_unavailable(gateway_for: GatewayFactory) -> None:
    gateway = gateway_for(config([entry("gpt-image-1", f"http://127.0.0.1:{closed_port()}")]))
    error = await rejected(gateway, ProviderUnavailableError, model="gpt-image-1", prompt="x")
    assert error.metadata["provider"] == "azure"


# --------------------------------------------------------------------------- pure transforms


def provider_call(
    deployment: str, endpoint: Endpoint, base_model: str | None = None
) -> ProviderCall:
    return ProviderCall(
        provider_model=deployment,
        spec=azure_spec(base_model or deployment),
        params=CallParams(
            n=1,
            quality="standard",
            size="1024x1024",
            style=None,
            user=None,
            response_format=ResponseFormat.B64_JSON,
            extra={},
        ),
        prompt="a red fox",
        endpoint=endpoint,
        deadline=Deadline.after(60),
    )


def test_build_request_deployment_route_quotes_the_deployment_name() -> None:
    endpoint = Endpoint(api_base="https://res.openai.azure.com/", api_key="k", api_version=DATED)
    request = AzureProvider().build_request(provider_call("my dep/1", endpoint, "dall-e-3"))
    assert request.url == (
        "https://res.openai.azure.com/openai/deployments/my%20dep%2F1/images/generations"
        f"?api-version={DATED}"
    )
    assert dict(request.headers) == {"api-key": "k"}
    assert dict(request.json) == {
        "prompt": "a red fox",
        "n": 1,
        "quality": "standard",
        "size": "1024x1024",
        "response_format": "b64_json",
    }


def test_build_request_v1_route_with_entra_token() -> None:
    endpoint = Endpoint(
        api_base="https://res.openai.azure.com/openai/v1",
        options={"azure_ad_token": "tok"},
    )
    request = AzureProvider().build_request(provider_call("dalle3", endpoint))
    assert request.url == "https://res.openai.azure.com/openai/v1/images/generations"
    assert dict(request.headers) == {"authorization": "Bearer tok"}
    assert request.json["model"] == "dalle3"


@pytest.mark.parametrize(
    ("deployment", "family"),
    [
        ("gpt-image-1-5", "gpt-image-1.5"),
        ("gptimage15", "gpt-image-1.5"),
        ("gpt-image-1-mini-eu", "gpt-image-1-mini"),
        ("gpt-image-1", "gpt-image-1"),
        ("dalle3", "dall-e-3"),
        ("my-images", "openai-compatible"),
    ],
)
def test_deployment_names_without_base_model_resolve_to_their_family(
    deployment: str, family: str
) -> None:
    assert azure_spec(deployment).family == family
