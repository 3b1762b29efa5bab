"""The OpenAI adapter, model by model, driven through the in-process Gateway against the fake.

Each test checks both sides of the wire: what the fake received (path, headers, the exact JSON
body) and what the gateway handed back (decodable images, usage, cost, typed errors).
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import httpx
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
    ProviderInvalidRequestError,
    ProviderModelNotFoundError,
    ProviderPermissionDeniedError,
    ProviderQuotaExceededError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    UnsupportedParameterError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.providers.base import CallParams, Endpoint, ProviderCall
from imagegen.providers.openai import OpenAIProvider
from imagegen.providers.openai_models import OPENAI_MODELS, openai_spec
from imagegen.providers.transport import HttpResponse
from imagegen.types import GeneratedImage, ImageRequest, ResponseFormat
from tests.conftest import GatewayFactory
from tests.fakes.openai import OpenAIFake

KEY = "sk-test-openai"
MILLION = Decimal(1_000_000)


def entry(
    name: str,
    api_base: str,
    *,
    model: str | None = None,
    api_key: str = KEY,
    model_info: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One model_list entry for an OpenAI model served by `api_base`."""
    litellm_params = {
        "model": f"openai/{model or name}",
        "api_base": api_base,
        "api_key": api_key,
        **params,
    }
    item: dict[str, Any] = {"model_name": name, "litellm_params": litellm_params}
    if model_info is not None:
        item["model_info"] = model_info
    return item


def config(entries: Iterable[dict[str, Any]], **sections: Any) -> str:
    return yaml.safe_dump({"model_list": list(entries), **sections})


def fake_base(fake: OpenAIFake) -> str:
    return fake.base_url + "/v1"


@pytest.fixture
def gateway(openai_fake: OpenAIFake, gateway_for: GatewayFactory) -> Gateway:
    """Every OpenAI image model, served by the fake under its own name."""
    return gateway_for(config(entry(m, fake_base(openai_fake)) for m in OPENAI_MODELS))


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(**fields))


async def rejected(gateway: Gateway, error: type[ImageGenError], **fields: Any) -> ImageGenError:
    """The error `gateway` raises for the request; its class must be exactly `error`."""
    with pytest.raises(ImageGenError) as info:
        await generate(gateway, **fields)
    assert type(info.value) is error, repr(info.value)
    return info.value


def field_of(error: ImageGenError) -> str:
    """The single field an InvalidRequestError names, checked in both places it is named."""
    (violation,) = error.field_violations
    assert error.metadata["field"] == violation.field
    return violation.field


def pillow(image: GeneratedImage) -> tuple[str | None, tuple[int, int], str]:
    with Image.open(io.BytesIO(image.data())) as decoded:
        decoded.load()
        return decoded.format, decoded.size, decoded.mode


def word_prompt(words: int) -> str:
    # The fake counts input text tokens as whitespace-separated words.
    return " ".join(["otter"] * words)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- gpt-image-1


