"""The normalised edit operations and what each one needs from a request."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EditOperation(StrEnum):
    """What an edit does with its input images (the contract's EditOperation, by name)."""

    EDIT = "edit"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"
    VARIATION = "variation"
    REMOVE_BACKGROUND = "remove_background"
    REPLACE_BACKGROUND = "replace_background"
    UPSCALE = "upscale"
    VECTORIZE = "vectorize"
    ERASE = "erase"

    @property
    def needs_mask(self) -> bool:
        return self in (EditOperation.INPAINT, EditOperation.ERASE)

    @property
    def needs_prompt(self) -> bool:
        return self in _PROMPTED


_PROMPTED = frozenset(
    {
        EditOperation.EDIT,
        EditOperation.INPAINT,
        EditOperation.OUTPAINT,
        EditOperation.REPLACE_BACKGROUND,
    }
)


@dataclass(frozen=True, slots=True)
class EditShape:
    """What pricing and routing need to know of an edit, without its pixels: the operation
    and how many input images it carries (EstimateCost quotes an edit from these alone)."""

    operation: EditOperation
    images: int


@dataclass(frozen=True, slots=True)
class Outpaint:
    """Pixels to add on each side of the first image's canvas."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.left or self.top or self.right or self.bottom)

    def problems(self) -> list[str]:
        """What is wrong with these values, for a field violation (empty when fine)."""
        found = [
            f"{side} must not be negative"
            for side in ("left", "top", "right", "bottom")
            if getattr(self, side) < 0
        ]
        if not found and self.is_empty:
            found.append("at least one side must be extended")
        return found
