"""Where sealed cache entries are kept: memory (one process), a directory, or Redis."""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import redis.asyncio as aioredis


class CacheBackend(Protocol):
    """Opaque bytes under string keys, each with its own time to live."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def aclose(self) -> None: ...


class MemoryBackend:
    """In this process only, bounded by bytes: the least recently used entry goes first."""

    name = "local"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.max_bytes:
            return  # larger than the whole cache: keeping it would evict everything else
        self._drop(key)
        self._entries[key] = (time.monotonic() + ttl, value)
        self._bytes += len(value)
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._bytes -= len(found[1])

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0


class DiskBackend:
    """One file per entry in a directory (kept across restarts, shared by the workers)."""

    name = "disk"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        # Keys are hex digests behind a namespace: the file name is a digest of the whole.
        return self.directory / key.replace(":", "_")

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self._path(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await asyncio.to_thread(self._write, self._path(key), value, time.time() + ttl)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        if float(blob[:20].decode()) <= time.time():
            path.unlink(missing_ok=True)
            return None
        return blob[20:]

    def _write(self, path: Path, value: bytes, expires: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(f"{expires:<20.3f}".encode() + value)
        os.replace(tmp, path)  # readers see the old entry or the new one, never half

    async def aclose(self) -> None:
        return None


class RedisBackend:
    """Shared by every replica pointing at the same Redis and namespace."""

    name = "redis"

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.client.set(key, value, px=max(1, int(ttl * 1000)))

    async def aclose(self) -> None:
        await self.client.aclose()