async def test_gpt_image_1_sends_openai_fields_and_returns_pngs_with_usage_and_cost(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    prompt = word_prompt(12)
    generation = await generate(
        gateway,
        model="gpt-image-1",
        prompt=prompt,
        n=2,
        size="1536x1024",
        quality="high",
        user="user-42",
    )

    (sent,) = openai_fake.requests
    assert sent.method == "POST"
    assert sent.path == "/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert "openai-organization" not in sent.headers
    assert sent.json == {
        "prompt": prompt,
        "model": "gpt-image-1",
        "n": 2,
        "quality": "high",
        "size": "1536x1024",
        "user": "user-42",
    }

    result = generation.result
    assert len(result.images) == 2
    for image in result.images:
        assert image.mime_type == "image/png"
        assert (image.width, image.height) == (1536, 1024)
        assert image.revised_prompt is None
        assert image.url is None
        assert pillow(image)[:2] == ("PNG", (1536, 1024))
    assert result.images[0].data() != result.images[1].data()
    assert result.usage is not None
    assert result.usage.input_tokens == 12
    assert result.usage.output_tokens == 2 * 6208
    assert (result.quality, result.size) == ("high", "1536x1024")
    assert result.headers["x-request-id"].startswith("req_")

    facts = generation.facts
    assert facts.provider == "openai"
    assert facts.provider_model == "gpt-image-1"
    assert facts.api_base == fake_base(openai_fake)
    assert facts.attempts == 1
    assert facts.response_cost == (12 * Decimal("5.00") + 2 * 6208 * Decimal("40.00")) / MILLION


async def test_gpt_image_defaults_send_only_prompt_model_and_n(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="gpt-image-1", prompt="a lighthouse")

    assert openai_fake.requests[-1].json == {
        "prompt": "a lighthouse",
        "model": "gpt-image-1",
        "n": 1,
    }
    (image,) = generation.result.images
    # Size and quality come back from the answer ("auto" resolved by the provider).
    assert (image.width, image.height) == (1024, 1024)
    assert pillow(image)[:2] == ("PNG", (1024, 1024))
    assert (generation.result.quality, generation.result.size) == ("medium", "1024x1024")


@pytest.mark.parametrize(
    ("model", "output_tokens", "text_in_rate", "image_out_rate"),
    [
        ("gpt-image-1-mini", 1056, Decimal("2.00"), Decimal("8.00")),
        ("gpt-image-1.5", 1056, Decimal("5.00"), Decimal("32.00")),
        ("gpt-image-2", 1767, Decimal("5.00"), Decimal("30.00")),
    ],
)
async def test_each_gpt_image_model_is_sent_by_name_and_priced_by_its_own_rates(
    openai_fake: OpenAIFake,
    gateway: Gateway,
    model: str,
    output_tokens: int,
    text_in_rate: Decimal,
    image_out_rate: Decimal,
) -> None:
    generation = await generate(gateway, model=model, prompt=word_prompt(7), quality="medium")

    assert openai_fake.requests[-1].json == {
        "prompt": word_prompt(7),
        "model": model,
        "n": 1,
        "quality": "medium",
    }
    usage = generation.result.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (7, output_tokens)
    expected = (7 * text_in_rate + output_tokens * image_out_rate) / MILLION
    assert generation.facts.response_cost == expected


async def test_gpt_image_1_5_output_token_details_are_priced_as_image_tokens(
    gateway_for: GatewayFactory,
) -> None:
    async with OpenAIFake(include_output_details=True) as fake:
        gateway = gateway_for(config([entry("gpt-image-1.5", fake_base(fake))]))
        generation = await generate(gateway, model="gpt-image-1.5", prompt=word_prompt(3))

    usage = generation.result.usage
    assert usage is not None
    assert usage.output_tokens_details is not None
    assert usage.output_tokens_details.image_tokens == 1056
    assert usage.output_tokens_details.text_tokens == 0
    assert generation.facts.response_cost == (3 * Decimal(5) + 1056 * Decimal(32)) / MILLION


@pytest.mark.parametrize(
    ("model", "priced_as_image_out_rate"),
    [("gpt-image-2-2026-04-21", Decimal("30.00")), ("chatgpt-image-latest", Decimal("32.00"))],
)
async def test_snapshot_and_alias_names_are_sent_verbatim_and_priced_as_their_family(
    openai_fake: OpenAIFake,
    gateway_for: GatewayFactory,
    model: str,
    priced_as_image_out_rate: Decimal,
) -> None:
    gateway = gateway_for(config([entry(model, fake_base(openai_fake))]))
    generation = await generate(gateway, model=model, prompt=word_prompt(2), quality="low")
    assert openai_fake.requests[-1].json["model"] == model
    usage = generation.result.usage
    assert usage is not None
    expected = (2 * Decimal(5) + usage.output_tokens * priced_as_image_out_rate) / MILLION
    assert generation.facts.response_cost == expected


# --------------------------------------------------------------------------- gpt-image-2 sizes


async def test_gpt_image_2_accepts_a_free_form_size(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="gpt-image-2", prompt="a wide shot", size="1280x720")

    assert openai_fake.requests[-1].json["size"] == "1280x720"
    (image,) = generation.result.images
    assert (image.width, image.height) == (1280, 720)
    assert pillow(image)[:2] == ("PNG", (1280, 720))
    assert generation.facts.response_cost is not None
    assert generation.facts.response_cost > 0


@pytest.mark.parametrize(
    ("size", "why"),
    [
        ("1000x1000", "multiples of 16"),
        ("4000x1000", "outside"),
        ("3072x768", "aspect ratio"),
        ("3840x3840", "pixels"),
    ],
)
async def test_gpt_image_2_rejects_bad_free_form_sizes_before_calling(
    openai_fake: OpenAIFake, gateway: Gateway, size: str, why: str
) -> None:
    error = await rejected(gateway, InvalidRequestError, model="gpt-image-2", prompt="x", size=size)
    assert error.reason == "INVALID_PARAMETER"
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == "size"
    assert why in error.message
    assert openai_fake.requests == []
    assert error.facts is not None
    assert error.facts.response_cost == 0


@pytest.mark.parametrize("model", ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"])
async def test_fixed_size_gpt_models_reject_free_form_sizes(
    openai_fake: OpenAIFake, gateway: Gateway, model: str
) -> None:
    error = await rejected(gateway, InvalidRequestError, model=model, prompt="x", size="1280x720")
    assert field_of(error) == "size"
    assert "1024x1024" in error.message
    assert openai_fake.requests == []


# --------------------------------------------------------------------------- response_format


async def test_gpt_image_b64_json_is_accepted_but_never_sent(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway, model="gpt-image-1", prompt="x", response_format="b64_json"
    )
    assert "response_format" not in openai_fake.requests[-1].json
    assert generation.result.images[0].has_content


@pytest.mark.parametrize(
    "model", ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2"]
)
async def test_gpt_image_url_format_is_unsupported(
    openai_fake: OpenAIFake, gateway: Gateway, model: str
) -> None:
    error = await rejected(
        gateway, UnsupportedParameterError, model=model, prompt="x", response_format="url"
    )
    assert error.reason == "UNSUPPORTED_PARAMETER"
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == "response_format"
    assert "b64_json" in error.message
    assert openai_fake.requests == []


async def test_request_drop_params_drops_url_format_for_gpt_image(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway, model="gpt-image-1", prompt="x", response_format="url", drop_params=True
    )
    assert "response_format" not in openai_fake.requests[-1].json
    assert generation.state.dropped_params == ("response_format",)
    assert pillow(generation.result.images[0])[0] == "PNG"


@pytest.mark.parametrize("where", ["litellm_settings", "deployment"])
async def test_configured_drop_params_drops_url_format_unless_the_request_says_no(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory, where: str
) -> None:
    base = fake_base(openai_fake)
    if where == "litellm_settings":
        text = config([entry("gpt-image-1", base)], litellm_settings={"drop_params": True})
    else:
        text = config([entry("gpt-image-1", base, drop_params=True)])
    gateway = gateway_for(text)

    generation = await generate(gateway, model="gpt-image-1", prompt="x", response_format="url")
    assert "response_format" not in openai_fake.requests[-1].json
    assert generation.state.dropped_params == ("response_format",)

    await rejected(
        gateway,
        UnsupportedParameterError,
        model="gpt-image-1",
        prompt="x",
        response_format="url",
        drop_params=False,
    )
    assert len(openai_fake.requests) == 1


async def test_deployment_drop_params_false_overrides_the_global_setting(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [entry("gpt-image-1", fake_base(openai_fake), drop_params=False)],
            litellm_settings={"drop_params": True},
        )
    )
    await rejected(
        gateway, UnsupportedParameterError, model="gpt-image-1", prompt="x", style="vivid"
    )
    assert openai_fake.requests == []


# --------------------------------------------------------------------------- unsupported params


async def test_style_is_unsupported_on_gpt_image_and_dropped_when_asked(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, UnsupportedParameterError, model="gpt-image-1", prompt="x", style="vivid"
    )
    assert field_of(error) == "style"
    assert error.metadata["model"] == "gpt-image-1"
    assert openai_fake.requests == []

    generation = await generate(
        gateway, model="gpt-image-1", prompt="x", style="vivid", drop_params=True
    )
    assert "style" not in openai_fake.requests[-1].json
    assert generation.state.dropped_params == ("style",)


@pytest.mark.parametrize(
    ("model", "fields", "error", "field"),
    [
        ("gpt-image-1", {"quality": "hd"}, InvalidRequestError, "quality"),
        ("gpt-image-1", {"size": "512x512"}, InvalidRequestError, "size"),
        (
            "gpt-image-1",
            {"provider_params": {"seed": 7}},
            UnsupportedParameterError,
            "provider_params.seed",
        ),
        (
            "gpt-image-2",
            {"provider_params": {"negative_prompt": "blur"}},
            UnsupportedParameterError,
            "provider_params.negative_prompt",
        ),
        ("dall-e-3", {"n": 2}, InvalidRequestError, "n"),
        ("dall-e-3", {"style": "anime"}, InvalidRequestError, "style"),
        ("dall-e-3", {"quality": "high"}, InvalidRequestError, "quality"),
        ("dall-e-3", {"size": "256x256"}, InvalidRequestError, "size"),
        ("dall-e-3", {"size": "1536x1024"}, InvalidRequestError, "size"),
        (
            "dall-e-3",
            {"provider_params": {"background": "opaque"}},
            UnsupportedParameterError,
            "provider_params.background",
        ),
        ("dall-e-3", {"prompt": "p" * 4001}, InvalidRequestError, "prompt"),
        ("dall-e-2", {"style": "vivid"}, UnsupportedParameterError, "style"),
        ("dall-e-2", {"quality": "hd"}, InvalidRequestError, "quality"),
        ("dall-e-2", {"size": "1792x1024"}, InvalidRequestError, "size"),
        (
            "dall-e-2",
            {"provider_params": {"output_format": "webp"}},
            UnsupportedParameterError,
            "provider_params.output_format",
        ),
        ("dall-e-2", {"prompt": "p" * 1001}, InvalidRequestError, "prompt"),
    ],
)
async def test_model_rules_reject_before_any_http_request(
    openai_fake: OpenAIFake,
    gateway: Gateway,
    model: str,
    fields: dict[str, Any],
    error: type[ImageGenError],
    field: str,
) -> None:
    request = {"model": model, "prompt": "a fox", **fields}
    raised = await rejected(gateway, error, **request)
    assert raised.code is Code.INVALID_ARGUMENT
    assert field_of(raised) == field
    assert openai_fake.requests == []


async def test_dall_e_3_n_2_is_rejected_naming_n_and_costs_nothing(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    error = await rejected(gateway, InvalidRequestError, model="dall-e-3", prompt="x", n=2)
    assert error.reason == "INVALID_PARAMETER"
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == "n"
    assert "at most 1" in error.message
    assert openai_fake.requests == []
    assert error.facts is not None
    assert error.facts.provider == "openai"
    assert error.facts.attempts == 0
    assert error.facts.response_cost == 0


# --------------------------------------------------------------------------- GPT provider params


async def test_gpt_provider_params_are_sent_and_webp_output_is_labelled_webp(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="gpt-image-1",
        prompt="a sticker",
        size="1024x1536",
        provider_params={
            "background": "transparent",
            "output_format": "webp",
            # Protobuf Struct numbers arrive as floats; an integral one is sent as an int.
            "output_compression": 60.0,
            "moderation": "low",
        },
    )
    sent = openai_fake.requests[-1].json
    assert sent["background"] == "transparent"
    assert sent["output_format"] == "webp"
    assert sent["output_compression"] == 60
    assert type(sent["output_compression"]) is int
    assert sent["moderation"] == "low"

    (image,) = generation.result.images
    assert image.mime_type == "image/webp"
    assert pillow(image) == ("WEBP", (1024, 1536), "RGBA")


async def test_gpt_jpeg_output_is_labelled_jpeg(openai_fake: OpenAIFake, gateway: Gateway) -> None:
    generation = await generate(
        gateway,
        model="gpt-image-1-mini",
        prompt="x",
        provider_params={"output_format": "jpeg", "output_compression": 80},
    )
    (image,) = generation.result.images
    assert image.mime_type == "image/jpeg"
    assert pillow(image)[:2] == ("JPEG", (1024, 1024))


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("output_compression", "high", "type int"),
        ("output_compression", 101, "at most 100"),
        ("output_compression", -1, "at least 0"),
        ("output_compression", 50.5, "type int"),
        ("output_compression", True, "type int"),
        ("background", "purple", "one of"),
        ("background", 1, "type str"),
        ("output_format", "gif", "one of"),
        ("moderation", "none", "one of"),
    ],
)
async def test_gpt_provider_param_with_a_bad_value_is_invalid_argument_naming_it(
    openai_fake: OpenAIFake, gateway: Gateway, name: str, value: Any, says: str
) -> None:
    error = await rejected(
        gateway,
        InvalidRequestError,
        model="gpt-image-1",
        prompt="x",
        provider_params={name: value},
    )
    assert error.reason == "INVALID_PARAMETER"
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == f"provider_params.{name}"
    assert says in error.message
    assert openai_fake.requests == []


