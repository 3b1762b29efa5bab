"""Prices as data and the cost calculator: exact Decimal costs, unknown never rendered as 0."""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import AsyncIterator
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml

from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.gateway import Gateway
from imagegen.pricing import PriceTable, compute_cost, load_price_table, price_from_model_info
from imagegen.pricing.table import Price, parse_price_table
from imagegen.types import (
    CallFacts,
    GeneratedImage,
    ImageRequest,
    ProviderResult,
    TokenDetails,
    Usage,
    format_usd,
)
from tests.fakes.openai import OpenAIFake

MILLION = Decimal(1_000_000)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_price_table()


def price(table: PriceTable, provider: str, model: str) -> Price:
    found = table.lookup(provider, model)
    assert found is not None, f"no price for {provider}/{model}"
    return found


def images(count: int) -> list[GeneratedImage]:
    return [GeneratedImage(data=b"\x89PNG") for _ in range(count)]


def token_result(usage: Usage | None, count: int = 1) -> ProviderResult:
    return ProviderResult(images=images(count), usage=usage, quality="medium", size="1024x1024")


def image_result(quality: str | None, size: str | None, count: int = 1) -> ProviderResult:
    return ProviderResult(images=images(count), quality=quality, size=size)


def usage(
    *,
    text_in: int = 0,
    image_in: int = 0,
    image_out: int = 0,
    text_out: int | None = None,
) -> Usage:
    """An Images API usage block; `text_out` set adds output_tokens_details."""
    out = image_out + (text_out or 0)
    return Usage(
        input_tokens=text_in + image_in,
        input_tokens_details=TokenDetails(text_tokens=text_in, image_tokens=image_in),
        output_tokens=out,
        output_tokens_details=(
            None if text_out is None else TokenDetails(text_tokens=text_out, image_tokens=image_out)
        ),
        total_tokens=text_in + image_in + out,
    )


