"""The shared size normalizer: exact sizes, aspect ratios, and reported coercion."""

from __future__ import annotations

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.errors import InvalidRequestError
from imagegen.providers.base import check_params
from imagegen.providers.registry import Providers
from imagegen.sizes import (
    AspectRatio,
    Size,
    choose_aspect_ratio,
    choose_listed_size,
    parse_aspect_ratio,
    parse_size,
)
from imagegen.types import ImageRequest
from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake

RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1024x1536", Size(1024, 1536)), ("1024*1024", Size(1024, 1024)), (" 64X32 ", Size(64, 32))],
)
def test_parse_size(text: str, expected: Size) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["huge", "1024x", "0x0", "x1024", "1024x1024x3", "16:9"])
def test_malformed_sizes_name_the_size_field(text: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_size(text)
    assert [v.field for v in caught.value.field_violations] == ["size"]


def test_aspect_ratios_are_reduced() -> None:
    assert parse_aspect_ratio("32:18") == AspectRatio(16, 9)
    assert str(AspectRatio.of(1536, 1024)) == "3:2"
    assert parse_aspect_ratio("0:1") is None
    assert parse_aspect_ratio("1024x1024") is None


@pytest.mark.parametrize(
    ("text", "ratio"),
    [("1024x1024", "1:1"), ("16:9", "16:9"), ("1920x1080", "16:9"), ("768x1024", "3:4")],
)
def test_sizes_with_a_supported_ratio_are_used_as_they_are(text: str, ratio: str) -> None:
    choice = choose_aspect_ratio(text, RATIOS, coerce=False)
    assert str(choice.aspect_ratio) == ratio
    assert choice.coerced_from is None


def test_an_unsupported_ratio_fails_listing_what_the_model_takes() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        choose_aspect_ratio("1792x1024", RATIOS, coerce=False)
    (violation,) = caught.value.field_violations
    assert violation.field == "size"
    assert "7:4" in violation.description
    for ratio in RATIOS:
        assert ratio in violation.description


def test_coercion_picks_the_nearest_ratio_and_says_so() -> None:
    choice = choose_aspect_ratio("1792x1024", RATIOS, coerce=True)
    assert str(choice.aspect_ratio) == "16:9"
    assert choice.coerced_from == "1792x1024"
    assert choice.actual == "16:9"
    tall = choose_aspect_ratio("1024x1792", RATIOS, coerce=True)
    assert str(tall.aspect_ratio) == "9:16"


def test_listed_sizes_coerce_to_the_nearest_shape_then_area() -> None:
    sizes = ("1024x1024", "1792x1024", "1024x1792")
    assert choose_listed_size("1024x1024", sizes, coerce=False).coerced_from is None
    wide = choose_listed_size("1536x1024", sizes, coerce=True)
    assert wide.size == Size(1792, 1024)
    assert wide.coerced_from == "1536x1024"
    small = choose_listed_size("512x512", sizes, coerce=True)
    assert small.size == Size(1024, 1024)
    with pytest.raises(InvalidRequestError):
        choose_listed_size("1536x1024", sizes, coerce=False)


async def test_coerced_size_is_reported_in_response_and_trailer(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    entry = {
        "model_name": "dalle",
        "litellm_params": {
            "model": "openai/dall-e-3",
            "api_base": f"{openai_fake.base_url}/v1",
            "api_key": openai_fake.api_key,
            "coerce_size": True,
        },
    }
    served = await serve(yaml.safe_dump({"model_list": [entry]}))
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a fox", model="dalle", size="1536x1024")
    )
    response = await call
    trailers = dict(await call.trailing_metadata())

    assert openai_fake.last_request.json["size"] == "1792x1024"
    assert response.size_coercion.requested == "1536x1024"
    assert response.size_coercion.actual == "1792x1024"
    assert trailers["x-imagegen-size-coercion"] == "1536x1024->1792x1024"
    assert response.cost.response_cost == "0.08"


async def test_without_coercion_an_unmakeable_size_is_invalid_and_nothing_is_sent(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    entry = {
        "model_name": "dalle",
        "litellm_params": {
            "model": "openai/dall-e-3",
            "api_base": f"{openai_fake.base_url}/v1",
            "api_key": openai_fake.api_key,
        },
    }
    served = await serve(yaml.safe_dump({"model_list": [entry]}))
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a fox", model="dalle", size="1536x1024")
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-imagegen-size-coercion" not in dict(caught.value.trailing_metadata() or ())
    assert openai_fake.requests == []


@pytest.mark.parametrize(
    ("native", "ratio"), [("1408x768", "16:9"), ("768x1408", "9:16"), ("1280x896", "4:3")]
)
def test_a_models_own_output_size_is_its_ratio(native: str, ratio: str) -> None:
    sizes = {"1408x768": "16:9", "768x1408": "9:16", "1280x896": "4:3"}
    choice = choose_aspect_ratio(native, RATIOS, coerce=False, native=sizes)
    assert str(choice.aspect_ratio) == ratio
    assert choice.size == parse_size(native)
    assert choice.coerced_from is None
    # Without the native list it is an off-ratio size (1408x768 reduces to 11:6).
    with pytest.raises(InvalidRequestError):
        choose_aspect_ratio(native, RATIOS, coerce=False)


@pytest.mark.parametrize(
    ("provider", "model", "size", "ratio"),
    [
        ("gemini", "imagen-4.0-generate-001", "1408x768", "16:9"),
        ("gemini", "gemini-2.5-flash-image", "1344x768", "16:9"),
        ("vertex_ai", "imagen-4.0-generate-001", "896x1280", "3:4"),
        ("bedrock", "stability.sd3-5-large-v1:0", "1536x640", "21:9"),
    ],
)
def test_adapters_accept_their_models_native_sizes(
    provider: str, model: str, size: str, ratio: str
) -> None:
    spec = Providers.discover()[provider].spec_for(model)
    params = check_params(spec, ImageRequest.create(prompt="x", size=size), drop=False)
    assert params.aspect_ratio == ratio
    assert params.size_coerced_from is None