async def test_unknown_provider_param_is_unsupported_unless_dropped(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway,
        UnsupportedParameterError,
        model="gpt-image-1",
        prompt="x",
        provider_params={"seed": 42},
    )
    assert error.reason == "UNSUPPORTED_PARAMETER"
    assert field_of(error) == "provider_params.seed"
    assert openai_fake.requests == []

    generation = await generate(
        gateway,
        model="gpt-image-1",
        prompt="x",
        provider_params={"seed": 42, "background": "opaque"},
        drop_params=True,
    )
    sent = openai_fake.requests[-1].json
    assert "seed" not in sent
    assert sent["background"] == "opaque"
    assert generation.state.dropped_params == ("provider_params.seed",)


@pytest.mark.parametrize(
    ("name", "value"),
    [("model", "gpt-image-1"), ("prompt", "an unchecked prompt"), ("n", 50), ("size", "64x64")],
)
@pytest.mark.parametrize("drop_params", [False, True])
async def test_provider_params_cannot_replace_request_fields(
    openai_fake: OpenAIFake,
    gateway_for: GatewayFactory,
    name: str,
    value: Any,
    drop_params: bool,
) -> None:
    # An unknown model passes provider params through unchecked; a param named like a body
    # field must still not replace the configured model, the checked prompt or the limits.
    gateway = gateway_for(
        config(
            [
                entry("future", fake_base(openai_fake), model="gpt-image-9"),
                entry("gpt-image-1", fake_base(openai_fake)),
            ]
        )
    )
    for model in ("future", "gpt-image-1"):
        error = await rejected(
            gateway,
            InvalidRequestError,
            model=model,
            prompt="x",
            provider_params={name: value},
            drop_params=drop_params,
        )
        assert field_of(error) == f"provider_params.{name}"
        assert "request field" in error.message
    assert openai_fake.requests == []


