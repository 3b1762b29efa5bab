"""The cost of a finished generation, from the provider's actual answer."""

from __future__ import annotations

from decimal import Decimal

from imagegen.pricing.table import Price
from imagegen.types import ProviderResult, Usage

_MILLION = Decimal(1_000_000)


def compute_cost(
    price: Price | None, result: ProviderResult, *, edit: bool = False
) -> Decimal | None:
    """USD cost of `result`, or None when it cannot be known.

    Never guesses: a token-priced model without usage in the answer, or a per-image
    price with no row for the generated quality and size, is unknown, not $0. An edit's
    input holds image tokens (the input images) beside text tokens, each at its own rate:
    an edit whose usage does not split them is unknown unless the two rates are equal.
    """
    if result.billed_usd is not None:
        # The provider's own statement of what it charged beats any table.
        return result.billed_usd
    if price is None:
        return None
    if price.basis == "free":
        return Decimal(0)
    if price.basis == "per_token":
        return _token_cost(price, result.usage, edit=edit)
    return _image_cost(price, result)


def _token_cost(price: Price, usage: Usage | None, *, edit: bool = False) -> Decimal | None:
    if usage is None:
        return None
    if usage.input_tokens_details is not None:
        input_text = usage.input_tokens_details.text_tokens
        input_image = usage.input_tokens_details.image_tokens
    elif edit and usage.input_tokens and price.image_input != price.text_input:
        # The input mixes the prompt and the input images, and the answer does not say how
        # many of each: pricing it all as text (or all as image) would be a guess.
        return None
    else:
        input_text, input_image = usage.input_tokens, 0
    if usage.output_tokens_details is not None:
        output_text = usage.output_tokens_details.text_tokens
        output_image = usage.output_tokens_details.image_tokens
    else:
        # The Images API reports image models' output as one number; it is image tokens.
        output_text, output_image = 0, usage.output_tokens
    terms = (
        (input_text, price.text_input),
        (input_image, price.image_input),
        (output_image, price.image_output),
        (output_text, price.text_output),
    )
    total = Decimal(0)
    for tokens, rate in terms:
        if tokens == 0:
            continue
        if rate is None:
            return None
        total += Decimal(tokens) * rate / _MILLION
    return total


def _image_cost(price: Price, result: ProviderResult) -> Decimal | None:
    each = image_price(price, result.quality, result.size)
    return None if each is None else each * len(result.images)


def image_price(price: Price, quality: str | None, size: str | None) -> Decimal | None:
    """The price of one image of `quality` and `size` under a per-image price, if listed."""
    candidates = []
    if quality and size:
        candidates.append(f"{quality}/{size}")
    if quality:
        candidates.append(f"{quality}/*")
    if size:
        candidates.append(size)
    candidates.append("*")
    for key in candidates:
        if key in price.per_image:
            return price.per_image[key]
    if price.per_pixel is not None and size:
        width, sep, height = size.partition("x")
        if sep and width.isdigit() and height.isdigit():
            return price.per_pixel * int(width) * int(height)
    return None
