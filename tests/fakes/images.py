"""Cheap, real image bytes for the fake providers.

Every helper returns a valid, decodable file of exactly the requested size. The picture is a
solid background plus one contrasting block, both derived from ``seed``, so two images with
different seeds differ in content while staying tiny after compression. Results are cached
because tests ask for the same few sizes over and over and PNG encoding of 4K frames is the
only slow part of a fake's answer.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Literal

from PIL import Image, ImageDraw

ImageFormat = Literal["png", "jpeg", "webp"]

MIME_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def _colour(seed: int) -> tuple[int, int, int]:
    # A cheap integer hash spreads consecutive seeds over visibly different colours.
    h = (seed * 2654435761) & 0xFFFFFFFF
    return (h & 0xFF, (h >> 8) & 0xFF, (h >> 16) & 0xFF)


def _picture(width: int, height: int, seed: int, transparent: bool) -> Image.Image:
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    r, g, b = _colour(seed)
    if transparent:
        # Fully transparent background; the block stays opaque so the alpha channel is real.
        img = Image.new("RGBA", (width, height), (r, g, b, 0))
        fill: tuple[int, ...] = (255 - r, 255 - g, 255 - b, 255)
    else:
        img = Image.new("RGB", (width, height), (r, g, b))
        fill = (255 - r, 255 - g, 255 - b)
    ImageDraw.Draw(img).rectangle(
        (0, 0, max(width // 4, 1) - 1, max(height // 4, 1) - 1), fill=fill
    )
    return img


@lru_cache(maxsize=64)
def image_bytes(
    fmt: ImageFormat,
    width: int,
    height: int,
    seed: int = 0,
    *,
    transparent: bool = False,
    quality: int = 90,
) -> bytes:
    """Encode a ``width`` x ``height`` picture as ``fmt``.

    ``transparent`` is honoured for png/webp only (JPEG has no alpha). ``quality`` applies to
    jpeg/webp and is clamped to Pillow's sensible range.
    """
    img = _picture(width, height, seed, transparent and fmt != "jpeg")
    buf = io.BytesIO()
    q = min(max(quality, 1), 95)
    if fmt == "png":
        # Level 1: the picture is two flat regions, so extra effort buys nothing.
        img.save(buf, format="PNG", compress_level=1)
    elif fmt == "jpeg":
        img.save(buf, format="JPEG", quality=q)
    elif fmt == "webp":
        img.save(buf, format="WEBP", quality=q, method=0)
    else:  # pragma: no cover - guarded by the Literal type
        raise ValueError(f"unsupported format {fmt!r}")
    return buf.getvalue()


def png_bytes(width: int, height: int, seed: int = 0, *, transparent: bool = False) -> bytes:
    return image_bytes("png", width, height, seed, transparent=transparent)


def jpeg_bytes(width: int, height: int, seed: int = 0, *, quality: int = 90) -> bytes:
    return image_bytes("jpeg", width, height, seed, quality=quality)


def webp_bytes(width: int, height: int, seed: int = 0, *, transparent: bool = False) -> bytes:
    return image_bytes("webp", width, height, seed, transparent=transparent)