async def test_unknown_model_passes_other_provider_params_through(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config([entry("future", fake_base(openai_fake), model="gpt-image-9")]))
    with pytest.raises(ProviderModelNotFoundError):
        await generate(gateway, model="future", prompt="x", provider_params={"quantum": 3})
    assert openai_fake.requests[-1].json == {
        "prompt": "x",
        "model": "gpt-image-9",
        "n": 1,
        "quantum": 3,
    }


async def test_deployment_provider_params_are_sent_and_a_request_value_wins(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry(
                    "sticker-maker",
                    fake_base(openai_fake),
                    model="gpt-image-1",
                    background="opaque",
                    output_format="png",
                    rpm=10,
                )
            ]
        )
    )
    await generate(gateway, model="sticker-maker", prompt="x")
    first = openai_fake.requests[-1].json
    assert first["model"] == "gpt-image-1"
    assert first["background"] == "opaque"
    assert first["output_format"] == "png"
    # Router keys configure the router, they are not request fields.
    assert "rpm" not in first

    await generate(
        gateway, model="sticker-maker", prompt="x", provider_params={"background": "transparent"}
    )
    second = openai_fake.requests[-1].json
    assert second["background"] == "transparent"
    assert second["output_format"] == "png"


async def test_invalid_deployment_provider_param_is_rejected_per_request(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("gpt-image-1", fake_base(openai_fake), output_compression="high")])
    )
    error = await rejected(gateway, InvalidRequestError, model="gpt-image-1", prompt="x")
    assert field_of(error) == "provider_params.output_compression"
    assert openai_fake.requests == []


