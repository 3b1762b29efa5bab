"""Reading one input image or mask: format from its bytes, dimensions from its header, pixels
only once the header has passed every bound (so a decompression bomb is never inflated)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from PIL import Image

from imagegen.errors import FieldViolation
from imagegen.images.formats import ImageFormat, sniff_format
from imagegen.images.limits import GATEWAY_MAX_PIXELS, GATEWAY_MAX_SIDE, InputLimits
from imagegen.images.summary import ImageSummary, digest_prefix

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class InputRefused(Exception):
    """One field's input is refused; carries the violation to report."""

    def __init__(self, violation: FieldViolation) -> None:
        super().__init__(violation.description)
        self.violation = violation


@dataclass(frozen=True, slots=True)
class InputImage:
    """A decoded, bounded input: the bytes as the caller sent them plus what was learnt."""

    field: str
    data: bytes = dataclass_field(repr=False)
    format: ImageFormat
    width: int
    height: int
    has_alpha: bool

    def summary(self) -> ImageSummary:
        return ImageSummary(
            field=self.field,
            sha256_prefix=digest_prefix(self.data),
            bytes=len(self.data),
            width=self.width,
            height=self.height,
            format=self.format.value,
        )


def _refuse(field_name: str, description: str) -> InputRefused:
    return InputRefused(FieldViolation(field_name, description))


def _names(formats: frozenset[ImageFormat]) -> str:
    return ", ".join(f.name for f in ImageFormat if f in formats)


def read_image(
    data: bytes,
    field_name: str,
    *,
    formats: frozenset[ImageFormat],
    max_bytes: int | None,
    limits: InputLimits | None = None,
) -> InputImage:
    """Check and decode one file; raise InputRefused naming `field_name` when it fails."""
    if not data:
        raise _refuse(field_name, f"{field_name} is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise _refuse(
            field_name,
            f"{field_name} is {len(data)} bytes; this model takes at most {max_bytes}",
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise _refuse(field_name, f"{field_name} is not a PNG, JPEG or WebP file")
    if fmt not in formats:
        raise _refuse(field_name, f"{field_name} is {fmt.name}; this model takes {_names(formats)}")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own threshold and twice it; a warning is as
            # much a refusal here as the error above it.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt.pillow_name])
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _refuse(field_name, f"{field_name} has too many pixels to decode") from None
    except (OSError, SyntaxError, ValueError):
        raise _refuse(field_name, f"{field_name} cannot be decoded as {fmt.name}") from None
    with image:
        width, height = image.size
        _check_dimensions(field_name, width, height, limits)
        if getattr(image, "n_frames", 1) > 1:
            raise _refuse(field_name, f"{field_name} is animated; send a single frame")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError):
            raise _refuse(field_name, f"{field_name} cannot be decoded as {fmt.name}") from None
        has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
        if limits is not None and limits.opaque_only and has_alpha:
            lowest = image.convert("RGBA").getchannel("A").getextrema()[0]
            if isinstance(lowest, int | float) and lowest < 255:
                raise _refuse(
                    field_name,
                    f"{field_name} has transparent pixels; this model takes opaque images only",
                )
    return InputImage(field_name, data, fmt, width, height, has_alpha)


def _check_dimensions(field_name: str, width: int, height: int, limits: InputLimits | None) -> None:
    if width * height > GATEWAY_MAX_PIXELS or max(width, height) > GATEWAY_MAX_SIDE:
        raise _refuse(field_name, f"{field_name} has too many pixels to decode")
    if limits is None:
        return
    if limits.max_pixels is not None and width * height > limits.max_pixels:
        raise _refuse(
            field_name,
            f"{field_name} is {width}x{height} ({width * height} pixels); "
            f"this model takes at most {limits.max_pixels} pixels",
        )
    if limits.max_side is not None and max(width, height) > limits.max_side:
        raise _refuse(
            field_name,
            f"{field_name} is {width}x{height}; this model takes sides of at most "
            f"{limits.max_side} pixels",
        )
    if limits.min_side is not None and min(width, height) < limits.min_side:
        raise _refuse(
            field_name,
            f"{field_name} is {width}x{height}; this model takes sides of at least "
            f"{limits.min_side} pixels",
        )
