"""A provider's own statement of what a call cost wins over the price table."""

from __future__ import annotations

from decimal import Decimal

from imagegen.pricing.calculator import compute_cost
from imagegen.pricing.table import Price
from imagegen.types import GeneratedImage, ProviderResult

TABLE = Price(
    basis="per_image",
    per_image={"*": Decimal("0.04")},
    source="test",
    retrieved="2026-12-04",
)


def result(billed: Decimal | None) -> ProviderResult:
    return ProviderResult(images=[GeneratedImage(data=b"x")], billed_usd=billed)


def test_the_billed_amount_wins_over_the_table() -> None:
    assert compute_cost(TABLE, result(Decimal("0.0387"))) == Decimal("0.0387")


def test_the_billed_amount_prices_a_model_with_no_row() -> None:
    assert compute_cost(None, result(Decimal("0.0387"))) == Decimal("0.0387")


def test_without_one_the_table_applies_and_no_row_stays_unknown() -> None:
    assert compute_cost(TABLE, result(None)) == Decimal("0.04")
    assert compute_cost(None, result(None)) is None