async def test_organization_and_project_from_the_config_are_sent_as_headers(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry(
                    "gpt-image-1",
                    fake_base(openai_fake),
                    organization="org-acme",
                    project="proj_images",
                )
            ]
        )
    )
    await generate(gateway, model="gpt-image-1", prompt="x")
    sent = openai_fake.requests[-1]
    assert sent.headers["openai-organization"] == "org-acme"
    assert sent.headers["openai-project"] == "proj_images"
    # Endpoint options are headers, never body fields.
    assert "organization" not in sent.json
    assert "project" not in sent.json


# --------------------------------------------------------------------------- dall-e-3


async def test_dall_e_3_sends_style_and_hd_and_returns_b64_with_revised_prompt(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="dall-e-3",
        prompt="a castle at dusk",
        size="1792x1024",
        quality="hd",
        style="natural",
        response_format="b64_json",
    )
    assert openai_fake.requests[-1].json == {
        "prompt": "a castle at dusk",
        "model": "dall-e-3",
        "n": 1,
        "quality": "hd",
        "size": "1792x1024",
        "style": "natural",
        "response_format": "b64_json",
    }
    (image,) = generation.result.images
    assert image.revised_prompt == (
        "a castle at dusk. Rendered in a natural style, richly detailed."
    )
    assert image.mime_type == "image/png"
    assert pillow(image)[:2] == ("PNG", (1792, 1024))
    assert generation.result.usage is None
    assert generation.facts.response_cost == Decimal("0.120")


async def test_dall_e_3_url_format_returns_a_downloadable_url(
    gateway_for: GatewayFactory,
) -> None:
    async with OpenAIFake(self_hosted_urls=True) as fake:
        gateway = gateway_for(config([entry("dall-e-3", fake_base(fake))]))
        generation = await generate(
            gateway, model="dall-e-3", prompt="a fox", size="1024x1792", response_format="url"
        )
        assert fake.requests[-1].json["response_format"] == "url"
        (image,) = generation.result.images
        assert not image.has_content
        assert image.url is not None
        assert image.url.startswith(fake.base_url + "/private/")
        assert image.revised_prompt == "a fox. Rendered in a vivid style, richly detailed."
        async with httpx.AsyncClient() as client:
            download = await client.get(image.url)
    assert download.status_code == 200
    with Image.open(io.BytesIO(download.content)) as decoded:
        assert (decoded.format, decoded.size) == ("PNG", (1024, 1792))
    # Not asked for: the model's default quality prices it.
    assert generation.facts.response_cost == Decimal("0.080")


async def test_dall_e_3_without_response_format_sends_none(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="dall-e-3", prompt="a fox")
    assert "response_format" not in openai_fake.requests[-1].json
    assert "style" not in openai_fake.requests[-1].json
    # The provider's own default is a URL on its blob store.
    (image,) = generation.result.images
    assert image.url is not None
    assert image.url.startswith("https://oaidalleapiprodscus.blob.core.windows.net/")
    assert generation.facts.response_cost == Decimal("0.040")


# --------------------------------------------------------------------------- dall-e-2


