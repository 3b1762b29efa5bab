"""Parsing and checking image sizes, shared by every provider.

Sizes travel as "WIDTHxHEIGHT" strings (OpenAI's form) or "auto". Providers that
speak aspect ratios instead map through here too, so that any coercion is made
in one place and reported, never silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from imagegen.errors import InvalidRequestError, invalid_field

AUTO = "auto"
_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX*]\s*(\d{1,5})\s*$")
_RATIO_RE = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


@dataclass(frozen=True, slots=True)
class Size:
    """A concrete image size in pixels."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def parse_size(text: str) -> Size:
    """Parse "WIDTHxHEIGHT" (also "W*H", as Xinference writes it).

    Raises InvalidRequestError naming the `size` field for anything else.
    """
    match = _SIZE_RE.match(text)
    if match is None:
        raise invalid_size(f"size must look like 1024x1024, not {text[:32]!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width <= 0 or height <= 0:
        raise invalid_size("size must have a positive width and height")
    return Size(width, height)


def invalid_size(description: str) -> InvalidRequestError:
    """The error for a size a model cannot take."""
    return invalid_field("size", description)


@dataclass(frozen=True, slots=True)
class FreeFormRule:
    """Limits for models that accept any WIDTHxHEIGHT within bounds."""

    min_edge: int
    max_edge: int
    multiple_of: int = 1
    max_aspect: float | None = None
    max_pixels: int | None = None

    def describe(self) -> str:
        parts = [f"edges {self.min_edge}..{self.max_edge} px"]
        if self.multiple_of > 1:
            parts.append(f"multiples of {self.multiple_of}")
        if self.max_aspect is not None:
            parts.append(f"aspect ratio at most {self.max_aspect:g}:1")
        if self.max_pixels is not None:
            parts.append(f"at most {self.max_pixels} pixels")
        return ", ".join(parts)

    def check(self, size: Size) -> None:
        """Raise InvalidRequestError when `size` breaks the rule."""
        edges = (size.width, size.height)
        if min(edges) < self.min_edge or max(edges) > self.max_edge:
            raise invalid_size(f"size {size} is outside {self.describe()}")
        if any(edge % self.multiple_of for edge in edges):
            raise invalid_size(f"size {size}: both edges must be multiples of {self.multiple_of}")
        if self.max_aspect is not None and max(edges) / min(edges) > self.max_aspect:
            raise invalid_size(f"size {size}: aspect ratio exceeds {self.max_aspect:g}:1")
        if self.max_pixels is not None and size.width * size.height > self.max_pixels:
            raise invalid_size(f"size {size} exceeds {self.max_pixels} pixels")


@dataclass(frozen=True, slots=True)
class AspectRatio:
    """A reduced aspect ratio, written "W:H" as providers name them."""

    width: int
    height: int

    @classmethod
    def of(cls, width: int, height: int) -> AspectRatio:
        divisor = math.gcd(width, height)
        return cls(width // divisor, height // divisor)

    @property
    def value(self) -> float:
        return self.width / self.height

    def __str__(self) -> str:
        return f"{self.width}:{self.height}"


def parse_aspect_ratio(text: str) -> AspectRatio | None:
    """An "W:H" aspect ratio, or None when `text` is not one."""
    match = _RATIO_RE.match(text)
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        return None
    return AspectRatio.of(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class SizeChoice:
    """What a model will be asked for, and whether that differs from the request."""

    size: Size | None
    """The exact size, when the model is asked for one (or the request named one)."""
    aspect_ratio: AspectRatio | None
    """The aspect ratio, for models sized by aspect ratio."""
    coerced_from: str | None = None
    """The caller's size when the gateway picked another one (config `coerce_size`)."""

    @property
    def actual(self) -> str:
        """What the model is asked for, as text."""
        if self.aspect_ratio is not None and (self.size is None or self.coerced_from):
            return str(self.aspect_ratio)
        return str(self.size) if self.size is not None else AUTO


def _distance(ratio: float, candidate: float) -> float:
    # Compare aspect ratios on a log scale, so 2:1 and 1:2 are equally far from 1:1.
    return abs(math.log(ratio) - math.log(candidate))


def choose_aspect_ratio(
    text: str,
    ratios: tuple[str, ...],
    *,
    coerce: bool,
    native: Mapping[str, str] | None = None,
) -> SizeChoice:
    """Map a "WxH" or "W:H" request onto one of a model's aspect ratios.

    A model's own output size for a ratio (`native`, e.g. Imagen's 1408x768 for 16:9,
    which does not reduce to 16:9 exactly) is that ratio. An exact match (after
    reducing, e.g. 1536x1024 → 3:2) is used as it is. Otherwise the request fails
    listing the accepted ratios, or with `coerce` the nearest ratio is used and the
    change is recorded.
    """
    if native:
        exact = _SIZE_RE.match(text)
        if exact is not None:
            key = f"{int(exact.group(1))}x{int(exact.group(2))}"
            if key in native:
                width, _, height = native[key].partition(":")
                return SizeChoice(
                    size=parse_size(key), aspect_ratio=AspectRatio(int(width), int(height))
                )
    # Reduced ratio -> the ratio as the model spells it: "21:9" reduces to 7:3, which the
    # provider would reject.
    allowed: dict[AspectRatio, AspectRatio] = {}
    for item in ratios:
        reduced = parse_aspect_ratio(item)
        if reduced is not None:
            width, _, height = item.partition(":")
            allowed.setdefault(reduced, AspectRatio(int(width), int(height)))
    requested_ratio = parse_aspect_ratio(text)
    size = None
    if requested_ratio is None:
        size = parse_size(text)
        requested_ratio = AspectRatio.of(size.width, size.height)
    if requested_ratio in allowed:
        return SizeChoice(size=size, aspect_ratio=allowed[requested_ratio])
    if not coerce:
        raise invalid_size(
            f"size {text.strip()} has aspect ratio {requested_ratio}; this model takes "
            f"{', '.join(ratios)} (as W:H or a WIDTHxHEIGHT of that ratio)"
        )
    nearest = min(allowed, key=lambda r: _distance(requested_ratio.value, r.value))
    return SizeChoice(size=None, aspect_ratio=allowed[nearest], coerced_from=text.strip())


def choose_listed_size(text: str, sizes: tuple[str, ...], *, coerce: bool) -> SizeChoice:
    """Map a "WxH" request onto one of a model's listed sizes (nearest with `coerce`)."""
    size = parse_size(text)
    listed = [parse_size(item) for item in sizes if item != AUTO]
    if size in listed:
        return SizeChoice(size=size, aspect_ratio=None)
    if not coerce or not listed:
        raise invalid_size(f"size must be one of {', '.join(sizes)}")
    wanted = size.width / size.height
    area = size.width * size.height
    nearest = min(
        listed,
        key=lambda s: (
            round(_distance(wanted, s.width / s.height), 6),
            abs(math.log(s.width * s.height / area)),
        ),
    )
    return SizeChoice(size=nearest, aspect_ratio=None, coerced_from=text.strip())
