"""A cache entry: the images and facts of one generation, sealed by the request itself.

The entry is encrypted (AES-256-GCM) with a key derived from the full request, prompt
included, and stored under a different hash of the same material: whoever reads the cache
store (Redis, the disk) sees neither the prompt nor the images, and cannot open an entry
without already knowing the request that made it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from decimal import Decimal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from imagegen.types import GeneratedImage, ProviderResult, Usage

_VERSION = b"imagegen-cache-v1"


@dataclass(frozen=True, slots=True)
class Material:
    """What identifies a cacheable request (bytes that never leave this process)."""

    digest: bytes

    @property
    def lookup_key(self) -> str:
        return hashlib.sha256(_VERSION + b"\x00key\x00" + self.digest).hexdigest()

    @property
    def _sealing_key(self) -> bytes:
        return hashlib.sha256(_VERSION + b"\x00seal\x00" + self.digest).digest()

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self._sealing_key).encrypt(nonce, plain, None)

    def open(self, sealed: bytes) -> bytes | None:
        try:
            return AESGCM(self._sealing_key).decrypt(sealed[:12], sealed[12:], None)
        except (InvalidTag, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached generation."""

    model_name: str
    """The model group of the deployment that made it."""
    model_id: str
    result: ProviderResult
    cost: Decimal | None
    """What it cost when it was made: what every hit saves."""
    stored_at: float

    def encode(self) -> bytes:
        images = self.result.images
        header = {
            "model_name": self.model_name,
            "model_id": self.model_id,
            "cost": None if self.cost is None else str(self.cost),
            "stored_at": self.stored_at,
            "created": self.result.created,
            "quality": self.result.quality,
            "size": self.result.size,
            "usage": None if self.result.usage is None else self.result.usage.model_dump(),
            "images": [
                {
                    "bytes": len(image.data()),
                    "mime_type": image.mime_type,
                    "width": image.width,
                    "height": image.height,
                    "revised_prompt": image.revised_prompt,
                }
                for image in images
            ],
        }
        head = orjson.dumps(header)
        return b"".join([len(head).to_bytes(4, "big"), head, *(i.data() for i in images)])

    @classmethod
    def decode(cls, blob: bytes) -> Entry:
        size = int.from_bytes(blob[:4], "big")
        header = orjson.loads(blob[4 : 4 + size])
        offset = 4 + size
        images = []
        view = memoryview(blob)
        for item in header["images"]:
            end = offset + item["bytes"]
            images.append(
                GeneratedImage(
                    data=bytes(view[offset:end]),
                    mime_type=item["mime_type"],
                    width=item["width"],
                    height=item["height"],
                    revised_prompt=item["revised_prompt"],
                )
            )
            offset = end
        usage = header["usage"]
        return cls(
            model_name=header["model_name"],
            model_id=header["model_id"],
            result=ProviderResult(
                images=images,
                usage=None if usage is None else Usage.model_validate(usage),
                created=header["created"],
                quality=header["quality"],
                size=header["size"],
            ),
            cost=None if header["cost"] is None else Decimal(header["cost"]),
            stored_at=header["stored_at"],
        )