@pytest.mark.parametrize(
    ("size", "each"),
    [("256x256", "0.016"), ("512x512", "0.018"), ("1024x1024", "0.020")],
)
async def test_dall_e_2_sizes_return_that_many_pngs_priced_per_image(
    openai_fake: OpenAIFake, gateway: Gateway, size: str, each: str
) -> None:
    generation = await generate(
        gateway, model="dall-e-2", prompt="a kite", n=3, size=size, response_format="b64_json"
    )
    assert openai_fake.requests[-1].json == {
        "prompt": "a kite",
        "model": "dall-e-2",
        "n": 3,
        "size": size,
        "response_format": "b64_json",
    }
    width, height = (int(edge) for edge in size.split("x"))
    images = generation.result.images
    assert len(images) == 3
    for image in images:
        assert image.revised_prompt is None
        assert pillow(image)[:2] == ("PNG", (width, height))
    assert generation.facts.response_cost == 3 * Decimal(each)


async def test_dall_e_2_url_format(openai_fake: OpenAIFake, gateway: Gateway) -> None:
    generation = await generate(
        gateway, model="dall-e-2", prompt="a kite", n=2, size="512x512", response_format="url"
    )
    assert openai_fake.requests[-1].json["response_format"] == "url"
    urls = [image.url for image in generation.result.images]
    assert len(urls) == 2
    assert all(url is not None and "/private/" in url for url in urls)
    assert len(set(urls)) == 2
    assert generation.facts.response_cost == 2 * Decimal("0.018")


# --------------------------------------------------------------------------- errors


