"""The embedded result store: a local directory, served by the HTTP door under signed URLs.

Objects are named by the SHA-256 of their bytes, so the same image stored twice is one file,
and a name can never reach outside the directory (it is checked against a strict pattern).
A file is deleted once every URL handed out for it has expired (its modification time is
the last time it was handed out), so the directory holds at most `ttl_seconds` of images.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from imagegen.storage.base import ResultStore, StoredImage
from imagegen.storage.signing import UrlSigner

log = logging.getLogger(__name__)

# The HTTP door's route for stored images.
FILES_PATH = "/v1/files"
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/webp": "webp",
    "image/gif": "gif",
    # Vectorize answers SVG documents: stored and served as what they are.
    "image/svg+xml": "svg",
}
MIME_TYPES = {ext: mime for mime, ext in _EXTENSIONS.items()} | {"bin": "application/octet-stream"}


def extension_for(mime_type: str | None) -> str:
    return _EXTENSIONS.get(mime_type or "", "bin")


# How often the directory is swept for files whose URLs have all expired.
SWEEP_SECONDS = 3600.0
# A URL is refused after its expiry; its file goes a minute later (clock steps, slow readers).
_SWEEP_MARGIN = 60.0
_KEY = re.compile(r"^[0-9a-f]{64}\.(png|jpeg|webp|gif|svg|bin)$")


class LocalStore:
    """Images in `directory`; URLs under `base_url` (the HTTP door), valid `ttl_seconds`."""

    name = "local"

    def __init__(
        self,
        directory: Path,
        signer: UrlSigner,
        *,
        ttl_seconds: int,
        base_url: str | None = None,
        sweep_every: float | None = SWEEP_SECONDS,
    ) -> None:
        self.directory = directory
        # None: no sweep in the background (only explicit `sweep()` calls).
        self.sweep_every = sweep_every
        self.signer = signer
        self.ttl_seconds = ttl_seconds
        self.base_url = base_url.rstrip("/") if base_url else None
        self._next_sweep = 0.0
        self._sweeping: asyncio.Future[int] | None = None

    @property
    def ready(self) -> bool:
        return self.base_url is not None

    def bind(self, base_url: str) -> None:
        """Serve URLs under `base_url` unless one was configured (the door's address)."""
        if self.base_url is None:
            self.base_url = base_url.rstrip("/")

    async def put(self, data: bytes, mime_type: str | None) -> StoredImage:
        key = f"{hashlib.sha256(data).hexdigest()}.{extension_for(mime_type)}"
        await asyncio.to_thread(self._write, key, data)
        now = time.time()
        if self.sweep_every is not None and now >= self._next_sweep:
            # At most one sweep at a time, off the event loop, at most every `sweep_every`.
            self._next_sweep = now + self.sweep_every
            self._sweeping = asyncio.ensure_future(asyncio.to_thread(self.sweep, now))
        return StoredImage(key=key, url=self.url(key), size=len(data))

    def sweep(self, now: float | None = None) -> int:
        """Delete the files whose every URL has expired; returns how many went."""
        cutoff = (time.time() if now is None else now) - self.ttl_seconds - _SWEEP_MARGIN
        removed = 0
        if not self.directory.is_dir():
            return 0
        for path in self.directory.glob("??/*"):
            try:
                if _KEY.match(path.name) and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another worker swept it first
        return removed

    def url(self, key: str, *, now: float | None = None) -> str:
        if self.base_url is None:
            raise RuntimeError("the local store has no base URL (the HTTP door is off?)")
        expires = int((time.time() if now is None else now) + self.ttl_seconds)
        signature = self.signer.signature(key, expires)
        return f"{self.base_url}{FILES_PATH}/{quote(key)}?expires={expires}&sig={signature}"

    def open(self, key: str, expires: str, signature: str) -> Path | None:
        """The file a signed URL names, or None when the URL is tampered, expired or unknown."""
        if not _KEY.match(key) or not self.signer.valid(key, expires, signature):
            return None
        path = self.directory / key[:2] / key
        return path if path.is_file() else None

    def _write(self, key: str, data: bytes) -> None:
        path = self.directory / key[:2] / key
        if path.is_file():
            # Content-addressed: already there, byte for byte. Handed out again now, so it
            # must outlive the new URL.
            try:
                os.utime(path)
                return
            except FileNotFoundError:
                pass  # swept in between: write it again
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: two threads may write the same image at once.
        tmp = path.with_name(f".{key}.{secrets.token_hex(8)}.tmp")
        tmp.write_bytes(data)
        # A reader never sees a half-written file.
        os.replace(tmp, path)

    async def aclose(self) -> None:
        if self._sweeping is not None:
            await self._sweeping


def bind_to_door(
    store: ResultStore | None, host: str, port: int | None, *, tls: bool
) -> ResultStore | None:
    """`store`, pointed at the HTTP door that serves it when it is a local store without a
    configured base URL; None when there is no door to serve it.

    A wildcard listen address is no address to hand a caller: loopback stands in for it
    (set storage_settings.public_base_url for callers on other hosts)."""
    if not isinstance(store, LocalStore) or store.base_url is not None:
        return store
    if port is None:
        log.warning("the HTTP door is off: the local result store cannot serve URLs")
        return None
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    store.bind(f"{'https' if tls else 'http'}://{host}:{port}")
    return store
