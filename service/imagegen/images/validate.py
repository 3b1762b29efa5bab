"""Validation of an edit's inputs before any provider is called.

Every refused field is reported at once (one BadRequest violation each), so a caller fixing a
request does not discover its problems one round trip at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imagegen.errors import FieldViolation, InvalidInputImageError
from imagegen.images.decode import InputImage, InputRefused, read_image
from imagegen.images.formats import ImageFormat
from imagegen.images.limits import InputLimits
from imagegen.images.summary import ImageSummary

IMAGES_FIELD = "images"
MASK_FIELD = "mask"
_MASK_FORMATS = frozenset({ImageFormat.PNG})


@dataclass(frozen=True, slots=True)
class EditInputs:
    """The validated input images, in the caller's order, and the mask if there was one."""

    images: tuple[InputImage, ...]
    mask: InputImage | None

    def summaries(self) -> list[ImageSummary]:
        """What may be logged about the inputs: digests and sizes, never the bytes."""
        found = [image.summary() for image in self.images]
        if self.mask is not None:
            found.append(self.mask.summary())
        return found

    @property
    def total_bytes(self) -> int:
        return sum(len(i.data) for i in self.images) + (len(self.mask.data) if self.mask else 0)


def validate_edit_inputs(
    images: Sequence[bytes],
    mask: bytes | None,
    limits: InputLimits,
    *,
    mask_required: bool = False,
) -> EditInputs:
    """Decode and bound every input; raise InvalidInputImageError naming each bad field.

    CPU-bound (it decodes every image): call it from a worker thread on a server.
    """
    violations: list[FieldViolation] = []
    if not images:
        violations.append(FieldViolation(IMAGES_FIELD, "at least one input image is required"))
    elif len(images) > limits.max_images:
        # Refused on the count alone: decoding inputs that cannot be sent is wasted work.
        violations.append(
            FieldViolation(
                IMAGES_FIELD,
                f"this model takes at most {limits.max_images} input image"
                f"{'' if limits.max_images == 1 else 's'}, got {len(images)}",
            )
        )
        _raise(violations)

    decoded: list[InputImage] = []
    for index, data in enumerate(images):
        try:
            decoded.append(
                read_image(
                    data,
                    f"{IMAGES_FIELD}[{index}]",
                    formats=limits.formats,
                    max_bytes=limits.max_image_bytes,
                    limits=limits,
                )
            )
        except InputRefused as refused:
            violations.append(refused.violation)

    checked_mask = None
    if mask:
        try:
            checked_mask = _read_mask(mask, limits, decoded[0] if decoded else None)
        except InputRefused as refused:
            violations.append(refused.violation)
    elif mask_required:
        violations.append(FieldViolation(MASK_FIELD, "this operation needs a mask"))
    if violations:
        _raise(violations)
    return EditInputs(tuple(decoded), checked_mask)


def _read_mask(data: bytes, limits: InputLimits, first: InputImage | None) -> InputImage:
    mask = read_image(data, MASK_FIELD, formats=_MASK_FORMATS, max_bytes=limits.max_mask_bytes)
    if not mask.has_alpha:
        raise InputRefused(
            FieldViolation(
                MASK_FIELD,
                "mask has no alpha channel: its fully transparent pixels mark the area to edit",
            )
        )
    # Compared only with a first image that decoded; if it did not, that is reported already.
    if (
        first is not None
        and first.field == f"{IMAGES_FIELD}[0]"
        and (mask.width, mask.height) != (first.width, first.height)
    ):
        raise InputRefused(
            FieldViolation(
                MASK_FIELD,
                f"mask is {mask.width}x{mask.height}; it must match the first image, "
                f"{first.width}x{first.height}",
            )
        )
    return mask


def _raise(violations: list[FieldViolation]) -> None:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    raise InvalidInputImageError(
        first.description + more,
        field_violations=violations,
        metadata={"field": first.field},
    )
