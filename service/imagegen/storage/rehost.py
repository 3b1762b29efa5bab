"""Re-hosting provider URLs (opt-in): an image a provider answered as a link to its own
storage (DALL·E, Recraft, BFL, fal), which expires on the provider's schedule, is fetched
and put in the result store, so every URL a caller receives lives as long as the operator chose.

Only from the providers' known hosts (or hosts the operator lists), over a connection that
follows no redirect, and never more than `max_bytes`: the gateway must not become a way to
fetch arbitrary URLs, nor be made to hold an unbounded download in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

# Where the providers that answer with URLs keep their images.
KNOWN_HOSTS = (
    "oaidalleapiprodscus.blob.core.windows.net",  # OpenAI DALL·E
    "dalleprodsec.blob.core.windows.net",  # Azure OpenAI DALL·E
    "img.recraft.ai",  # Recraft
    "bfl.ai",  # Black Forest Labs (delivery-*.bfl.ai)
    "fal.media",  # fal (v3.fal.media, ...)
)


class RehostError(Exception):
    """The image could not be fetched (refused host, too large, upstream failure)."""


class Rehoster:
    """Fetches provider image URLs from allowed hosts, bounded in size and time."""

    def __init__(self, extra_hosts: Sequence[str], max_bytes: int, timeout: float = 30.0) -> None:
        self.hosts = tuple(h.lower().strip(".") for h in (*KNOWN_HOSTS, *extra_hosts))
        self.max_bytes = max_bytes
        self._client = httpx.AsyncClient(follow_redirects=False, timeout=timeout)

    def allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host:
            return False
        return any(host == h or host.endswith(f".{h}") for h in self.hosts)

    async def fetch(self, url: str) -> tuple[bytes, str | None]:
        """The bytes at `url` and their content type (raises RehostError)."""
        if not self.allowed(url):
            raise RehostError("the URL's host is not a known provider host")
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise RehostError(f"the provider's storage answered {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise RehostError("the image exceeds the re-hosting size limit")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise RehostError("the image exceeds the re-hosting size limit")
                    chunks.append(chunk)
                mime = response.headers.get("content-type", "").split(";")[0].strip() or None
                return b"".join(chunks), mime
        except httpx.HTTPError as exc:
            what = type(exc).__name__
            raise RehostError(f"the provider's storage could not be reached ({what})") from None

    async def aclose(self) -> None:
        await self._client.aclose()