def toml_row(fields: dict[str, str]) -> str:
    """One [[price]] row for provider "p", model "m", with string `fields`."""
    lines = ["[[price]]", 'providers = ["p"]', 'models = ["m"]']
    lines += [f'{key} = "{value}"' for key, value in fields.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the table


def test_every_row_of_prices_toml_has_a_source_and_a_retrieved_date() -> None:
    text = resources.files("imagegen.pricing").joinpath("prices.toml").read_text("utf-8")
    rows = tomllib.loads(text)["price"]
    assert rows
    for row in rows:
        assert isinstance(row["source"], str)
        assert len(row["source"].strip()) > 10, row
        retrieved = datetime.date.fromisoformat(row["retrieved"])
        assert datetime.date(2024, 1, 1) <= retrieved <= datetime.date.today()
        assert row["providers"]
        assert row["models"]
        assert row["basis"] in ("free", "per_token", "per_image")


def test_loaded_rows_keep_their_source(table: PriceTable) -> None:
    for (provider, model), row in table.rows.items():
        assert row.source, (provider, model)
        assert row.retrieved, (provider, model)


def test_every_openai_model_and_azure_counterpart_is_priced(table: PriceTable) -> None:
    for model in ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "dall-e-2"):
        assert table.lookup("openai", model) is not None
        assert table.lookup("azure", model) is not None
    assert table.lookup("openai", "dall-e-3") is not None
    assert table.lookup("azure", "dall-e-3") is not None
    assert table.lookup("xinference", "sd3-medium") is None


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ({"basis": "free", "source": "s"}, "source and a retrieved date"),
        ({"basis": "free", "retrieved": "2026-01-01"}, "source and a retrieved date"),
        (
            {"basis": "per_token", "source": "s", "retrieved": "d", "text_input": "1"},
            "image_output",
        ),
        ({"basis": "per_image", "source": "s", "retrieved": "d"}, "per_image amounts"),
        ({"basis": "per_token", "source": "s", "retrieved": "d", "image_output": "-1"}, "non-neg"),
        ({"basis": "per_token", "source": "s", "retrieved": "d", "image_output": "x"}, "decimal"),
        ({"basis": "monthly", "source": "s", "retrieved": "d"}, "basis must be"),
    ],
)
def test_malformed_price_rows_are_refused(row: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_price_table(toml_row(row), "test.toml")


def test_a_model_priced_twice_is_refused() -> None:
    row = toml_row({"basis": "free", "source": "s", "retrieved": "d"})
    with pytest.raises(ConfigError, match="priced twice"):
        parse_price_table(row + row, "test.toml")


# --------------------------------------------------------------------------- token models


def test_gpt_image_1_from_a_usage_block(table: PriceTable) -> None:
    cost = compute_cost(
        price(table, "openai", "gpt-image-1"), token_result(usage(text_in=50, image_out=1056))
    )
    assert cost == Decimal(50) * 5 / MILLION + Decimal(1056) * 40 / MILLION
    assert cost == Decimal("0.04249")


def test_gpt_image_1_without_output_details_counts_output_as_image_tokens(
    table: PriceTable,
) -> None:
    bare = Usage(input_tokens=50, output_tokens=1056, total_tokens=1106)
    assert compute_cost(price(table, "openai", "gpt-image-1"), token_result(bare)) == Decimal(
        "0.04249"
    )


def test_gpt_image_1_image_input_tokens(table: PriceTable) -> None:
    cost = compute_cost(
        price(table, "azure", "gpt-image-1"),
        token_result(usage(text_in=10, image_in=300, image_out=272)),
    )
    assert cost == (10 * Decimal(5) + 300 * Decimal(10) + 272 * Decimal(40)) / MILLION


def test_gpt_image_1_5_prices_output_text_tokens_at_ten_dollars(table: PriceTable) -> None:
    cost = compute_cost(
        price(table, "openai", "gpt-image-1.5"),
        token_result(usage(text_in=40, image_in=200, image_out=1056, text_out=120)),
    )
    expected = (
        40 * Decimal(5) + 200 * Decimal(8) + 1056 * Decimal(32) + 120 * Decimal(10)
    ) / MILLION
    assert cost == expected
    assert cost == Decimal("0.036792")


def test_chatgpt_image_latest_shares_the_gpt_image_1_5_row(table: PriceTable) -> None:
    assert table.lookup("openai", "chatgpt-image-latest") == table.lookup("openai", "gpt-image-1.5")


def test_output_text_tokens_on_a_model_without_a_text_output_rate_are_unknown(
    table: PriceTable,
) -> None:
    # gpt-image-1 has no published text-output rate: guessing one would be a silent error.
    cost = compute_cost(
        price(table, "openai", "gpt-image-1"),
        token_result(usage(text_in=5, image_out=1056, text_out=3)),
    )
    assert cost is None


def test_gpt_image_2(table: PriceTable) -> None:
    cost = compute_cost(
        price(table, "openai", "gpt-image-2"), token_result(usage(text_in=20, image_out=7024))
    )
    assert cost == (20 * Decimal(5) + 7024 * Decimal(30)) / MILLION
    assert cost == Decimal("0.21082")


def test_gpt_image_1_mini(table: PriceTable) -> None:
    cost = compute_cost(
        price(table, "openai", "gpt-image-1-mini"),
        token_result(usage(text_in=10, image_in=100, image_out=272), count=2),
    )
    assert cost == (10 * Decimal(2) + 100 * Decimal("2.5") + 272 * Decimal(8)) / MILLION
    assert cost == Decimal("0.002446")


@pytest.mark.parametrize(
    "model", ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2"]
)
def test_token_model_without_usage_is_unknown_not_zero(table: PriceTable, model: str) -> None:
    assert compute_cost(price(table, "openai", model), token_result(None)) is None


def test_zero_usage_costs_exactly_zero(table: PriceTable) -> None:
    assert compute_cost(price(table, "openai", "gpt-image-1"), token_result(Usage())) == 0


# --------------------------------------------------------------------------- per-image models


@pytest.mark.parametrize(
    ("quality", "size", "each"),
    [
        ("standard", "1024x1024", "0.04"),
        ("standard", "1792x1024", "0.08"),
        ("standard", "1024x1792", "0.08"),
        ("hd", "1024x1024", "0.08"),
        ("hd", "1792x1024", "0.12"),
        ("hd", "1024x1792", "0.12"),
    ],
)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_dall_e_3_by_quality_size_and_count(
    table: PriceTable, quality: str, size: str, each: str, n: int
) -> None:
    cost = compute_cost(price(table, "openai", "dall-e-3"), image_result(quality, size, n))
    assert cost == Decimal(each) * n


@pytest.mark.parametrize(
    ("quality", "size", "each"),
    [
        ("standard", "1024x1024", "0.044"),
        ("standard", "1792x1024", "0.088"),
        ("standard", "1024x1792", "0.088"),
        ("hd", "1024x1024", "0.088"),
        ("hd", "1792x1024", "0.132"),
        ("hd", "1024x1792", "0.132"),
    ],
)
def test_azure_dall_e_3(table: PriceTable, quality: str, size: str, each: str) -> None:
    assert compute_cost(price(table, "azure", "dall-e-3"), image_result(quality, size)) == Decimal(
        each
    )


@pytest.mark.parametrize(
    ("size", "each"), [("256x256", "0.016"), ("512x512", "0.018"), ("1024x1024", "0.020")]
)
@pytest.mark.parametrize("n", [1, 4])
def test_dall_e_2_by_size(table: PriceTable, size: str, each: str, n: int) -> None:
    cost = compute_cost(price(table, "openai", "dall-e-2"), image_result("standard", size, n))
    assert cost == Decimal(each) * n


@pytest.mark.parametrize(
    ("quality", "size"),
    [("standard", "512x512"), ("auto", "1024x1024"), (None, None), ("hd", None)],
)
def test_per_image_price_without_a_matching_row_is_unknown(
    table: PriceTable, quality: str | None, size: str | None
) -> None:
    assert compute_cost(price(table, "openai", "dall-e-3"), image_result(quality, size)) is None


def test_placeholder_is_exactly_zero(table: PriceTable) -> None:
    cost = compute_cost(price(table, "local", "placeholder"), image_result(None, "64x64", 5))
    assert cost == Decimal(0)
    assert format_usd(cost) == "0"


def test_no_price_is_unknown() -> None:
    assert compute_cost(None, image_result("standard", "1024x1024")) is None


# --------------------------------------------------------------------------- model_info overrides


def test_output_cost_per_image_applies_to_every_image() -> None:
    override = price_from_model_info({"output_cost_per_image": 0.05}, "model_info")
    assert override is not None
    assert override.basis == "per_image"
    assert override.source == "config model_info"
    assert compute_cost(override, image_result("hd", "1792x1024", 3)) == Decimal("0.15")


def test_per_token_model_info_keys_are_per_token_not_per_million() -> None:
    override = price_from_model_info(
        {
            "input_cost_per_token": 5e-06,
            "input_cost_per_image_token": 1e-05,
            "output_cost_per_image_token": 4e-05,
            "output_cost_per_token": 1e-05,
        },
        "model_info",
    )
    assert override is not None
    assert override.basis == "per_token"
    assert (override.text_input, override.image_input) == (Decimal(5), Decimal(10))
    assert (override.image_output, override.text_output) == (Decimal(40), Decimal(10))
    cost = compute_cost(override, token_result(usage(text_in=50, image_out=1056, text_out=4)))
    assert cost == Decimal("0.04253")


def test_model_info_without_prices_gives_no_override() -> None:
    assert price_from_model_info({"mode": "image_generation"}, "model_info") is None


@pytest.mark.parametrize(
    ("info", "says"),
    [
        ({"input_cost_per_token": 1e-06}, "output_cost_per_image_token"),
        ({"output_cost_per_image": "free"}, "not a decimal"),
        ({"output_cost_per_image": -0.01}, "non-negative"),
        ({"output_cost_per_image": "NaN"}, "finite"),
    ],
)
def test_bad_model_info_prices_are_config_errors(info: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        price_from_model_info(info, "model_list[0].model_info")


def test_model_info_price_reaches_the_deployment() -> None:
    text = yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "cheap",
                    "litellm_params": {"model": "openai/gpt-image-1", "api_key": "sk-x"},
                    "model_info": {"output_cost_per_image": "0.01"},
                }
            ]
        }
    )
    (deployment,) = parse_settings(text).deployments
    assert deployment.price is not None
    assert deployment.price.per_image == {"*": Decimal("0.01")}


