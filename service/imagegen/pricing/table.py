"""Loading prices.toml into typed, immutable rows."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, Literal

from imagegen.errors import ConfigError
from imagegen.images.operations import EditOperation

Basis = Literal["free", "per_token", "per_image"]
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    """How one model is billed. Token rates are USD per million tokens."""

    basis: Basis
    text_input: Decimal | None = None
    image_input: Decimal | None = None
    image_output: Decimal | None = None
    text_output: Decimal | None = None
    per_image: Mapping[str, Decimal] = field(default_factory=dict)
    per_pixel: Decimal | None = None
    """USD per pixel of an image (LiteLLM's input_cost_per_pixel): a per_image price for
    sizes `per_image` does not list, as width x height x this."""
    source: str = ""
    retrieved: str = ""
    generation_only: bool = False
    """The row prices generations only: an edit on the model has no price unless a row
    for its operation gives one (`operations`)."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by (provider, model), and by (provider, model, edit operation) where an edit
    operation is billed otherwise than the model's generations."""

    rows: Mapping[tuple[str, str], Price]
    operation_rows: Mapping[tuple[str, str, str], Price] = field(default_factory=dict)

    def lookup(self, provider: str, model: str, operation: str | None = None) -> Price | None:
        """The price of a generation (`operation` None) or of an edit operation.

        An edit takes its operation's row; without one, the model's own row, unless that row
        is marked `generation_only` (then the edit's price is unknown).
        """
        if operation is not None:
            specific = self.operation_rows.get((provider, model, operation))
            if specific is not None:
                return specific
            general = self.rows.get((provider, model))
            return None if general is None or general.generation_only else general
        return self.rows.get((provider, model))


def _decimal(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"{where}: a price must be a finite, non-negative amount")
    return amount


def _row(raw: Mapping[str, Any], where: str) -> Price:
    basis = raw.get("basis")
    if basis not in ("free", "per_token", "per_image"):
        raise ConfigError(f"{where}: basis must be free, per_token or per_image")
    if not raw.get("source") or not raw.get("retrieved"):
        raise ConfigError(f"{where}: every price needs a source and a retrieved date")
    rates = {
        name: _decimal(raw[name], f"{where}.{name}")
        for name in ("text_input", "image_input", "image_output", "text_output")
        if name in raw
    }
    per_image = {
        str(key): _decimal(value, f"{where}.per_image.{key}")
        for key, value in dict(raw.get("per_image", {})).items()
    }
    if basis == "per_token" and "image_output" not in rates:
        raise ConfigError(f"{where}: a per_token price needs at least image_output")
    if basis == "per_image" and not per_image:
        raise ConfigError(f"{where}: a per_image price needs per_image amounts")
    generation_only = raw.get("generation_only", False)
    if not isinstance(generation_only, bool):
        raise ConfigError(f"{where}: generation_only must be true or false")
    return Price(
        basis=basis,
        per_image=per_image,
        source=str(raw["source"]),
        retrieved=str(raw["retrieved"]),
        generation_only=generation_only,
        **rates,
    )


def _operations(raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The edit operations a row prices (empty: the row prices the model's generations)."""
    listed = raw.get("operations", [])
    if not isinstance(listed, list) or not all(isinstance(op, str) for op in listed):
        raise ConfigError(f"{where}: operations must be a list of edit operation names")
    known = {op.value for op in EditOperation}
    unknown = sorted(set(listed) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown operation {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    if listed and raw.get("generation_only"):
        raise ConfigError(f"{where}: a row for edit operations cannot be generation_only")
    return tuple(listed)


def parse_price_table(text: str, origin: str = "prices.toml") -> PriceTable:
    """Parse a prices TOML document."""
    document = tomllib.loads(text)
    rows: dict[tuple[str, str], Price] = {}
    operation_rows: dict[tuple[str, str, str], Price] = {}
    for index, raw in enumerate(document.get("price", [])):
        where = f"{origin}: price[{index}]"
        price = _row(raw, where)
        operations = _operations(raw, where)
        for provider in raw.get("providers", []):
            for model in raw.get("models", []):
                if not operations:
                    if (provider, model) in rows:
                        raise ConfigError(f"{where}: {provider}/{model} is priced twice")
                    rows[(provider, model)] = price
                for operation in operations:
                    if (provider, model, operation) in operation_rows:
                        raise ConfigError(
                            f"{where}: {operation} on {provider}/{model} is priced twice"
                        )
                    operation_rows[(provider, model, operation)] = price
    return PriceTable(rows, operation_rows)


@cache
def load_price_table() -> PriceTable:
    """The price table shipped with the package."""
    text = resources.files("imagegen.pricing").joinpath("prices.toml").read_text("utf-8")
    return parse_price_table(text)


# LiteLLM's model_info keys are per token or per image; ours are per million tokens.
_PER_TOKEN_KEYS = {
    "input_cost_per_token": "text_input",
    "input_cost_per_image_token": "image_input",
    "output_cost_per_image_token": "image_output",
    "output_cost_per_token": "text_output",
}


# LiteLLM's per-image keys: one price per generated image, or per pixel of it (LiteLLM's
# default image cost is input_cost_per_pixel x width x height x n).
PER_IMAGE_KEYS = ("output_cost_per_image", "input_cost_per_pixel")
MODEL_INFO_PRICE_KEYS = (*PER_IMAGE_KEYS, *_PER_TOKEN_KEYS)


def price_from_model_info(model_info: Mapping[str, Any], where: str) -> Price | None:
    """A deployment's own price from LiteLLM-style model_info keys, if it sets any."""
    given = [key for key in MODEL_INFO_PRICE_KEYS if key in model_info]
    if len(given) > 1 and any(key in PER_IMAGE_KEYS for key in given):
        raise ConfigError(
            f"{where}: {' and '.join(given)} are different prices of one model: give one"
        )
    if "output_cost_per_image" in model_info:
        amount = _decimal(model_info["output_cost_per_image"], f"{where}.output_cost_per_image")
        return Price(
            basis="per_image", per_image={"*": amount}, source=f"config {where}", retrieved="config"
        )
    if "input_cost_per_pixel" in model_info:
        rate = _decimal(model_info["input_cost_per_pixel"], f"{where}.input_cost_per_pixel")
        return Price(
            basis="per_image", per_pixel=rate, source=f"config {where}", retrieved="config"
        )
    rates = {
        ours: _decimal(model_info[theirs], f"{where}.{theirs}") * _MILLION
        for theirs, ours in _PER_TOKEN_KEYS.items()
        if theirs in model_info
    }
    if not rates:
        return None
    if "image_output" not in rates:
        raise ConfigError(f"{where}: token pricing needs output_cost_per_image_token")
    return _token_price(rates, source=f"config {where}", retrieved="config")


def _token_price(rates: Mapping[str, Decimal], *, source: str, retrieved: str) -> Price:
    return Price(
        basis="per_token",
        text_input=rates.get("text_input"),
        image_input=rates.get("image_input"),
        image_output=rates.get("image_output"),
        text_output=rates.get("text_output"),
        source=source,
        retrieved=retrieved,
    )
