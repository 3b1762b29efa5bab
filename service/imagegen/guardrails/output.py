"""Checks on each generated image: it decodes, it has the size asked for, it is not too big.

Decoding uses Pillow and reads every pixel (a truncated file fails), in a worker
thread so that a large image does not stall the event loop. The size check applies
when the request named a WxH size (or the gateway coerced it to one); models sized by
aspect ratio make their own pixel sizes for a ratio, so for them `size_match:
aspect_ratio` compares shapes within 2 % instead. An image that is only a URL cannot
be checked without fetching it: it is withheld unless `allow_urls` is on.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from enum import StrEnum

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from imagegen.errors import InvalidRequestError
from imagegen.guardrails.base import (
    GuardrailConfig,
    GuardrailContext,
    ImageGuardrail,
    ImageVerdict,
)
from imagegen.guardrails.options import parse_options
from imagegen.sizes import parse_size
from imagegen.types import GeneratedImage

_ASPECT_TOLERANCE = 0.02


class SizeMatch(StrEnum):
    EXACT = "exact"
    ASPECT_RATIO = "aspect_ratio"
    OFF = "off"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    decode: bool = True
    size_match: SizeMatch = SizeMatch.EXACT
    max_bytes: int | None = Field(default=None, ge=1)
    allow_urls: bool = False


class ImageCheck(ImageGuardrail):
    """Withholds images that do not decode, have the wrong size or are too large."""

    # What it checks describes the answer: an edit's inputs are decoded and bounded by the
    # model's input limits before guardrails run, and their size is the caller's to choose.
    checks_inputs = False

    def __init__(self, config: GuardrailConfig) -> None:
        super().__init__(config)
        self.options = parse_options(_Options, config.options)

    async def check_image(self, image: GeneratedImage, context: GuardrailContext) -> ImageVerdict:
        options = self.options
        if not image.has_content:
            if options.allow_urls:
                return ImageVerdict.allow()
            return ImageVerdict.withhold("image is a URL; its content was not checked")
        data = image.data()
        if options.max_bytes is not None and len(data) > options.max_bytes:
            return ImageVerdict.withhold(f"{len(data)} bytes, limit {options.max_bytes}")
        if not options.decode and options.size_match is SizeMatch.OFF:
            return ImageVerdict.allow()
        dimensions = await asyncio.to_thread(_decoded_size, data)
        if dimensions is None:
            return ImageVerdict.withhold("image does not decode")
        expected = _expected(context.size)
        if expected is None or options.size_match is SizeMatch.OFF:
            return ImageVerdict.allow()
        width, height = dimensions
        if options.size_match is SizeMatch.EXACT:
            matches = (width, height) == expected
        else:
            ratio, wanted = width / height, expected[0] / expected[1]
            matches = abs(ratio - wanted) <= _ASPECT_TOLERANCE * wanted
        if matches:
            return ImageVerdict.allow()
        return ImageVerdict.withhold(
            f"image is {width}x{height}, expected {expected[0]}x{expected[1]}"
        )


def _expected(size: str | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        parsed = parse_size(size)
    except InvalidRequestError:  # "auto", or an aspect ratio: nothing exact to compare
        return None
    return parsed.width, parsed.height


def _decoded_size(data: bytes) -> tuple[int, int] | None:
    """The pixel size of a fully decodable image, or None."""
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is Pillow's, not the caller's business: the error
            # (over twice the limit) still refuses the image.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as decoded:
                decoded.load()
                return decoded.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
