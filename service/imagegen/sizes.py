"""Parsing and checking image sizes, shared by every provider.

Sizes travel as "WIDTHxHEIGHT" strings (OpenAI's form) or "auto". Providers that
speak aspect ratios instead map through here too, so that any coercion is made
in one place and reported, never silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imagegen.errors import FieldViolation, InvalidRequestError

AUTO = "auto"
_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX*]\s*(\d{1,5})\s*$")


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
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation("size", description)],
        metadata={"field": "size"},
    )


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
