"""The OpenAI-shaped image answer, read once for every adapter whose provider speaks it.

`{"created": ..., "data": [{"b64_json": ...} | {"url": ...}, ...], ...}`: OpenAI, Azure,
Xinference and Recraft answer this way. This module checks the shape and says what each
entry holds; each adapter then decides what the bytes are (MIME type, dimensions, SVG).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from imagegen.errors import ProviderBadResponseError


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """One entry of the answer's `data` list: base64 content or a URL (never neither)."""

    b64_json: object | None
    """The b64_json value as found (a string, or an adapter's own placeholder for it)."""
    url: str | None
    revised_prompt: str | None


def image_entries(payload: object, *, provider: str) -> tuple[dict[str, object], list[ImageEntry]]:
    """The answer as a dict and its image entries, or ProviderBadResponseError."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ProviderBadResponseError(
            "the provider's response has no image list", provider=provider
        )
    entries = []
    for item in payload["data"]:
        if not isinstance(item, dict):
            raise ProviderBadResponseError("an image entry is not an object", provider=provider)
        revised = item.get("revised_prompt")
        revised = revised if isinstance(revised, str) else None
        if item.get("b64_json"):
            entries.append(ImageEntry(b64_json=item["b64_json"], url=None, revised_prompt=revised))
        elif isinstance(item.get("url"), str) and item["url"]:
            entries.append(ImageEntry(b64_json=None, url=item["url"], revised_prompt=revised))
        else:
            raise ProviderBadResponseError(
                "an image entry has neither b64_json nor url", provider=provider
            )
    return payload, entries


def created_of(payload: dict[str, object]) -> int:
    """The answer's `created` time, or now when it has none."""
    created = payload.get("created")
    return created if isinstance(created, int) else int(time.time())
