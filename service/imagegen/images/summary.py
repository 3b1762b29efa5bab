"""What logs, spans, callbacks and spend rows may say about an input image: never its bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# 16 hex digits (64 bits) tell inputs apart in logs without making the log a lookup table for
# the full digest.
DIGEST_PREFIX_CHARS = 16


@dataclass(frozen=True, slots=True)
class ImageSummary:
    """The loggable facts of one input image or mask."""

    field: str
    sha256_prefix: str
    bytes: int
    width: int
    height: int
    format: str

    def as_dict(self) -> dict[str, str | int]:
        return {
            "field": self.field,
            "sha256": self.sha256_prefix,
            "bytes": self.bytes,
            "width": self.width,
            "height": self.height,
            "format": self.format,
        }


def digest_prefix(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:DIGEST_PREFIX_CHARS]