# --------------------------------------------------------------------------- format_usd


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal(0), "0"),
        (Decimal("0.000"), "0"),
        (Decimal("0E-12"), "0"),
        (Decimal("0.04"), "0.04"),
        (Decimal("0.040"), "0.04"),
        (Decimal("0.04249"), "0.04249"),
        (Decimal("0.120") * 3, "0.36"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("2.5E-6"), "0.0000025"),
        (Decimal("1E+2"), "100"),
        (Decimal("12.5"), "12.5"),
        (None, "unknown"),
    ],
)
def test_format_usd(amount: Decimal | None, text: str) -> None:
    assert format_usd(amount) == text
    assert "E" not in format_usd(amount).upper().replace("UNKNOWN", "")


def test_call_facts_render_unknown_cost_as_unknown() -> None:
    facts = CallFacts(request_id="r", response_cost=None)
    assert facts.response_cost_text == "unknown"
    assert CallFacts(request_id="r").response_cost_text == "0"


# --------------------------------------------------------------------------- end to end


@pytest.fixture
async def gateway_for_fake() -> AsyncIterator[list[Gateway]]:
    made: list[Gateway] = []
    yield made
    for gateway in made:
        await gateway.aclose()


def _openai_config(fake: OpenAIFake, model_info: dict[str, Any] | None = None) -> str:
    item: dict[str, Any] = {
        "model_name": "gpt-image-1",
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": fake.base_url + "/v1",
            "api_key": fake.api_key,
        },
    }
    if model_info is not None:
        item["model_info"] = model_info
    return yaml.safe_dump({"model_list": [item]})


