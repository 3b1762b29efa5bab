"""The Gemini API adapter (`gemini/...`) against the Gemini fake.

Imagen models through `:predict` and Gemini image models through `:generateContent`, through
the in-process Gateway and end to end through the gRPC server: URLs and auth, body mapping per
family, aspect ratios and image-size tiers, every safety outcome, every error shape, n fan-out
and the cost of each model.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import (
    CallerCredentialRejectedError,
    ConfigError,
    ContentPolicyViolationError,
    DeadlineExceededError,
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
from imagegen.imagefmt import image_dimensions
from imagegen.pricing import load_price_table
from imagegen.providers.gemini import GEMINI_MODELS, GeminiProvider, google_model
from imagegen.providers.google_common import gemini_usage
from imagegen.types import GeneratedImage, ImageRequest, TokenDetails, Usage
from tests.conftest import TRAILER_KEYS, GatewayFactory, ServeFactory
from tests.fakes.gemini import THOUGHT_TOKENS, GeminiFake
from tests.fakes.images import jpeg_bytes, png_bytes

KEY = "gemini-test-key"
MILLION = Decimal(1_000_000)
# Public model name → Gemini API model id, all served by the fake.
MODELS = {
    "imagen-4": "imagen-4.0-generate-001",
    "imagen-4-ultra": "imagen-4.0-ultra-generate-001",
    "imagen-4-fast": "imagen-4.0-fast-generate-001",
    "imagen-3": "imagen-3.0-generate-002",
    "flash-image": "gemini-2.5-flash-image",
    "pro-image": "gemini-3-pro-image-preview",
    "flash-31-image": "gemini-3.1-flash-image-preview",
    "flash-lite-image": "gemini-3.1-flash-lite-image",
}
# Token rates from prices.toml (USD per million): text input, image output, text output.
RATES = {
    "flash-image": (Decimal("0.30"), Decimal(30), Decimal("2.50")),
    "pro-image": (Decimal(2), Decimal(120), Decimal(12)),
    "flash-31-image": (Decimal("0.50"), Decimal(60), Decimal(3)),
}


def entry(name: str, model: str, api_base: str, **params: Any) -> dict[str, Any]:
    litellm_params: dict[str, Any] = {"model": f"gemini/{model}", "api_base": api_base}
    litellm_params.setdefault("api_key", KEY)
    litellm_params.update(params)
    return {"model_name": name, "litellm_params": litellm_params, "model_info": {"id": name}}


def config(entries: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump({"model_list": list(entries)})


@pytest.fixture
async def gemini_fake() -> AsyncIterator[GeminiFake]:
    async with GeminiFake() as fake:
        yield fake


@pytest.fixture
def gateway(gemini_fake: GeminiFake, gateway_for: GatewayFactory) -> Gateway:
    """Every model under its short name; the bare fake host (the adapter adds /v1beta)."""
    return gateway_for(
        config(entry(name, model, gemini_fake.base_url) for name, model in MODELS.items())
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(**fields))


async def rejected(gateway: Gateway, error: type[ImageGenError], **fields: Any) -> ImageGenError:
    """The error `gateway` raises for the request; its class must be exactly `error`."""
    with pytest.raises(ImageGenError) as info:
        await generate(gateway, **fields)
    assert type(info.value) is error, repr(info.value)
    return info.value


def pillow(image: GeneratedImage) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(image.data())) as decoded:
        return decoded.format, decoded.size


def token_cost(name: str, *, prompt: int, image: int, text: int = 0) -> Decimal:
    text_in, image_out, text_out = RATES[name]
    return (prompt * text_in + image * image_out + text * text_out) / MILLION


def google_error(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return {"error": error}


IMAGE_SAFETY_BODY = {
    "candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}],
    "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
}


# --------------------------------------------------------------------------- Imagen (:predict)


async def test_imagen_url_key_header_body_ratio_and_tier_from_size(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen-4", prompt="a red fox", size="1920x1080")

    (sent,) = gemini_fake.requests
    assert sent.method == "POST"
    assert sent.path == "/v1beta/models/imagen-4.0-generate-001:predict"
    assert sent.query == {}
    assert sent.headers["x-goog-api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.headers["content-type"] == "application/json"
    # 1920x1080 is 16:9 and about 2 megapixels: the 2K tier, so the caller gets at least that.
    assert sent.json == {
        "instances": [{"prompt": "a red fox"}],
        "parameters": {
            "sampleCount": 1,
            "aspectRatio": "16:9",
            "sampleImageSize": "2K",
            "includeRaiReason": True,
        },
    }
    (image,) = generation.result.images
    assert pillow(image) == ("PNG", (2816, 1536))
    assert (image.mime_type, image.width, image.height) == ("image/png", 2816, 1536)
    assert generation.result.filtered == 0
    assert generation.result.headers["server"] == "scaffolding on HTTPServer2"
    facts = generation.facts
    assert (facts.provider, facts.provider_model) == ("gemini", "imagen-4.0-generate-001")
    assert facts.api_base == f"{gemini_fake.base_url}/v1beta"
    assert facts.attempts == 1
    assert facts.response_cost == Decimal("0.04")


async def test_imagen_n_up_to_four_is_one_call_priced_per_image(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen-4", prompt="owls", n=3, size="3:4")
    (sent,) = gemini_fake.requests
    assert sent.json["parameters"] == {
        "sampleCount": 3,
        "aspectRatio": "3:4",
        "includeRaiReason": True,
    }
    assert [pillow(image) for image in generation.result.images] == [("PNG", (896, 1280))] * 3
    # Three images from one call are three different pictures.
    assert len({image.data() for image in generation.result.images}) == 3
    assert generation.facts.response_cost == Decimal("0.12")


async def test_imagen_n_above_four_fans_out_in_parallel(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen-4", prompt="owls", n=6)
    counts = sorted(r.json["parameters"]["sampleCount"] for r in gemini_fake.requests)
    assert counts == [2, 4]
    assert len(generation.result.images) == 6
    assert generation.facts.attempts == 2
    assert generation.facts.response_cost == Decimal("0.24")


async def test_imagen_4_ultra_makes_one_image_per_call(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen-4-ultra", prompt="a lighthouse", n=2)
    assert [r.path for r in gemini_fake.requests] == [
        "/v1beta/models/imagen-4.0-ultra-generate-001:predict"
    ] * 2
    assert [r.json["parameters"]["sampleCount"] for r in gemini_fake.requests] == [1, 1]
    assert len(generation.result.images) == 2
    assert generation.facts.response_cost == Decimal("0.12")


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("imagen-4", "0.04"),
        ("imagen-4-ultra", "0.06"),
        ("imagen-4-fast", "0.02"),
        ("imagen-3", "0.04"),
    ],
)
async def test_each_imagen_model_costs_its_per_image_price(
    gateway: Gateway, model: str, price: str
) -> None:
    generation = await generate(gateway, model=model, prompt="a kite")
    assert generation.facts.response_cost == Decimal(price)


async def test_imagen_provider_params_map_to_the_wire_names(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="imagen-4",
        prompt="a market",
        size="4:3",
        provider_params={
            "person_generation": "allow_adult",
            "safety_filter_level": "block_only_high",
            "include_safety_attributes": True,
            "output_mime_type": "image/jpeg",
            "output_compression_quality": 60,
            "guidance_scale": 7.5,
            "language": "en",
            "image_size": "1K",
        },
    )
    assert gemini_fake.last_request.json["parameters"] == {
        "sampleCount": 1,
        "aspectRatio": "4:3",
        "sampleImageSize": "1K",
        "personGeneration": "allow_adult",
        "safetySetting": "block_only_high",
        "includeSafetyAttributes": True,
        "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 60},
        "guidanceScale": 7.5,
        "language": "en",
        "includeRaiReason": True,
    }
    (image,) = generation.result.images
    assert image.mime_type == "image/jpeg"
    assert pillow(image) == ("JPEG", (1280, 896))
    assert (image.width, image.height) == (1280, 896)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        # Vertex-only values the Gemini API refuses.
        ({"person_generation": "allow_all"}, "provider_params.person_generation"),
        ({"safety_filter_level": "block_none"}, "provider_params.safety_filter_level"),
        ({"output_mime_type": "image/webp"}, "provider_params.output_mime_type"),
        ({"output_compression_quality": 101}, "provider_params.output_compression_quality"),
        ({"image_size": "4K"}, "provider_params.image_size"),
    ],
)
async def test_bad_imagen_provider_param_values_are_invalid_and_nothing_is_sent(
    gemini_fake: GeminiFake, gateway: Gateway, params: dict[str, Any], field: str
) -> None:
    error = await rejected(
        gateway, InvalidRequestError, model="imagen-4", prompt="x", provider_params=params
    )
    assert [v.field for v in error.field_violations] == [field]
    assert gemini_fake.requests == []


@pytest.mark.parametrize("name", ["negative_prompt", "seed", "add_watermark", "enhance_prompt"])
async def test_vertex_only_imagen_params_are_unsupported(
    gemini_fake: GeminiFake, gateway: Gateway, name: str
) -> None:
    error = await rejected(
        gateway, UnsupportedParameterError, model="imagen-4", prompt="x", provider_params={name: 1}
    )
    assert error.metadata["field"] == f"provider_params.{name}"
    assert gemini_fake.requests == []


async def test_imagen_fast_has_no_image_size_tiers(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway,
        UnsupportedParameterError,
        model="imagen-4-fast",
        prompt="x",
        provider_params={"image_size": "2K"},
    )
    assert error.metadata["field"] == "provider_params.image_size"
    # A 1K-sized request goes out without a tier (the model has only one).
    await generate(gateway, model="imagen-4-fast", prompt="x", size="1024x1024")
    assert "sampleImageSize" not in gemini_fake.last_request.json["parameters"]


async def test_a_size_larger_than_the_largest_tier_fails_listing_tiers_before_sending(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, InvalidRequestError, model="imagen-4-fast", prompt="x", size="2048x2048"
    )
    (violation,) = error.field_violations
    assert violation.field == "size"
    assert "1K" in violation.description
    assert gemini_fake.requests == []
    assert error.facts is not None
    assert error.facts.response_cost == Decimal(0)


async def test_imagen_some_images_filtered_are_reported_and_not_billed(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen-4", prompt="partlyforbidden cats", n=4)
    assert len(generation.result.images) == 2
    assert generation.result.filtered == 2
    assert generation.facts.filtered == 2
    assert generation.facts.response_cost == Decimal("0.08")


async def test_imagen_fewer_predictions_without_a_reason_count_as_filtered(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    one = base64.b64encode(png_bytes(1024, 1024)).decode()
    gemini_fake.fail_next(
        200, {"predictions": [{"bytesBase64Encoded": one, "mimeType": "image/png"}]}
    )
    generation = await generate(gateway, model="imagen-4", prompt="cats", n=3)
    assert len(generation.result.images) == 1
    assert generation.facts.filtered == 2
    assert generation.facts.response_cost == Decimal("0.04")


async def test_imagen_every_image_filtered_quotes_the_rai_reason_and_costs_nothing(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="imagen-4", prompt="forbidden", n=2
    )
    assert "All images were filtered out" in error.message
    assert error.metadata["provider"] == "gemini"
    assert error.facts is not None
    assert error.facts.response_cost == Decimal(0)


async def test_imagen_bare_empty_body_is_a_content_policy_violation(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    # Without includeRaiReason an all-filtered answer is `{}`: no predictions key at all.
    error = await rejected(
        gateway,
        ContentPolicyViolationError,
        model="imagen-4",
        prompt="forbidden",
        provider_params={"include_rai_reason": False},
    )
    assert gemini_fake.last_request.json["parameters"]["includeRaiReason"] is False
    assert "filtered" in error.message


async def test_imagen_images_stored_in_cloud_storage_are_a_bad_response(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    gemini_fake.fail_next(
        200, {"predictions": [{"gcsUri": "gs://b/x.png", "mimeType": "image/png"}]}
    )
    await rejected(gateway, ProviderBadResponseError, model="imagen-4", prompt="x")


# ------------------------------------------------------------- Gemini image (:generateContent)


async def test_gemini_image_goes_to_generate_content_with_image_config(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway, model="flash-image", prompt="a red fox in snow", size="1248x832"
    )
    (sent,) = gemini_fake.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "a red fox in snow"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "3:2"},
        },
    }
    (image,) = generation.result.images
    assert pillow(image) == ("PNG", (1248, 832))
    usage = generation.result.usage
    assert usage == Usage(
        input_tokens=5,
        output_tokens=1290,
        total_tokens=1295,
        input_tokens_details=TokenDetails(text_tokens=5, image_tokens=0),
        output_tokens_details=TokenDetails(text_tokens=0, image_tokens=1290),
    )
    assert generation.facts.response_cost == token_cost("flash-image", prompt=5, image=1290)


async def test_gemini_without_size_sends_no_image_config(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    await generate(gateway, model="flash-image", prompt="a fox")
    assert gemini_fake.last_request.json["generationConfig"] == {"responseModalities": ["IMAGE"]}


async def test_gemini_3_pro_tier_from_size_skips_thought_parts_and_bills_thinking(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="pro-image", prompt="a city", size="2048x1152")
    sent = gemini_fake.last_request
    assert sent.path == "/v1beta/models/gemini-3-pro-image-preview:generateContent"
    assert sent.json["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "2K",
    }
    # The fake sends an interim thought image first; only the final image is the caller's.
    (image,) = generation.result.images
    assert pillow(image) == ("PNG", (2688, 1536))
    usage = generation.result.usage
    assert usage is not None
    assert usage.output_tokens == 1120 + THOUGHT_TOKENS
    assert usage.output_tokens_details == TokenDetails(
        text_tokens=THOUGHT_TOKENS, image_tokens=1120
    )
    assert generation.facts.response_cost == token_cost(
        "pro-image", prompt=2, image=1120, text=THOUGHT_TOKENS
    )


async def test_gemini_3_pro_4k_costs_its_4k_tokens(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway, model="pro-image", prompt="a map", size="1:1", provider_params={"image_size": "4K"}
    )
    assert gemini_fake.last_request.json["generationConfig"]["imageConfig"] == {
        "aspectRatio": "1:1",
        "imageSize": "4K",
    }
    (image,) = generation.result.images
    assert (image.width, image.height) == (4096, 4096)
    cost = token_cost("pro-image", prompt=2, image=2000, text=THOUGHT_TOKENS)
    assert generation.facts.response_cost == cost
    # $120/1M for 2000 tokens: the $0.24 a 4K image is listed at, plus prompt and thinking.
    assert Decimal("0.24") < cost < Decimal("0.25")


async def test_gemini_31_flash_small_sizes_and_extra_ratios(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="flash-31-image", prompt="a tower", size="512x2048")
    assert gemini_fake.last_request.json["generationConfig"]["imageConfig"] == {
        "aspectRatio": "1:4",
        "imageSize": "1K",
    }
    assert generation.facts.response_cost == token_cost(
        "flash-31-image", prompt=2, image=1120, text=THOUGHT_TOKENS
    )
    await generate(gateway, model="flash-31-image", prompt="a stamp", size="512x512")
    assert gemini_fake.last_request.json["generationConfig"]["imageConfig"] == {
        "aspectRatio": "1:1",
        "imageSize": "0.5K",
    }
    # 1:4 is a Gemini 3.1 ratio; 2.5 flash image does not make it.
    error = await rejected(
        gateway, InvalidRequestError, model="flash-image", prompt="x", size="1:4"
    )
    assert "21:9" in error.field_violations[0].description


async def test_gemini_unsupported_ratio_fails_listing_ratios_and_nothing_is_sent(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, InvalidRequestError, model="flash-image", prompt="x", size="1792x1024"
    )
    (violation,) = error.field_violations
    assert violation.field == "size"
    assert "7:4" in violation.description
    for ratio in ("1:1", "2:3", "3:2", "4:5", "16:9", "21:9"):
        assert ratio in violation.description
    assert gemini_fake.requests == []


async def test_gemini_coerce_size_picks_the_nearest_ratio_and_reports_it(
    gemini_fake: GeminiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry(
                    "flash-image",
                    "gemini-2.5-flash-image",
                    gemini_fake.base_url,
                    coerce_size=True,
                )
            ]
        )
    )
    generation = await generate(gateway, model="flash-image", prompt="x", size="1792x1024")
    assert gemini_fake.last_request.json["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9"
    }
    assert (generation.facts.size_requested, generation.facts.size_actual) == (
        "1792x1024",
        "16:9",
    )
    (image,) = generation.result.images
    assert (image.width, image.height) == (1344, 768)


async def test_gemini_25_makes_only_1k_so_a_larger_size_fails_and_image_size_is_unsupported(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, InvalidRequestError, model="flash-image", prompt="x", size="2048x2048"
    )
    assert error.metadata["field"] == "size"
    error = await rejected(
        gateway,
        UnsupportedParameterError,
        model="flash-image",
        prompt="x",
        provider_params={"image_size": "2K"},
    )
    assert error.metadata["field"] == "provider_params.image_size"
    assert gemini_fake.requests == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"response_format": "url"}, "response_format"),
        ({"quality": "hd"}, "quality"),
        ({"style": "vivid"}, "style"),
        ({"user": "u-1"}, "user"),
    ],
)
async def test_parameters_google_does_not_take_are_unsupported(
    gemini_fake: GeminiFake, gateway: Gateway, fields: dict[str, Any], field: str
) -> None:
    for model in ("imagen-4", "flash-image"):
        error = await rejected(
            gateway, UnsupportedParameterError, model=model, prompt="x", **fields
        )
        assert error.metadata["field"] == field
    assert gemini_fake.requests == []


async def test_gemini_n_is_served_by_parallel_single_image_calls(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="flash-image", prompt="three cats", n=3)
    assert len(gemini_fake.requests) == 3
    for sent in gemini_fake.requests:
        assert sent.path.endswith("/gemini-2.5-flash-image:generateContent")
        assert "candidateCount" not in sent.json["generationConfig"]
    assert len(generation.result.images) == 3
    assert generation.facts.attempts == 3
    assert generation.result.usage is not None
    assert generation.result.usage.output_tokens == 3 * 1290
    assert generation.facts.response_cost == 3 * token_cost("flash-image", prompt=2, image=1290)


async def test_fan_out_with_one_failing_sub_call_fails_and_reports_what_was_billed(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    gemini_fake.fail_next(500, google_error(500, "INTERNAL", "An internal error has occurred."))
    error = await rejected(
        gateway, ProviderUnavailableError, model="flash-image", prompt="cats", n=3
    )
    assert len(gemini_fake.requests) == 3
    assert error.facts is not None
    assert error.facts.attempts == 3
    # The two finished sub-calls were billed; the failed one (an HTTP error) was not.
    assert error.facts.response_cost == 2 * token_cost("flash-image", prompt=1, image=1290)


async def test_fan_out_with_one_safety_filtered_sub_call_reports_filtered_count(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    gemini_fake.fail_next(200, IMAGE_SAFETY_BODY)
    generation = await generate(gateway, model="flash-image", prompt="cats", n=3)
    assert len(generation.result.images) == 2
    assert generation.facts.filtered == 1
    assert generation.facts.response_cost == 2 * token_cost("flash-image", prompt=1, image=1290)


async def test_fan_out_where_every_sub_call_is_refused_is_a_content_policy_violation(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="flash-image", prompt="forbidden", n=2
    )
    assert len(gemini_fake.requests) == 2
    assert error.metadata["upstream_code"] == "IMAGE_SAFETY"


@pytest.mark.parametrize(
    ("prompt", "code", "quoted"),
    [
        ("forbidden", "IMAGE_SAFETY", "Prohibited Use policy"),
        ("blocked", "PROHIBITED_CONTENT", None),
        ("prohibited", "PROHIBITED_CONTENT", None),
        ("noimage", "NO_IMAGE", "I can't create an image of that."),
    ],
)
async def test_gemini_safety_outcomes_are_content_policy_violations(
    gemini_fake: GeminiFake, gateway: Gateway, prompt: str, code: str, quoted: str | None
) -> None:
    error = await rejected(gateway, ContentPolicyViolationError, model="flash-image", prompt=prompt)
    assert error.metadata["upstream_code"] == code
    assert error.metadata["provider"] == "gemini"
    assert code in error.message
    if quoted is not None:
        assert quoted in error.message
    if prompt == "blocked":
        assert "prompt" in error.message
    # Prompt (and thinking) tokens may be billed for a refusal the gateway cannot price.
    assert error.facts is not None
    assert error.facts.response_cost is None


async def test_gemini_text_only_answer_is_a_bad_response(gateway: Gateway) -> None:
    error = await rejected(
        gateway, ProviderBadResponseError, model="flash-image", prompt="textonly"
    )
    assert error.metadata["upstream_code"] == "STOP"
    assert "description instead of an image" in error.message


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([1, 2], ProviderBadResponseError),
        ({"candidates": "nope"}, ProviderBadResponseError),
        (
            {"candidates": [{"content": {"parts": [{"inlineData": {"data": "@@not base64@@"}}]}}]},
            ProviderBadResponseError,
        ),
        ({"candidates": [{"finishReason": "IMAGE_OTHER"}]}, ProviderBadResponseError),
        (
            {"candidates": [{"finishReason": "IMAGE_PROHIBITED_CONTENT"}]},
            ContentPolicyViolationError,
        ),
        ({"candidates": [{"finishReason": "SPII"}]}, ContentPolicyViolationError),
    ],
)
async def test_unusual_gemini_answers(
    gemini_fake: GeminiFake, gateway: Gateway, body: Any, error: type[ImageGenError]
) -> None:
    gemini_fake.fail_next(200, body)
    await rejected(gateway, error, model="flash-image", prompt="x")


def test_usage_mapping_from_usage_metadata() -> None:
    # No modality split: the output tokens are image tokens (an image-only answer).
    plain = gemini_usage({"promptTokenCount": 9, "candidatesTokenCount": 1290})
    assert plain == Usage(input_tokens=9, output_tokens=1290, total_tokens=1299)
    # A split that leaves tokens out (a text part): the rest is text, thinking is text too.
    split = gemini_usage(
        {
            "promptTokenCount": 9,
            "candidatesTokenCount": 1300,
            "thoughtsTokenCount": 40,
            "totalTokenCount": 1349,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
        }
    )
    assert split == Usage(
        input_tokens=9,
        output_tokens=1340,
        total_tokens=1349,
        input_tokens_details=TokenDetails(text_tokens=9, image_tokens=0),
        output_tokens_details=TokenDetails(text_tokens=50, image_tokens=1290),
    )
    thinking = gemini_usage(
        {"promptTokenCount": 2, "candidatesTokenCount": 1120, "thoughtsTokenCount": 5}
    )
    assert thinking is not None
    assert thinking.output_tokens_details == TokenDetails(text_tokens=5, image_tokens=1120)
    assert gemini_usage(None) is None


async def test_gemini_answer_without_usage_costs_unknown(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    data = base64.b64encode(png_bytes(64, 64)).decode()
    gemini_fake.fail_next(
        200,
        {
            "candidates": [
                {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}}
            ]
        },
    )
    generation = await generate(gateway, model="flash-image", prompt="x")
    assert len(generation.result.images) == 1
    assert generation.facts.response_cost is None


async def test_gemini_lite_text_tokens_without_a_text_rate_cost_unknown(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="flash-lite-image", prompt="x")
    assert generation.facts.response_cost == (1 * Decimal("0.25") + 1120 * Decimal(30)) / MILLION
    data = base64.b64encode(png_bytes(64, 64)).decode()
    gemini_fake.fail_next(
        200,
        {
            "candidates": [
                {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}}
            ],
            "usageMetadata": {
                "promptTokenCount": 1,
                "candidatesTokenCount": 1120,
                "thoughtsTokenCount": 9,
            },
        },
    )
    generation = await generate(gateway, model="flash-lite-image", prompt="x")
    assert generation.facts.response_cost is None


# --------------------------------------------------------------------------- errors


async def test_bad_configured_key_is_an_authentication_failure_not_a_bad_request(
    gemini_fake: GeminiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry(
                    "flash-image",
                    "gemini-2.5-flash-image",
                    gemini_fake.base_url,
                    api_key="AIzaWRONG",
                )
            ]
        )
    )
    error = await rejected(gateway, ProviderAuthenticationError, model="flash-image", prompt="x")
    assert gemini_fake.last_request.headers["x-goog-api-key"] == "AIzaWRONG"
    assert error.metadata["upstream_code"] == "API_KEY_INVALID"
    # Google said 400; the gateway says what happened, and keeps the real status.
    assert error.metadata["upstream_status"] == "400"
    assert "AIzaWRONG" not in error.message
    assert error.facts is not None
    assert error.facts.response_cost == Decimal(0)


async def test_bad_caller_key_is_unauthenticated(gemini_fake: GeminiFake, gateway: Gateway) -> None:
    error = await rejected(
        gateway, CallerCredentialRejectedError, model="imagen-4", prompt="x", api_key="AIzaCALLER"
    )
    assert gemini_fake.last_request.headers["x-goog-api-key"] == "AIzaCALLER"
    assert error.metadata["upstream_status"] == "400"


async def test_rate_limit_takes_retry_after_from_retry_info(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ProviderRateLimitedError, model="flash-image", prompt="ratelimit"
    )
    assert error.retry_after == 7.0
    assert error.metadata["upstream_code"] == "RESOURCE_EXHAUSTED"
    assert error.metadata["upstream_status"] == "429"
    gemini_fake.retry_delay = "3.299376739s"
    error = await rejected(gateway, ProviderRateLimitedError, model="imagen-4", prompt="ratelimit")
    assert error.retry_after == pytest.approx(3.299376739)


async def test_per_day_quota_is_quota_exceeded(gateway: Gateway) -> None:
    error = await rejected(
        gateway, ProviderQuotaExceededError, model="flash-image", prompt="insufficient_quota"
    )
    assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("prompt", "error"),
    [("servererror", ProviderUnavailableError), ("overloaded", ProviderUnavailableError)],
)
async def test_server_errors_are_unavailable(
    gateway: Gateway, prompt: str, error: type[ImageGenError]
) -> None:
    for model in ("imagen-4", "flash-image"):
        raised = await rejected(gateway, error, model=model, prompt=prompt)
        assert raised.metadata["provider"] == "gemini"


async def test_retired_model_is_provider_model_not_found(
    gemini_fake: GeminiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config([entry("old", "imagen-3.0-generate-001", gemini_fake.base_url)]))
    error = await rejected(gateway, ProviderModelNotFoundError, model="old", prompt="x")
    assert gemini_fake.last_request.path == "/v1beta/models/imagen-3.0-generate-001:predict"
    assert "is not found for API version v1beta" in error.message
    assert error.metadata["upstream_code"] == "NOT_FOUND"


async def test_unknown_model_names_route_by_family_and_pass_params_through(
    gemini_fake: GeminiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry("next-imagen", "imagen-5.0-generate-001", gemini_fake.base_url),
                entry("next-gemini", "gemini-4-image-preview", gemini_fake.base_url),
            ]
        )
    )
    await rejected(
        gateway,
        ProviderModelNotFoundError,
        model="next-imagen",
        prompt="x",
        provider_params={"seed": 7},
    )
    sent = gemini_fake.last_request
    assert sent.path == "/v1beta/models/imagen-5.0-generate-001:predict"
    assert sent.json["parameters"]["seed"] == 7
    await rejected(
        gateway,
        ProviderModelNotFoundError,
        model="next-gemini",
        prompt="x",
        size="1920x1080",
        provider_params={"temperature": 0.5},
    )
    sent = gemini_fake.last_request
    assert sent.path == "/v1beta/models/gemini-4-image-preview:generateContent"
    # No tiers known for an unknown model: the ratio only.
    assert sent.json["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "16:9"},
        "temperature": 0.5,
    }


@pytest.mark.parametrize(
    ("status", "body", "error", "field"),
    [
        (
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "Invalid JSON payload received. Unknown name \"foo\" at 'generation_config': "
                "Cannot find field.",
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "generation_config", "description": "x"}],
                },
            ),
            ProviderInvalidRequestError,
            "generation_config",
        ),
        (
            403,
            google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
            ProviderPermissionDeniedError,
            None,
        ),
        (
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "Image generation failed with the following error: The prompt could not be "
                "submitted. This prompt contains sensitive words that violate Google's "
                "Responsible AI practices. Try rephrasing the prompt. Support codes: 42876398",
            ),
            ContentPolicyViolationError,
            None,
        ),
        (
            400,
            google_error(
                400, "FAILED_PRECONDITION", "User location is not supported for the API use."
            ),
            ProviderInvalidRequestError,
            None,
        ),
        (
            504,
            google_error(
                504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."
            ),
            ProviderUnavailableError,
            None,
        ),
    ],
)
async def test_google_rpc_status_errors_map_by_status_and_details(
    gemini_fake: GeminiFake,
    gateway: Gateway,
    status: int,
    body: dict[str, Any],
    error: type[ImageGenError],
    field: str | None,
) -> None:
    gemini_fake.fail_next(status, body)
    raised = await rejected(gateway, error, model="flash-image", prompt="x")
    if field is not None:
        assert raised.metadata["field"] == field
        assert [v.field for v in raised.field_violations] == [field]


async def test_one_element_list_error_body_is_understood(
    gemini_fake: GeminiFake, gateway: Gateway
) -> None:
    body = [
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted.",
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"},
        )
    ]
    gemini_fake.fail_next(429, json.dumps(body))
    error = await rejected(gateway, ProviderRateLimitedError, model="flash-image", prompt="x")
    assert error.retry_after == 12.0


async def test_html_error_page_is_mapped_by_status_without_quoting_it(
    gemini_fake: GeminiFake, gateway_for: GatewayFactory
) -> None:
    # An api_base with a wrong path prefix reaches Google's front end, which answers HTML.
    gateway = gateway_for(
        config([entry("f", "gemini-2.5-flash-image", f"{gemini_fake.base_url}/v1alpha")])
    )
    error = await rejected(gateway, ProviderModelNotFoundError, model="f", prompt="x")
    assert gemini_fake.last_request.path == "/v1alpha/models/gemini-2.5-flash-image:generateContent"
    assert "<html" not in error.message
    assert error.message == "the provider answered HTTP 404"


async def test_deadline_aborts_the_upstream_call(gemini_fake: GeminiFake, gateway: Gateway) -> None:
    error = await rejected(
        gateway, DeadlineExceededError, model="flash-image", prompt="hang", timeout=0.5
    )
    await asyncio.wait_for(gemini_fake.disconnected.wait(), 5)
    assert error.facts is not None
    assert error.facts.response_cost is None


# --------------------------------------------------------------------------- endpoint and config


async def test_api_base_with_a_version_path_is_used_as_it_is(
    gemini_fake: GeminiFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("f", "models/gemini-2.5-flash-image", f"{gemini_fake.base_url}/v1beta/")])
    )
    generation = await generate(gateway, model="f", prompt="x")
    assert gemini_fake.last_request.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert generation.facts.api_base == f"{gemini_fake.base_url}/v1beta"
    assert len(generation.result.images) == 1


def test_default_api_base_is_the_public_v1beta_endpoint() -> None:
    settings = parse_settings(
        config(
            [
                {
                    "model_name": "f",
                    "litellm_params": {"model": "gemini/gemini-2.5-flash-image", "api_key": "k"},
                }
            ]
        )
    )
    (deployment,) = settings.deployments
    assert GeminiProvider().api_base(deployment.endpoint) == (
        "https://generativelanguage.googleapis.com/v1beta"
    )


@pytest.mark.parametrize("variable", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
async def test_key_from_the_environment(
    gemini_fake: GeminiFake,
    gateway_for: GatewayFactory,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, KEY)
    monkeypatch.setenv("GEMINI_API_BASE", gemini_fake.base_url)
    gateway = gateway_for(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "f",
                        "litellm_params": {"model": "gemini/gemini-2.5-flash-image"},
                    }
                ]
            }
        )
    )
    generation = await generate(gateway, model="f", prompt="x")
    assert gemini_fake.last_request.headers["x-goog-api-key"] == KEY
    assert len(generation.result.images) == 1


def test_a_deployment_without_a_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        parse_settings(
            config(
                [{"model_name": "f", "litellm_params": {"model": "gemini/imagen-4.0-generate-001"}}]
            )
        )


def test_model_families_and_prices() -> None:
    prices = load_price_table()
    for model in GEMINI_MODELS:
        family = google_model(model)
        assert family.spec.known
        price = prices.lookup("gemini", family.spec.family)
        assert price is not None, model
        assert price.source and price.retrieved
        expected = "per_image" if model.startswith("imagen") else "per_token"
        assert price.basis == expected
    assert google_model("gemini-2.5-flash-image-preview").spec.family == "gemini-2.5-flash-image"
    assert google_model("imagen-4.0-ultra-generate-001").spec.max_images_per_call == 1
    assert google_model("imagen-4.0-generate-preview-06-06").spec.family == "imagen-4.0-generate"
    assert not google_model("gemini-9-image").spec.known
    assert not google_model("imagen-9").spec.known


def test_image_dimensions_of_png_and_jpeg() -> None:
    assert image_dimensions(png_bytes(40, 30)) == (40, 30)
    assert image_dimensions(jpeg_bytes(48, 20)) == (48, 20)
    assert image_dimensions(b"GIF89a....") == (None, None)
    assert image_dimensions(b"\xff\xd8\xff\xe0\x00") == (None, None)


# --------------------------------------------------------------------------- the fake itself


async def test_fake_accepts_query_key_and_refuses_gemini_models_on_predict(
    gemini_fake: GeminiFake,
) -> None:
    async with httpx.AsyncClient(base_url=gemini_fake.base_url) as client:
        body = {
            "contents": [{"parts": [{"text": "a fox"}]}],
            "generation_config": {"response_modalities": ["IMAGE"]},
        }
        ok = await client.post(
            "/v1beta/models/gemini-2.5-flash-image:generateContent", params={"key": KEY}, json=body
        )
        assert ok.status_code == 200
        assert ok.json()["candidates"][0]["finishReason"] == "STOP"
        # The LiteLLM bug: a Gemini image model sent to :predict.
        wrong = await client.post(
            "/v1beta/models/gemini-2.5-flash-image:predict",
            headers={"x-goog-api-key": KEY},
            json={"instances": [{"prompt": "a fox"}], "parameters": {"sampleCount": 1}},
        )
        assert wrong.status_code == 404
        assert wrong.json()["error"]["status"] == "NOT_FOUND"
        unknown = await client.post(
            "/v1beta/models/gemini-2.5-flash-image:generateContent",
            headers={"x-goog-api-key": KEY},
            json={**body, "generationConfig": {"imageConfig": {"personGeneration": "ALLOW_ALL"}}},
        )
        assert unknown.status_code == 400
        assert 'Unknown name "person_generation"' in unknown.json()["error"]["message"]
        missing = await client.post(
            "/v1beta/models/imagen-4.0-generate-001:predict",
            json={"instances": [{"prompt": "a fox"}]},
        )
        assert missing.status_code == 403


# --------------------------------------------------------------------------- through the server


def text_trailers(metadata: Any) -> dict[str, str]:
    return {key: value for key, value in metadata or () if isinstance(value, str)}


async def test_grpc_generate_images_with_fan_out_filtered_count_cost_and_trailers(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(
        config(entry(name, model, gemini_fake.base_url) for name, model in MODELS.items())
    )
    gemini_fake.fail_next(200, IMAGE_SAFETY_BODY)
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="three cats", model="flash-image", n=3, size="16:9")
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())

    assert len(response.images) == 2
    assert response.filtered_count == 1
    for index, image in enumerate(response.images):
        assert image.index == index
        assert (image.mime_type, image.width, image.height) == ("image/png", 1344, 768)
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.size == (1344, 768)
    expected = 2 * token_cost("flash-image", prompt=2, image=1290)
    assert Decimal(response.cost.response_cost) == expected
    assert trailers.keys() >= TRAILER_KEYS
    assert Decimal(trailers["x-imagegen-response-cost"]) == expected
    assert trailers["x-imagegen-provider"] == "gemini"
    assert trailers["x-imagegen-model-id"] == "flash-image"
    assert trailers["x-imagegen-api-base"] == f"{gemini_fake.base_url}/v1beta"
    assert trailers["x-imagegen-attempts"] == "3"
    assert response.usage.output_tokens == 2 * 1290
    assert response.usage.output_tokens_details.image_tokens == 2 * 1290


async def test_grpc_imagen_cost_and_errors(serve: ServeFactory, gemini_fake: GeminiFake) -> None:
    served = await serve(
        config(
            [
                entry("imagen-4", "imagen-4.0-generate-001", gemini_fake.base_url),
                entry("bad-key", "imagen-4.0-generate-001", gemini_fake.base_url, api_key="nope"),
            ]
        )
    )
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a kite", model="imagen-4", n=2, size="1024x1024")
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())
    assert len(response.images) == 2
    assert response.cost.response_cost == "0.08"
    assert trailers["x-imagegen-response-cost"] == "0.08"
    assert trailers["x-imagegen-attempts"] == "1"

    for model, prompt, code, reason, cost in [
        (
            "bad-key",
            "x",
            grpc.StatusCode.FAILED_PRECONDITION,
            "PROVIDER_AUTHENTICATION_FAILED",
            "0",
        ),
        (
            "imagen-4",
            "forbidden",
            grpc.StatusCode.INVALID_ARGUMENT,
            "CONTENT_POLICY_VIOLATION",
            "0",
        ),
        ("imagen-4", "ratelimit", grpc.StatusCode.UNAVAILABLE, "PROVIDER_RATE_LIMITED", "0"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await served.stub.GenerateImages(pb.GenerateImagesRequest(prompt=prompt, model=model))
        assert caught.value.code() == code
        status = rpc_status.from_call(caught.value)
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert info.reason == reason
        error_trailers = text_trailers(caught.value.trailing_metadata())
        assert error_trailers.keys() >= TRAILER_KEYS
        assert error_trailers["x-imagegen-response-cost"] == cost
        assert error_trailers["x-imagegen-provider"] == "gemini"
        if reason == "PROVIDER_RATE_LIMITED":
            retry = error_details_pb2.RetryInfo()
            assert any(detail.Unpack(retry) for detail in status.details)
            assert retry.retry_delay.seconds == 7


async def test_grpc_list_models_describes_each_family(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(
        config(entry(name, model, gemini_fake.base_url) for name, model in MODELS.items())
    )
    listed = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    assert list(listed) == list(MODELS)

    imagen = listed["imagen-4"]
    assert (imagen.provider, imagen.provider_model) == ("gemini", "imagen-4.0-generate-001")
    assert list(imagen.aspect_ratios) == ["1:1", "3:4", "4:3", "9:16", "16:9"]
    assert imagen.price_basis == "per_image"
    assert imagen.max_n == 10
    assert imagen.fan_out
    assert list(imagen.sizes) == []
    assert not imagen.free_form_sizes
    assert "provider_params.person_generation" in imagen.supported_params
    assert "provider_params.image_size" in imagen.supported_params
    assert "provider_params.image_size" not in listed["imagen-4-fast"].supported_params
    assert {"n", "size", "response_format"} <= set(imagen.supported_params)

    flash = listed["flash-image"]
    assert flash.price_basis == "per_token"
    assert flash.fan_out
    assert "21:9" in flash.aspect_ratios
    assert "1:4" not in flash.aspect_ratios
    assert "1:4" in listed["flash-31-image"].aspect_ratios
    assert "provider_params.image_size" in listed["pro-image"].supported_params
    assert "provider_params.image_size" not in flash.supported_params
    assert list(flash.qualities) == []


async def test_a_call_without_a_tier_reports_googles_default_1k(
    gateway: Gateway, gemini_fake: GeminiFake
) -> None:
    generation = await generate(gateway, model="pro-image", prompt="a map", size="16:9")
    body = gemini_fake.last_request.json
    assert "imageSize" not in body["generationConfig"].get("imageConfig", {})
    assert generation.result.size == "1K"