async def test_gpt_image_safety_refusal_is_a_content_policy_violation(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="gpt-image-1", prompt="something forbidden"
    )
    assert error.reason == "CONTENT_POLICY_VIOLATION"
    assert error.code is Code.INVALID_ARGUMENT
    assert error.metadata["provider"] == "openai"
    assert error.metadata["upstream_code"] == "moderation_blocked"
    assert error.metadata["upstream_status"] == "400"
    assert "safety system" in error.message
    assert len(openai_fake.requests) == 1
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_dall_e_safety_refusal_is_a_content_policy_violation(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="dall-e-3", prompt="something forbidden"
    )
    assert error.reason == "CONTENT_POLICY_VIOLATION"
    assert error.metadata["upstream_code"] == "content_policy_violation"
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_rejected_configured_key_is_an_operator_problem_and_never_echoed(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    wrong = "sk-configured-but-wrong-0123456789"
    gateway = gateway_for(config([entry("gpt-image-1", fake_base(openai_fake), api_key=wrong)]))
    error = await rejected(gateway, ProviderAuthenticationError, model="gpt-image-1", prompt="x")
    assert error.reason == "PROVIDER_AUTHENTICATION_FAILED"
    assert error.code is Code.FAILED_PRECONDITION
    assert openai_fake.requests[-1].headers["authorization"] == f"Bearer {wrong}"
    for text in (error.message, str(error), repr(error.metadata)):
        assert wrong not in text
        assert wrong[-4:] not in text
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_rejected_caller_key_is_unauthenticated(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    caller_key = "sk-caller-supplied-9876543210"
    error = await rejected(
        gateway,
        CallerCredentialRejectedError,
        model="gpt-image-1",
        prompt="x",
        api_key=caller_key,
    )
    assert error.reason == "PROVIDER_CREDENTIAL_REJECTED"
    assert error.code is Code.UNAUTHENTICATED
    # The caller's key replaced the configured one on the wire.
    assert openai_fake.requests[-1].headers["authorization"] == f"Bearer {caller_key}"
    assert caller_key not in error.message
    assert caller_key not in str(error)


async def test_rate_limit_carries_retry_after(openai_fake: OpenAIFake, gateway: Gateway) -> None:
    error = await rejected(
        gateway, ProviderRateLimitedError, model="gpt-image-1", prompt="ratelimit please"
    )
    assert error.reason == "PROVIDER_RATE_LIMITED"
    assert error.code is Code.UNAVAILABLE
    assert error.retry_after == 7
    assert error.metadata["upstream_code"] == "rate_limit_exceeded"
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_insufficient_quota_is_quota_exceeded_not_rate_limited(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ProviderQuotaExceededError, model="dall-e-2", prompt="insufficient_quota now"
    )
    assert error.reason == "PROVIDER_QUOTA_EXCEEDED"
    assert error.code is Code.RESOURCE_EXHAUSTED
    assert error.retry_after is None
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_server_error_is_provider_unavailable(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ProviderUnavailableError, model="gpt-image-2", prompt="servererror"
    )
    assert error.reason == "PROVIDER_UNAVAILABLE"
    assert error.code is Code.UNAVAILABLE
    assert error.metadata["upstream_status"] == "500"
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_unknown_model_is_provider_model_not_found(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config([entry("future", fake_base(openai_fake), model="gpt-image-9")]))
    error = await rejected(gateway, ProviderModelNotFoundError, model="future", prompt="x")
    assert error.reason == "PROVIDER_MODEL_NOT_FOUND"
    assert error.code is Code.NOT_FOUND
    assert error.metadata["upstream_code"] == "model_not_found"
    assert openai_fake.requests[-1].json["model"] == "gpt-image-9"
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_retired_dall_e_is_provider_model_not_found(gateway_for: GatewayFactory) -> None:
    async with OpenAIFake(dalle_retired=True) as fake:
        gateway = gateway_for(config([entry("dall-e-3", fake_base(fake))]))
        error = await rejected(gateway, ProviderModelNotFoundError, model="dall-e-3", prompt="x")
    assert "deprecated" in error.message


async def test_provider_validation_error_names_the_field_it_names(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    openai_fake.fail_next(
        400,
        {
            "error": {
                "message": "Invalid value: '1024x1024'. Supported values are: 'auto'.",
                "type": "invalid_request_error",
                "param": "size",
                "code": "invalid_value",
            }
        },
    )
    error = await rejected(
        gateway, ProviderInvalidRequestError, model="gpt-image-1", prompt="x", size="1024x1024"
    )
    assert error.reason == "PROVIDER_INVALID_REQUEST"
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == "size"
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_unverified_organization_is_permission_denied(
    openai_fake: OpenAIFake, gateway: Gateway
) -> None:
    openai_fake.fail_next(
        403,
        {
            "error": {
                "message": "Your organization must be verified to use the model `gpt-image-1`.",
                "type": "invalid_request_error",
                "param": None,
                "code": "organization_must_be_verified",
            }
        },
    )
    error = await rejected(gateway, ProviderPermissionDeniedError, model="gpt-image-1", prompt="x")
    assert error.code is Code.PERMISSION_DENIED
    assert "verified" in error.message


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        ("<html>502 Bad Gateway</html>", "text/html", "no image list"),
        ({"created": 1}, "application/json", "no image list"),
        ({"created": 1, "data": []}, "application/json", "no images"),
        ({"created": 1, "data": [{"b64_json": "@@not base64@@"}]}, "application/json", "base64"),
        ({"created": 1, "data": [{"revised_prompt": "x"}]}, "application/json", "neither"),
        ({"created": 1, "data": ["x"]}, "application/json", "not an object"),
        (
            {
                "created": 1,
                "data": [{"b64_json": "iVBORw0KGgo="}],
                "usage": {"input_tokens": "many"},
            },
            "application/json",
            "usage",
        ),
    ],
)
async def test_unusable_success_answer_is_a_bad_response_of_unknown_cost(
    openai_fake: OpenAIFake,
    gateway: Gateway,
    body: dict[str, Any] | str,
    content_type: str,
    says: str,
) -> None:
    openai_fake.fail_next(200, body, content_type=content_type)
    error = await rejected(gateway, ProviderBadResponseError, model="gpt-image-1", prompt="x")
    assert error.reason == "PROVIDER_BAD_RESPONSE"
    assert error.code is Code.UNAVAILABLE
    assert says in error.message
    # The provider said 200: it may have generated, and billed, what we could not read.
    assert error.facts is not None
    assert error.facts.response_cost is None
    assert error.facts.response_cost_text == "unknown"


async def test_connection_refused_is_provider_unavailable(gateway_for: GatewayFactory) -> None:
    base = f"http://127.0.0.1:{closed_port()}/v1"
    gateway = gateway_for(config([entry("gpt-image-1", base)]))
    error = await rejected(gateway, ProviderUnavailableError, model="gpt-image-1", prompt="x")
    assert error.reason == "PROVIDER_UNAVAILABLE"
    assert error.code is Code.UNAVAILABLE
    assert error.metadata["provider"] == "openai"
    assert error.facts is not None
    assert error.facts.api_base == base
    # Nothing reached the provider, so nothing can have been billed.
    assert error.facts.response_cost == 0


# --------------------------------------------------------------------------- pure transforms


def provider_call(
    model: str,
    *,
    n: int = 1,
    quality: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    response_format: ResponseFormat | None = None,
    extra: dict[str, Any] | None = None,
    endpoint: Endpoint | None = None,
) -> ProviderCall:
    return ProviderCall(
        provider_model=model,
        spec=openai_spec(model),
        params=CallParams(
            n=n,
            quality=quality,
            size=size,
            style=style,
            user=user,
            response_format=response_format,
            extra=dict(extra or {}),
        ),
        prompt="a red fox",
        endpoint=endpoint or Endpoint(api_base="https://example.test/v1/", api_key="sk-unit"),
        deadline=Deadline.after(60),
    )


def test_build_request_for_dall_e_3_is_a_pure_transform() -> None:
    call = provider_call(
        "dall-e-3",
        quality="hd",
        size="1024x1792",
        style="vivid",
        user="u1",
        response_format=ResponseFormat.URL,
        endpoint=Endpoint(
            api_base="https://example.test/v1/",
            api_key="sk-unit",
            options={"organization": "org-1", "project": "", "azure_ad_token": "ignored"},
        ),
    )
    request = OpenAIProvider().build_request(call)
    assert request.method == "POST"
    # A trailing slash on api_base does not double up.
    assert request.url == "https://example.test/v1/images/generations"
    assert dict(request.headers) == {
        "authorization": "Bearer sk-unit",
        "openai-organization": "org-1",
    }
    assert dict(request.json) == {
        "prompt": "a red fox",
        "model": "dall-e-3",
        "n": 1,
        "quality": "hd",
        "size": "1024x1792",
        "style": "vivid",
        "user": "u1",
        "response_format": "url",
    }


def test_build_request_for_gpt_image_omits_response_format_and_merges_extras() -> None:
    call = provider_call(
        "gpt-image-1.5",
        n=2,
        response_format=ResponseFormat.B64_JSON,
        extra={"background": "transparent", "output_compression": 30, "output_format": "webp"},
        endpoint=Endpoint(api_key="sk-unit"),
    )
    request = OpenAIProvider().build_request(call)
    assert request.url == "https://api.openai.com/v1/images/generations"
    assert dict(request.json) == {
        "prompt": "a red fox",
        "model": "gpt-image-1.5",
        "n": 2,
        "background": "transparent",
        "output_compression": 30,
        "output_format": "webp",
    }


def _error_body(code: str | None, kind: str = "invalid_request_error") -> bytes:
    error = {"message": "m", "type": kind, "param": None, "code": code}
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "content", "headers", "expected"),
    [
        (
            400,
            _error_body("moderation_blocked", "image_generation_user_error"),
            {},
            ContentPolicyViolationError,
        ),
        (400, _error_body("content_policy_violation"), {}, ContentPolicyViolationError),
        (400, _error_body("invalid_value"), {}, ProviderInvalidRequestError),
        (401, _error_body("invalid_api_key"), {}, ProviderAuthenticationError),
        (403, _error_body(None), {}, ProviderPermissionDeniedError),
        (404, _error_body("model_not_found"), {}, ProviderModelNotFoundError),
        (
            429,
            _error_body("rate_limit_exceeded", "requests"),
            {"retry-after": "7"},
            ProviderRateLimitedError,
        ),
        (429, _error_body(None, "insufficient_quota"), {}, ProviderQuotaExceededError),
        (500, b"upstream connect error", {}, ProviderUnavailableError),
        (503, _error_body(None, "server_error"), {}, ProviderUnavailableError),
    ],
)
def test_parse_error_maps_status_and_body_without_a_network(
    status: int, content: bytes, headers: dict[str, str], expected: type[ImageGenError]
) -> None:
    call = provider_call("gpt-image-1")
    error = OpenAIProvider().parse_error(call, HttpResponse(status, headers, content))
    assert type(error) is expected
    assert error.metadata["upstream_status"] == str(status)
    assert error.metadata["provider"] == "openai"
    if "retry-after" in headers:
        assert error.retry_after == 7