async def test_gateway_cost_equals_the_formula_on_the_fake_usage_block(
    openai_fake: OpenAIFake, gateway_for_fake: list[Gateway]
) -> None:
    gateway = Gateway(parse_settings(_openai_config(openai_fake)))
    gateway_for_fake.append(gateway)
    prompt = " ".join(["otter"] * 50)

    generation = await gateway.generate(
        ImageRequest.create(model="gpt-image-1", prompt=prompt, quality="medium", size="1024x1024")
    )

    reported = generation.result.usage
    assert reported is not None
    # The fake's usage block: 50 prompt words in, 1056 image tokens out (medium 1024x1024).
    assert reported.input_tokens_details == TokenDetails(text_tokens=50, image_tokens=0)
    assert reported.output_tokens == 1056
    assert (
        generation.facts.response_cost == Decimal(50) * 5 / MILLION + Decimal(1056) * 40 / MILLION
    )
    assert generation.facts.response_cost_text == "0.04249"


async def test_gateway_prefers_a_model_info_price_over_the_table(
    openai_fake: OpenAIFake, gateway_for_fake: list[Gateway]
) -> None:
    text = _openai_config(
        openai_fake,
        model_info={"input_cost_per_token": 1e-06, "output_cost_per_image_token": 1e-05},
    )
    gateway = Gateway(parse_settings(text))
    gateway_for_fake.append(gateway)

    generation = await gateway.generate(
        ImageRequest.create(model="gpt-image-1", prompt="one two three", quality="low", n=2)
    )
    assert generation.facts.response_cost == (3 * Decimal(1) + 2 * 272 * Decimal(10)) / MILLION
