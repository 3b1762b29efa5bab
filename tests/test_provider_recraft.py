"""The Recraft adapter through the in-process Gateway and the gRPC server, against the Recraft fake.

Recraft (docs/providers/recraft.md): Bearer, OpenAI-shaped body plus `style`/`substyle`/`controls`,
fixed pixel sizes per model family, aspect-ratio-only vector models, n ≤ 6 per call, a
text/plain 401, and a price that depends on whether the image is raster or vector.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.deadline import Deadline
from imagegen.errors import (
    CallerCredentialRejectedError,
    Code,
    ConfigError,
    ContentPolicyViolationError,
    DeadlineExceededError,
    ImageGenError,
    InvalidRequestError,
    ProviderAuthenticationError,
    ProviderBadResponseError,
    ProviderInvalidRequestError,
    ProviderModelNotFoundError,
    ProviderQuotaExceededError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    UnsupportedParameterError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway
from imagegen.providers.base import CallParams, Endpoint, ProviderCall
from imagegen.providers.recraft import (
    RECRAFT_MODELS,
    V2_V3_SIZES,
    V4_PRO_SIZES,
    V4_SIZES,
    VECTOR_ASPECT_RATIOS,
    RecraftProvider,
    recraft_model,
)
from imagegen.providers.transport import HttpResponse
from imagegen.types import GeneratedImage, ImageRequest, ResponseFormat
from tests.conftest import TRAILER_KEYS, GatewayFactory, ServeFactory
from tests.fakes.recraft import RecraftFake

KEY = "recraft-test-key"
V3_RASTER = Decimal("0.040")
V3_VECTOR = Decimal("0.080")
VECTOR_PRICES = {
    "recraftv4_vector": Decimal("0.080"),
    "recraftv3_vector": Decimal("0.080"),
    "recraftv4_1_vector": Decimal("0.080"),
    "recraftv2_vector": Decimal("0.044"),
}


@pytest.fixture
async def recraft_fake() -> AsyncIterator[RecraftFake]:
    async with RecraftFake() as fake:
        yield fake


def entry(
    name: str, api_base: str, *, model: str | None = None, api_key: str | None = KEY, **params: Any
) -> dict[str, Any]:
    litellm_params: dict[str, Any] = {"model": f"recraft/{model or name}", "api_base": api_base}
    if api_key is not None:
        litellm_params["api_key"] = api_key
    return {"model_name": name, "litellm_params": {**litellm_params, **params}}


def config(entries: Iterable[dict[str, Any]], **sections: Any) -> str:
    return yaml.safe_dump({"model_list": list(entries), **sections})


def base(fake: RecraftFake) -> str:
    return fake.base_url + "/v1"


@pytest.fixture
def gateway(recraft_fake: RecraftFake, gateway_for: GatewayFactory) -> Gateway:
    """Every known Recraft model, served by the fake under its own name."""
    return gateway_for(config(entry(m, base(recraft_fake)) for m in RECRAFT_MODELS))


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


def sent(fake: RecraftFake) -> dict[str, Any]:
    body = fake.last_request.json
    assert isinstance(body, dict)
    return body


# --------------------------------------------------------------------------- request mapping


async def test_v3_maps_every_field_and_returns_signed_urls_priced_as_raster(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    controls = {
        "artistic_level": 3,
        "colors": [{"rgb": [255, 142, 60]}, {"rgb": [80, 180, 110]}],
        "background_color": {"rgb": [255, 255, 255]},
        "no_text": True,
    }
    generation = await generate(
        gateway,
        model="recraftv3",
        prompt="a friendly cartoon fox",
        n=2,
        size="1365x1024",
        style="digital_illustration",
        provider_params={
            "substyle": "hand_drawn",
            "negative_prompt": "text",
            "controls": controls,
            "random_seed": 42,
        },
    )

    request = recraft_fake.last_request
    assert request.method == "POST"
    assert request.path == "/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "prompt": "a friendly cartoon fox",
        "model": "recraftv3",
        "n": 2,
        "size": "1365x1024",
        "style": "digital_illustration",
        "substyle": "hand_drawn",
        "negative_prompt": "text",
        "controls": controls,
        "random_seed": 42,
    }
    images = generation.result.images
    assert len(images) == 2
    for image in images:
        assert image.url is not None and image.url.startswith("https://img.recraft.ai/")
        assert image.url.endswith(".webp")
        assert not image.has_content
        assert (image.mime_type, image.width, image.height) == ("image/webp", 1365, 1024)
    facts = generation.facts
    assert (facts.provider, facts.provider_model) == ("recraft", "recraftv3")
    assert facts.api_base == base(recraft_fake)
    assert facts.attempts == 1
    assert facts.filtered == 0
    assert facts.response_cost == 2 * V3_RASTER
    # The fake charged what the price table says.
    assert recraft_fake.credits_charged == 80


async def test_defaults_send_only_prompt_model_and_n(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="recraftv3", prompt="a lighthouse")
    assert sent(recraft_fake) == {"prompt": "a lighthouse", "model": "recraftv3", "n": 1}
    (image,) = generation.result.images
    # Recraft's default size: the gateway still knows the dimensions and the price.
    assert (image.width, image.height) == (1024, 1024)
    assert generation.facts.response_cost == V3_RASTER


@pytest.mark.parametrize(
    ("image_format", "pillow_format"), [(None, "WEBP"), ("webp", "WEBP"), ("png", "PNG")]
)
async def test_b64_json_returns_decodable_images_of_the_exact_size(
    recraft_fake: RecraftFake, gateway: Gateway, image_format: str | None, pillow_format: str
) -> None:
    params = {"image_format": image_format} if image_format else {}
    generation = await generate(
        gateway,
        model="recraftv3",
        prompt="a fox",
        size="1024x1707",
        response_format="b64_json",
        provider_params=params,
    )
    assert sent(recraft_fake)["response_format"] == "b64_json"
    (image,) = generation.result.images
    assert image.mime_type == f"image/{pillow_format.lower()}"
    assert pillow(image) == (pillow_format, (1024, 1707))


async def test_v3_vector_style_makes_svg_billed_at_the_vector_price(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="recraftv3",
        prompt="a fox logo",
        n=3,
        size="1820x1024",
        style="vector_illustration",
        response_format="b64_json",
    )
    assert sent(recraft_fake)["style"] == "vector_illustration"
    images = generation.result.images
    assert len(images) == 3
    for image in images:
        assert image.mime_type == "image/svg+xml"
        assert image.data().lstrip().startswith(b"<?xml")
        assert b"<svg" in image.data()
        assert (image.width, image.height) == (None, None)
    assert generation.result.quality == "vector"
    assert generation.facts.response_cost == 3 * V3_VECTOR
    assert recraft_fake.credits_charged == 240


@pytest.mark.parametrize(
    ("style", "kind", "each"),
    [
        ("icon", "vector", Decimal("0.044")),
        ("vector_illustration", "vector", Decimal("0.044")),
        ("realistic_image", "raster", Decimal("0.022")),
        (None, "raster", Decimal("0.022")),
    ],
)
async def test_v2_style_decides_raster_or_vector_price(
    recraft_fake: RecraftFake, gateway: Gateway, style: str | None, kind: str, each: Decimal
) -> None:
    fields = {"style": style} if style else {}
    generation = await generate(gateway, model="recraftv2", prompt="a gear", n=2, **fields)
    assert generation.result.quality == kind
    suffix = ".svg" if kind == "vector" else ".webp"
    assert [str(image.url)[-len(suffix) :] for image in generation.result.images] == [suffix] * 2
    assert generation.facts.response_cost == 2 * each
    assert recraft_fake.credits_charged == int(2 * each * 1000)


async def test_custom_style_id_is_priced_by_what_the_answer_shows(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    vector_style = str(uuid.uuid4())
    raster_style = str(uuid.uuid4())
    recraft_fake.custom_styles.update({vector_style: "vector_illustration", raster_style: "any"})

    vector = await generate(
        gateway, model="recraftv3", prompt="a fox", provider_params={"style_id": vector_style}
    )
    assert sent(recraft_fake)["style_id"] == vector_style
    assert "style" not in sent(recraft_fake)
    assert vector.facts.response_cost == V3_VECTOR

    raster = await generate(
        gateway,
        model="recraftv3",
        prompt="a fox",
        response_format="b64_json",
        provider_params={"style_id": raster_style},
    )
    assert raster.result.images[0].mime_type == "image/webp"
    assert raster.facts.response_cost == V3_RASTER


async def test_custom_style_whose_answer_does_not_say_raster_or_vector_costs_unknown(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    url = "https://img.recraft.ai/abc/rs:fit:1024:1024/plain/abs://external/images/id"
    recraft_fake.fail_next(
        200, {"created": 1, "credits": 80, "data": [{"image_id": str(uuid.uuid4()), "url": url}]}
    )
    generation = await generate(
        gateway, model="recraftv3", prompt="a fox", provider_params={"style_id": str(uuid.uuid4())}
    )
    assert generation.result.images[0].url == url
    # Never a guess: a custom style may be a vector one at twice the price.
    assert generation.facts.response_cost is None


@pytest.mark.parametrize(
    ("style", "kind", "each"),
    [("vector_illustration", "vector", V3_VECTOR), ("digital_illustration", "raster", V3_RASTER)],
)
async def test_answer_that_does_not_show_the_kind_is_priced_by_the_style(
    recraft_fake: RecraftFake, gateway: Gateway, style: str, kind: str, each: Decimal
) -> None:
    url = "https://img.recraft.ai/abc/rs:fit:1024:1024/plain/abs://external/images/id"
    recraft_fake.fail_next(
        200, {"created": 1, "credits": 80, "data": [{"image_id": str(uuid.uuid4()), "url": url}]}
    )
    generation = await generate(gateway, model="recraftv3", prompt="a fox", style=style)
    (image,) = generation.result.images
    assert image.mime_type is None
    assert generation.result.quality == kind
    assert generation.facts.response_cost == each


async def test_style_and_style_id_together_are_rejected_before_calling(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway,
        InvalidRequestError,
        model="recraftv3",
        prompt="x",
        style="any",
        provider_params={"style_id": str(uuid.uuid4())},
    )
    assert field_of(error) == "provider_params.style_id"
    assert recraft_fake.requests == []
    assert error.facts is not None
    assert error.facts.response_cost == 0


@pytest.mark.parametrize(
    ("model", "requested", "wire"),
    [
        ("recraftv4_vector", "1536x1024", "3:2"),
        ("recraftv4_vector", "16:9", "16:9"),
        # The normalizer reduces ratios; Recraft spells these three unreduced.
        ("recraftv4_vector", "6:10", "6:10"),
        ("recraftv3_vector", "600x1000", "6:10"),
        ("recraftv4_1_vector", "1400x1000", "14:10"),
        ("recraftv2_vector", "5:7", "10:14"),
    ],
)
async def test_vector_models_are_sized_by_recraft_aspect_ratios(
    recraft_fake: RecraftFake, gateway: Gateway, model: str, requested: str, wire: str
) -> None:
    generation = await generate(
        gateway, model=model, prompt="an icon", size=requested, response_format="b64_json"
    )
    assert sent(recraft_fake)["size"] == wire
    (image,) = generation.result.images
    assert image.mime_type == "image/svg+xml"
    assert (image.width, image.height) == (None, None)
    assert generation.facts.response_cost == VECTOR_PRICES[model]


async def test_vector_model_rejects_a_ratio_it_cannot_make_listing_its_ratios(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, InvalidRequestError, model="recraftv4_vector", prompt="x", size="1792x1024"
    )
    assert error.reason == "INVALID_PARAMETER"
    assert field_of(error) == "size"
    assert "7:4" in error.message
    assert ", ".join(VECTOR_ASPECT_RATIOS) in error.message
    assert recraft_fake.requests == []


@pytest.mark.parametrize(
    ("model", "size", "sizes"),
    [
        ("recraftv3", "1792x1024", V2_V3_SIZES),
        ("recraftv4", "1820x1024", V4_SIZES),
        ("recraftv4_1_pro", "1344x768", V4_PRO_SIZES),
        ("recraftv3", "16:9", None),
    ],
)
async def test_raster_models_reject_sizes_outside_their_list_before_calling(
    recraft_fake: RecraftFake, gateway: Gateway, model: str, size: str, sizes: tuple[str, ...]
) -> None:
    error = await rejected(gateway, InvalidRequestError, model=model, prompt="x", size=size)
    assert error.code is Code.INVALID_ARGUMENT
    assert field_of(error) == "size"
    if sizes is not None:
        assert error.message == f"size must be one of {', '.join(sizes)}"
    assert recraft_fake.requests == []


@pytest.mark.parametrize(
    ("model", "size", "width", "height", "each"),
    [
        ("recraftv4", "1344x768", 1344, 768, Decimal("0.040")),
        ("recraftv4_pro", "3072x1536", 3072, 1536, Decimal("0.250")),
        ("recraftv4_1", "832x1280", 832, 1280, Decimal("0.035")),
        ("recraftv4_1_utility_pro", "2048x2048", 2048, 2048, Decimal("0.210")),
    ],
)
async def test_v4_models_take_their_own_sizes_and_prices(
    recraft_fake: RecraftFake,
    gateway: Gateway,
    model: str,
    size: str,
    width: int,
    height: int,
    each: Decimal,
) -> None:
    generation = await generate(
        gateway, model=model, prompt="a fox", size=size, response_format="b64_json"
    )
    assert sent(recraft_fake) == {
        "prompt": "a fox",
        "model": model,
        "n": 1,
        "size": size,
        "response_format": "b64_json",
    }
    (image,) = generation.result.images
    assert pillow(image) == ("WEBP", (width, height))
    assert generation.facts.response_cost == each


async def test_coerce_size_picks_the_nearest_listed_size_or_ratio_and_reports_it(
    recraft_fake: RecraftFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry("v3", base(recraft_fake), model="recraftv3", coerce_size=True),
                entry("vec", base(recraft_fake), model="recraftv4_vector", coerce_size=True),
            ]
        )
    )
    raster = await generate(gateway, model="v3", prompt="x", size="1792x1024")
    assert sent(recraft_fake)["size"] == "1820x1024"
    assert (raster.facts.size_requested, raster.facts.size_actual) == ("1792x1024", "1820x1024")
    assert (raster.result.images[0].width, raster.result.images[0].height) == (1820, 1024)
    assert raster.facts.response_cost == V3_RASTER

    vector = await generate(gateway, model="vec", prompt="x", size="1792x1024")
    assert sent(recraft_fake)["size"] == "16:9"
    assert (vector.facts.size_requested, vector.facts.size_actual) == ("1792x1024", "16:9")


async def test_raster_alias_is_sent_verbatim_and_follows_its_base_model(
    recraft_fake: RecraftFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config([entry("r", base(recraft_fake), model="recraftv4_1_raster")]))
    generation = await generate(gateway, model="r", prompt="x", size="1280x832")
    assert sent(recraft_fake)["model"] == "recraftv4_1_raster"
    assert generation.facts.response_cost == Decimal("0.035")
    await rejected(gateway, InvalidRequestError, model="r", prompt="x", size="1365x1024")


# --------------------------------------------------------------------------- parameter rules


@pytest.mark.parametrize(
    ("model", "style", "allowed"),
    [
        ("recraftv3", "vivid", "any, realistic_image, digital_illustration, vector_illustration, "
                               "logo_raster"),
        ("recraftv3", "icon", "logo_raster"),
        ("recraftv2", "logo_raster", "vector_illustration, icon"),
        ("recraftv3_vector", "realistic_image", "vector_illustration"),
    ],
)  # fmt: skip
async def test_a_style_the_model_does_not_take_is_invalid_listing_the_allowed_ones(
    recraft_fake: RecraftFake, gateway: Gateway, model: str, style: str, allowed: str
) -> None:
    error = await rejected(gateway, InvalidRequestError, model=model, prompt="x", style=style)
    assert error.reason == "INVALID_PARAMETER"
    assert field_of(error) == "style"
    assert error.message.startswith("style must be one of ")
    assert allowed in error.message
    assert recraft_fake.requests == []


async def test_v4_takes_no_style_unless_params_are_dropped(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, UnsupportedParameterError, model="recraftv4", prompt="x", style="any"
    )
    assert error.reason == "UNSUPPORTED_PARAMETER"
    assert field_of(error) == "style"
    assert recraft_fake.requests == []

    await generate(gateway, model="recraftv4", prompt="x", style="any", drop_params=True)
    assert "style" not in sent(recraft_fake)


@pytest.mark.parametrize(
    ("model", "params", "error", "field"),
    [
        ("recraftv4", {"negative_prompt": "x"}, UnsupportedParameterError,
         "provider_params.negative_prompt"),
        ("recraftv4_1", {"substyle": "pixel_art"}, UnsupportedParameterError,
         "provider_params.substyle"),
        ("recraftv4", {"text_layout": []}, UnsupportedParameterError,
         "provider_params.text_layout"),
        ("recraftv2", {"text_layout": []}, UnsupportedParameterError,
         "provider_params.text_layout"),
        ("recraftv3", {"controls": {"artistic_level": 9}}, InvalidRequestError,
         "provider_params.controls.artistic_level"),
        ("recraftv2", {"controls": {"artistic_level": 2}}, InvalidRequestError,
         "provider_params.controls.artistic_level"),
        ("recraftv3", {"controls": {"colors": [{"rgb": [1, 2]}]}}, InvalidRequestError,
         "provider_params.controls.colors[0].rgb"),
        ("recraftv3", {"controls": {"background_color": "white"}}, InvalidRequestError,
         "provider_params.controls.background_color"),
        ("recraftv3", {"controls": {"no_text": "yes"}}, InvalidRequestError,
         "provider_params.controls.no_text"),
        ("recraftv3", {"controls": "bright"}, InvalidRequestError, "provider_params.controls"),
        ("recraftv3", {"text_layout": [{"text": "HI", "bbox": [[0, 0]]}]}, InvalidRequestError,
         "provider_params.text_layout[0].bbox"),
        ("recraftv3", {"random_seed": -1}, InvalidRequestError, "provider_params.random_seed"),
        ("recraftv3", {"image_format": "jpeg"}, InvalidRequestError,
         "provider_params.image_format"),
        ("recraftv3_vector", {"image_format": "png"}, UnsupportedParameterError,
         "provider_params.image_format"),
        ("recraftv3", {"model": "recraftv2"}, InvalidRequestError, "provider_params.model"),
    ],
)  # fmt: skip
async def test_provider_params_are_typed_per_model_family(
    recraft_fake: RecraftFake,
    gateway: Gateway,
    model: str,
    params: dict[str, Any],
    error: type[ImageGenError],
    field: str,
) -> None:
    raised = await rejected(gateway, error, model=model, prompt="x", provider_params=params)
    assert raised.code is Code.INVALID_ARGUMENT
    assert field_of(raised) == field
    assert recraft_fake.requests == []


async def test_text_layout_and_v4_controls_reach_recraft(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    layout = [{"text": "HELLO", "bbox": [[0.3, 0.45], [0.6, 0.45], [0.6, 0.55], [0.3, 0.55]]}]
    await generate(
        gateway, model="recraftv3", prompt="a sign", provider_params={"text_layout": layout}
    )
    assert sent(recraft_fake)["text_layout"] == layout

    controls = {"colors": [{"rgb": [0, 0, 0]}], "background_color": {"rgb": [250, 250, 250]}}
    await generate(
        gateway, model="recraftv4_1", prompt="a sign", provider_params={"controls": controls}
    )
    assert sent(recraft_fake)["controls"] == controls


@pytest.mark.parametrize(("model", "limit"), [("recraftv3", 1000), ("recraftv4", 10000)])
async def test_prompt_limit_depends_on_the_model_family(
    recraft_fake: RecraftFake, gateway: Gateway, model: str, limit: int
) -> None:
    await generate(gateway, model=model, prompt="a" * limit)
    assert len(sent(recraft_fake)["prompt"]) == limit
    error = await rejected(gateway, InvalidRequestError, model=model, prompt="a" * (limit + 1))
    assert field_of(error) == "prompt"
    assert len(recraft_fake.requests) == 1


@pytest.mark.parametrize(
    ("fields", "field"), [({"quality": "hd"}, "quality"), ({"user": "u"}, "user")]
)
async def test_openai_fields_recraft_lacks_are_unsupported(
    recraft_fake: RecraftFake, gateway: Gateway, fields: dict[str, Any], field: str
) -> None:
    error = await rejected(
        gateway, UnsupportedParameterError, model="recraftv3", prompt="x", **fields
    )
    assert field_of(error) == field
    assert recraft_fake.requests == []


async def test_key_comes_from_recraft_api_key(
    recraft_fake: RecraftFake, gateway_for: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECRAFT_API_KEY", KEY)
    gateway = gateway_for(
        config([entry("v3", base(recraft_fake), model="recraftv3", api_key=None)])
    )
    await generate(gateway, model="v3", prompt="x")
    assert recraft_fake.last_request.headers["authorization"] == f"Bearer {KEY}"


async def test_missing_key_fails_at_config_load() -> None:
    with pytest.raises(ConfigError, match="RECRAFT_API_KEY"):
        parse_settings(config([entry("v3", "https://example.test/v1", api_key=None)]))


# --------------------------------------------------------------------------- n and fan-out


async def test_n_up_to_six_is_one_call(recraft_fake: RecraftFake, gateway: Gateway) -> None:
    generation = await generate(gateway, model="recraftv4_1", prompt="x", n=6)
    assert len(recraft_fake.requests) == 1
    assert sent(recraft_fake)["n"] == 6
    assert len(generation.result.images) == 6
    assert generation.facts.attempts == 1
    assert generation.facts.response_cost == 6 * Decimal("0.035")


async def test_n_above_six_fans_out_into_parallel_calls(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="recraftv3", prompt="x", n=10, style="any")
    assert sorted(r.json["n"] for r in recraft_fake.requests) == [4, 6]
    assert len(generation.result.images) == 10
    assert len({image.url for image in generation.result.images}) == 10
    assert generation.facts.attempts == 2
    assert generation.facts.response_cost == 10 * V3_RASTER


async def test_one_failing_sub_call_fails_the_call_costing_what_was_made(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    recraft_fake.fail_next(500, {"code": "internal_error", "message": "internal server error"})
    error = await rejected(gateway, ProviderUnavailableError, model="recraftv3", prompt="x", n=9)
    # The scripted failure answered whichever sub-call arrived first; the other was billed.
    failed, finished = recraft_fake.requests
    assert failed.json["n"] + finished.json["n"] == 9
    assert error.facts is not None
    assert error.facts.attempts == 2
    assert error.facts.response_cost == finished.json["n"] * V3_RASTER


async def test_one_refused_sub_call_is_reported_as_filtered(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    recraft_fake.fail_next(
        400, {"code": "inappropriate_content", "message": "flagged as inappropriate"}
    )
    generation = await generate(gateway, model="recraftv3", prompt="x", n=8)
    refused, served = recraft_fake.requests
    assert generation.facts.filtered == refused.json["n"]
    assert len(generation.result.images) == served.json["n"]
    assert generation.facts.response_cost == served.json["n"] * V3_RASTER


# --------------------------------------------------------------------------- safety


async def test_refused_prompt_is_a_content_policy_violation_costing_nothing(
    gateway: Gateway,
) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="recraftv3", prompt="forbidden"
    )
    assert error.reason == "CONTENT_POLICY_VIOLATION"
    assert error.code is Code.INVALID_ARGUMENT
    assert error.metadata["provider"] == "recraft"
    assert error.metadata["upstream_status"] == "400"
    assert "inappropriate" in error.message
    assert error.facts is not None
    assert error.facts.response_cost == 0


async def test_fewer_images_than_asked_are_reported_as_filtered(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway, model="recraftv3", prompt="nsfwimage", n=3, provider_params={"block_nsfw": True}
    )
    assert sent(recraft_fake)["block_nsfw"] is True
    assert len(generation.result.images) == 2
    assert generation.facts.filtered == 1
    # Priced by the images that came back, as Recraft bills them.
    assert generation.facts.response_cost == 2 * V3_RASTER
    assert recraft_fake.credits_charged == 80


async def test_no_images_at_all_is_a_content_policy_violation(gateway: Gateway) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="recraftv3", prompt="nsfwimage"
    )
    assert "none of the 1 image" in error.message
    assert error.facts is not None
    assert error.facts.response_cost == 0


# --------------------------------------------------------------------------- errors


async def test_rejected_configured_key_is_an_operator_problem(
    recraft_fake: RecraftFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("v3", base(recraft_fake), model="recraftv3", api_key="wrong-key-0123456789")])
    )
    error = await rejected(gateway, ProviderAuthenticationError, model="v3", prompt="x")
    assert error.code is Code.FAILED_PRECONDITION
    assert error.metadata["upstream_status"] == "401"
    assert "wrong-key" not in str(error)
    assert "upstream_code" not in error.metadata


async def test_rejected_caller_key_is_unauthenticated(gateway: Gateway) -> None:
    error = await rejected(
        gateway,
        CallerCredentialRejectedError,
        model="recraftv3",
        prompt="x",
        api_key="caller-key-0123456789",
    )
    assert error.code is Code.UNAUTHENTICATED


async def test_wrong_api_base_path_is_a_plain_text_404(
    recraft_fake: RecraftFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config([entry("v3", recraft_fake.base_url, model="recraftv3")]))
    error = await rejected(gateway, ProviderModelNotFoundError, model="v3", prompt="x")
    assert recraft_fake.last_request.path == "/images/generations"
    assert error.message == "recraft answered 404 page not found: check api_base"


async def test_model_recraft_does_not_serve_is_provider_model_not_found(
    recraft_fake: RecraftFake, gateway_for: GatewayFactory
) -> None:
    # Unknown ids pass through (Recraft also serves third-party models); Recraft says no.
    gateway = gateway_for(config([entry("v9", base(recraft_fake), model="recraftv9")]))
    error = await rejected(gateway, ProviderModelNotFoundError, model="v9", prompt="x", n=2)
    assert sent(recraft_fake)["model"] == "recraftv9"
    assert error.metadata["upstream_code"] == "invalid_model"
    assert error.code is Code.NOT_FOUND


async def test_rate_limit_carries_retry_after(gateway: Gateway) -> None:
    error = await rejected(gateway, ProviderRateLimitedError, model="recraftv3", prompt="ratelimit")
    assert error.code is Code.UNAVAILABLE
    assert error.retry_after == 7


async def test_empty_balance_is_quota_exceeded(gateway: Gateway) -> None:
    error = await rejected(
        gateway, ProviderQuotaExceededError, model="recraftv3", prompt="nocredits"
    )
    assert error.code is Code.RESOURCE_EXHAUSTED
    assert error.metadata["upstream_status"] == "402"
    assert error.metadata["upstream_code"] == "not_enough_credits"
    assert error.facts is not None
    assert error.facts.response_cost == 0


@pytest.mark.parametrize(("prompt", "status"), [("servererror", "500"), ("unavailable", "503")])
async def test_server_failures_are_provider_unavailable(
    gateway: Gateway, prompt: str, status: str
) -> None:
    error = await rejected(gateway, ProviderUnavailableError, model="recraftv3", prompt=prompt)
    assert error.metadata["upstream_status"] == status


async def test_recraft_validation_error_is_provider_invalid_request(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    recraft_fake.fail_next(400, {"code": "invalid_size", "message": "size 7x7 is not supported"})
    error = await rejected(gateway, ProviderInvalidRequestError, model="recraftv3", prompt="x")
    assert error.code is Code.INVALID_ARGUMENT
    assert error.metadata["upstream_code"] == "invalid_size"
    assert error.message == "size 7x7 is not supported"


async def test_deadline_while_recraft_hangs_drops_the_connection(
    recraft_fake: RecraftFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, DeadlineExceededError, model="recraftv3", prompt="hang", timeout=0.3
    )
    await asyncio.wait_for(recraft_fake.disconnected.wait(), 5)
    assert error.facts is not None
    # The request reached Recraft and may have been billed.
    assert error.facts.response_cost is None


@pytest.mark.parametrize(
    "body",
    [
        "<html>bad gateway</html>",
        {"created": 1, "credits": 0},
        {"created": 1, "credits": 40, "data": [{"image_id": "x", "b64_json": "!!!"}]},
        {"created": 1, "credits": 40, "data": [{"image_id": "x"}]},
        {"created": 1, "credits": 40, "data": ["x"]},
    ],
)
async def test_unusable_success_answer_is_a_bad_response_of_unknown_cost(
    recraft_fake: RecraftFake, gateway: Gateway, body: dict[str, Any] | str
) -> None:
    recraft_fake.fail_next(200, body)
    error = await rejected(gateway, ProviderBadResponseError, model="recraftv3", prompt="x")
    assert error.facts is not None
    assert error.facts.response_cost is None


# --------------------------------------------------------------------------- gRPC end to end


def text_trailers(metadata: Any) -> dict[str, str]:
    return {key: value for key, value in metadata or () if isinstance(value, str)}


def grpc_config(fake: RecraftFake) -> str:
    entries = [
        entry(m, base(fake)) | {"model_info": {"id": f"rc-{m}"}}
        for m in ("recraftv3", "recraftv3_vector", "recraftv4_1", "recraftv4_1_pro_vector")
    ]
    return config(entries)


async def test_grpc_generate_returns_bytes_cost_and_trailers(
    serve: ServeFactory, recraft_fake: RecraftFake
) -> None:
    served = await serve(grpc_config(recraft_fake))
    params = struct_pb2.Struct()
    params.update({"controls": {"artistic_level": 2.0}, "random_seed": 7.0})
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt="an otter",
            model="recraftv3",
            n=2,
            size="1536x1024",
            style="vector_illustration",
            response_format=pb.RESPONSE_FORMAT_B64_JSON,
            provider_params=params,
            request_id="rc-1",
        )
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())

    # Struct numbers arrive as floats; Recraft gets integers.
    assert sent(recraft_fake)["controls"] == {"artistic_level": 2}
    assert sent(recraft_fake)["random_seed"] == 7
    assert len(response.images) == 2
    for image in response.images:
        assert image.mime_type == "image/svg+xml"
        assert image.data.startswith(b"<?xml")
    assert response.cost.response_cost == "0.16"
    assert trailers.keys() >= TRAILER_KEYS
    assert trailers["x-imagegen-response-cost"] == "0.16"
    assert trailers["x-imagegen-provider"] == "recraft"
    assert trailers["x-imagegen-model-id"] == "rc-recraftv3"
    assert trailers["x-imagegen-api-base"] == base(recraft_fake)
    assert trailers["x-imagegen-attempts"] == "1"
    assert trailers["x-imagegen-request-id"] == "rc-1"
    assert response.filtered_count == 0


async def test_grpc_fan_out_with_a_refused_sub_call_reports_filtered_count(
    serve: ServeFactory, recraft_fake: RecraftFake
) -> None:
    served = await serve(grpc_config(recraft_fake))
    recraft_fake.fail_next(400, {"code": "inappropriate_content", "message": "NSFW"})
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="x", model="recraftv4_1", n=7)
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())

    refused, made = recraft_fake.requests
    assert response.filtered_count == refused.json["n"]
    assert trailers["x-imagegen-filtered-count"] == str(refused.json["n"])
    assert len(response.images) == made.json["n"]
    assert all(image.url.startswith("https://img.recraft.ai/") for image in response.images)
    expected = made.json["n"] * Decimal("0.035")
    assert Decimal(response.cost.response_cost) == expected
    assert Decimal(trailers["x-imagegen-response-cost"]) == expected
    assert trailers["x-imagegen-attempts"] == "2"


async def test_grpc_plain_text_401_and_content_policy_statuses(
    serve: ServeFactory, recraft_fake: RecraftFake
) -> None:
    served = await serve(grpc_config(recraft_fake))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await served.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="forbidden", model="recraftv3")
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(refused.value) == "CONTENT_POLICY_VIOLATION"
    assert text_trailers(refused.value.trailing_metadata())["x-imagegen-response-cost"] == "0"

    recraft_fake.fail_next(401, "request unauthorized", content_type="text/plain")
    with pytest.raises(grpc.aio.AioRpcError) as unauthorized:
        await served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="x", model="recraftv3"))
    assert unauthorized.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(unauthorized.value) == "PROVIDER_AUTHENTICATION_FAILED"


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    raise AssertionError("no ErrorInfo")


async def test_grpc_list_models_describes_each_family(
    serve: ServeFactory, recraft_fake: RecraftFake
) -> None:
    served = await serve(grpc_config(recraft_fake))
    response = await served.stub.ListModels(pb.ListModelsRequest())
    models = {m.name: m for m in response.models}
    assert list(models) == [
        "recraftv3",
        "recraftv3_vector",
        "recraftv4_1",
        "recraftv4_1_pro_vector",
    ]

    v3 = models["recraftv3"]
    assert (v3.provider, v3.provider_model, v3.model_id) == ("recraft", "recraftv3", "rc-recraftv3")
    assert list(v3.sizes) == list(V2_V3_SIZES)
    assert list(v3.aspect_ratios) == []
    assert list(v3.styles) == [
        "any", "realistic_image", "digital_illustration", "vector_illustration", "logo_raster"
    ]  # fmt: skip
    assert (v3.max_n, v3.fan_out, v3.price_basis) == (10, True, "per_image")
    assert list(v3.qualities) == []
    assert {"n", "size", "style", "response_format", "provider_params.controls",
            "provider_params.substyle", "provider_params.negative_prompt",
            "provider_params.text_layout"} <= set(v3.supported_params)  # fmt: skip

    vector = models["recraftv3_vector"]
    assert list(vector.sizes) == []
    assert list(vector.aspect_ratios) == list(VECTOR_ASPECT_RATIOS)
    assert list(vector.styles) == ["vector_illustration"]

    v41 = models["recraftv4_1"]
    assert list(v41.sizes) == list(V4_SIZES)
    assert list(v41.styles) == []
    assert "style" not in v41.supported_params
    assert "provider_params.negative_prompt" not in v41.supported_params
    # No published price found for V4.1 Pro Vector: said so, never $0.
    assert models["recraftv4_1_pro_vector"].price_basis == "unknown"


# --------------------------------------------------------------------------- pure transforms


def provider_call(
    model: str,
    *,
    size: str | None = None,
    aspect_ratio: str | None = None,
    style: str | None = None,
    extra: dict[str, Any] | None = None,
    caller_credentials: bool = False,
) -> ProviderCall:
    return ProviderCall(
        provider_model=model,
        spec=recraft_model(model).spec,
        params=CallParams(
            n=2,
            quality=None,
            size=size,
            style=style,
            user=None,
            response_format=ResponseFormat.URL,
            extra=dict(extra or {}),
            aspect_ratio=aspect_ratio,
        ),
        prompt="a red fox",
        endpoint=Endpoint(api_key="rk-unit", caller_credentials=caller_credentials),
        deadline=Deadline.after(60),
    )


def test_build_request_is_a_pure_transform() -> None:
    request = RecraftProvider().build_request(
        provider_call("recraftv3_vector", aspect_ratio="7:5", style="vector_illustration")
    )
    assert request.url == "https://external.api.recraft.ai/v1/images/generations"
    assert dict(request.headers) == {"authorization": "Bearer rk-unit"}
    assert dict(request.json) == {
        "prompt": "a red fox",
        "model": "recraftv3_vector",
        "n": 2,
        "size": "14:10",
        "style": "vector_illustration",
        "response_format": "url",
    }


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain; charset=utf-8"}


def coded(code: str, message: str = "m") -> bytes:
    return _json({"code": code, "message": message})


@pytest.mark.parametrize(
    ("status", "headers", "content", "expected"),
    [
        (401, TEXT, b"request unauthorized\n", ProviderAuthenticationError),
        (404, TEXT, b"404 page not found\n", ProviderModelNotFoundError),
        (400, JSON, coded("invalid_size"), ProviderInvalidRequestError),
        (400, JSON, coded("inappropriate_content"), ContentPolicyViolationError),
        (400, JSON, coded("x", "NSFW content detected"), ContentPolicyViolationError),
        (
            400,
            JSON,
            _json({"error": {"code": "x", "message": "rejected by moderation"}}),
            ContentPolicyViolationError,
        ),
        (
            400,
            JSON,
            _json({"detail": "prompt violates our content policy"}),
            ContentPolicyViolationError,
        ),
        (400, JSON, coded("invalid_model"), ProviderModelNotFoundError),
        (402, JSON, coded("not_enough_credits"), ProviderQuotaExceededError),
        (403, JSON, coded("not_enough_credits"), ProviderQuotaExceededError),
        (429, {**TEXT, "retry-after": "3"}, b"too many requests", ProviderRateLimitedError),
        (500, TEXT, b"internal error", ProviderUnavailableError),
        # JSON only when the Content-Type says so: this is text, read as text.
        (400, TEXT, coded("invalid_model"), ProviderInvalidRequestError),
    ],
)
def test_parse_error_reads_plain_text_and_json_bodies(
    status: int, headers: dict[str, str], content: bytes, expected: type[ImageGenError]
) -> None:
    error = RecraftProvider().parse_error(
        provider_call("recraftv3"), HttpResponse(status, headers, content)
    )
    assert type(error) is expected, repr(error)
    assert error.metadata["upstream_status"] == str(status)
    assert error.metadata["provider"] == "recraft"
    if "retry-after" in headers:
        assert error.retry_after == 3


def test_parse_response_reads_svg_and_urls_and_counts_missing_images() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>'
    content = _json(
        {
            "created": 9,
            "credits": 80,
            "data": [
                {
                    "image_id": "a",
                    "b64_json": base64.b64encode(svg).decode(),
                    "revised_prompt": "a fox, flat",
                    "features": {"nsfw_score": 0.1},
                }
            ],
        }
    )
    result = RecraftProvider().parse_response(
        provider_call("recraftv3", size="1024x1024", style="realistic_image"),
        HttpResponse(200, {"x-a": "b"}, content),
    )
    (image,) = result.images
    assert image.data() == svg
    assert image.revised_prompt == "a fox, flat"
    # The answer shows a vector image: that is what is billed, whatever the style said.
    assert (result.quality, result.size, result.created) == ("vector", "1024x1024", 9)
    assert result.filtered == 1
    assert result.headers == {"x-a": "b"}
