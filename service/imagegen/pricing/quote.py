"""The pre-flight price of a request: what a budget reserves and EstimateCost reports.

Only per-image and free prices can be known before a call: a token-priced model's cost
depends on the tokens its answer reports, so its quote is unknown (None), never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from imagegen.pricing.calculator import image_price
from imagegen.pricing.table import Price
from imagegen.providers.base import CallParams, ModelSpec
from imagegen.types import ImageRequest


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of a request before it runs."""

    cost: Decimal | None
    """Total in USD; None when it cannot be known before the call."""
    per_image: Decimal | None
    basis: str
    """"per_image", "per_token", "free" or "unknown" (no price)."""
    n: int
    model_id: str
    provider: str
    model_name: str
    operation: str | None = None
    """The edit operation priced (None: a generation)."""


def quote_for(
    price: Price | None,
    spec: ModelSpec,
    params: CallParams,
    *,
    model_id: str,
    provider: str,
    model_name: str,
    operation: str | None = None,
) -> Quote:
    """Price `params` the way `compute_cost` will price the answer.

    The adapters report the quality and size they asked for, falling back to the model's
    defaults, and `compute_cost` prices those: the quote does the same, so that for a
    per-image model the quote equals the actual cost.
    """
    per_image: Decimal | None
    if price is None:
        basis, per_image = "unknown", None
    elif price.basis == "free":
        basis, per_image = "free", Decimal(0)
    elif price.basis == "per_token":
        basis, per_image = "per_token", None
    else:
        basis = "per_image"
        quality = params.quality or spec.default_quality
        # A model that takes no size (an edit endpoint answering at its input's size) reports
        # none, so its default does not price it either.
        size = params.size or (spec.default_size if "size" in spec.params else None)
        per_image = image_price(price, quality, size)
    cost = None if per_image is None else per_image * params.n
    return Quote(
        cost=cost,
        per_image=per_image,
        basis=basis,
        n=params.n,
        model_id=model_id,
        provider=provider,
        model_name=model_name,
        operation=operation,
    )


Quoter = Callable[[ImageRequest], Quote]
"""The gateway's pre-flight pricing of a request, as handed to the hooks that hold budgets."""