def test_parse_response_reads_size_format_and_usage_from_the_answer() -> None:
    call = provider_call("gpt-image-1", extra={"output_format": "jpeg"})
    content = (
        b'{"created": 5, "size": "1024x1536", "quality": "low", "output_format": "webp",'
        b' "data": [{"b64_json": "UklGRg=="}],'
        b' "usage": {"input_tokens": 3, "output_tokens": 408, "total_tokens": 411}}'
    )
    result = OpenAIProvider().parse_response(call, HttpResponse(200, {"x-a": "b"}, content))
    (image,) = result.images
    assert image.data() == b"RIFF"
    # The answer's output_format wins over what was asked.
    assert image.mime_type == "image/webp"
    assert (image.width, image.height) == (1024, 1536)
    assert (result.created, result.quality, result.size) == (5, "low", "1024x1536")
    assert result.usage is not None
    assert result.usage.output_tokens == 408
    assert result.headers == {"x-a": "b"}


async def test_standard_params_in_the_deployment_are_defaults_a_request_overrides(
    openai_fake: OpenAIFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry(
                    "hd-dalle",
                    fake_base(openai_fake),
                    model="dall-e-3",
                    quality="hd",
                    size="1792x1024",
                    style="natural",
                )
            ]
        )
    )
    first = await generate(gateway, prompt="a fox", model="hd-dalle")
    sent = openai_fake.last_request.json
    assert (sent["quality"], sent["size"], sent["style"]) == ("hd", "1792x1024", "natural")
    assert first.facts.response_cost == Decimal("0.120")

    await generate(gateway, prompt="a fox", model="hd-dalle", quality="standard")
    sent = openai_fake.last_request.json
    assert (sent["quality"], sent["size"]) == ("standard", "1792x1024")


def test_invalid_standard_param_in_the_deployment_fails_at_load(openai_fake: OpenAIFake) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            config([entry("x", fake_base(openai_fake), model="dall-e-3", n=0)]), source="test.yaml"
        )
    assert "model_list[0].litellm_params.n" in str(caught.value)
