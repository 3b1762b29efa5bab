"""Where sealed cache entries are kept: memory (one process), a directory, Redis or S3."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import botocore.session
import redis.asyncio as aioredis
from botocore.config import Config


class CacheBackend(Protocol):
    """Opaque bytes under string keys, each with its own time to live."""

    name: str
    shared: bool
    """Whether other processes read it too (then single flight spans them: `lead`)."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def aclose(self) -> None: ...

    async def lead(self, key: str, token: str, ttl: float) -> bool:
        """Claim the call for `key` across processes (True: this caller makes it)."""
        ...

    async def leading(self, key: str) -> bool:
        """Whether some process still holds the claim on `key`."""
        ...

    async def release(self, key: str, token: str) -> None: ...


class _Unshared:
    """One process: its in-process flights are all the single flight there is."""

    shared = False

    async def lead(self, key: str, token: str, ttl: float) -> bool:
        return True

    async def leading(self, key: str) -> bool:
        return False

    async def release(self, key: str, token: str) -> None:
        return None


class MemoryBackend(_Unshared):
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


class DiskBackend(_Unshared):
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
        # A name of its own: two threads may write the same entry at once.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        tmp.write_bytes(f"{expires:<20.3f}".encode() + value)
        os.replace(tmp, path)  # readers see the old entry or the new one, never half

    async def aclose(self) -> None:
        return None


class S3Backend(_Unshared):
    """One object per entry under `path` in a bucket (kept across restarts, read by replicas).

    S3 has no per-object time to live: the expiry rides in the object's metadata and is
    checked on read (an expired entry is a miss, and is deleted). Single flight is per
    replica: S3 has no atomic claim-with-expiry to lead across replicas, so `lead`, `leading`
    and `release` are process-local like the disk backend's (`shared` is False), and replicas
    may each make the first call for the same request once.
    """

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        path: str | None = None,
        region: str | None = None,
        api_version: str | None = None,
        use_ssl: bool = True,
        verify: bool | str | None = None,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{path.strip('/')}/" if path and path.strip("/") else ""
        session = botocore.session.get_session()
        # botocore's client is synchronous: every call runs in a worker thread.
        self._client: Any = session.create_client(
            "s3",
            region_name=region or "us-east-1",
            api_version=api_version,
            use_ssl=use_ssl,
            verify=verify,
            endpoint_url=endpoint_url,
            # None: the standard credential chain (environment, profile, instance role).
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def object_key(self, key: str) -> str:
        # Keys are hex digests behind a namespace: each colon a folder.
        return self.prefix + key.replace(":", "/")

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self.object_key(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self.object_key(key),
            Body=value,
            ContentType="application/octet-stream",
            Metadata={"expires": f"{time.time() + ttl:.3f}"},
        )

    def _read(self, object_key: str) -> bytes | None:
        try:
            found = self._client.get_object(Bucket=self.bucket, Key=object_key)
        except self._client.exceptions.NoSuchKey:
            return None
        body = found["Body"]
        try:
            expires = float(found.get("Metadata", {}).get("expires", "0"))
            if expires <= time.time():
                self._client.delete_object(Bucket=self.bucket, Key=object_key)
                return None
            value: bytes = body.read()
        finally:
            body.close()
        return value

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)


# Deletes the claim only if it is still the caller's (it may have expired and been retaken).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBackend:
    """Shared by every replica pointing at the same Redis and namespace."""

    name = "redis"
    shared = True

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.client.set(key, value, px=max(1, int(ttl * 1000)))

    async def lead(self, key: str, token: str, ttl: float) -> bool:
        # The claim expires with the leader's deadline: a replica that dies frees it.
        claimed = await self.client.set(f"{key}:flight", token, nx=True, px=max(1, int(ttl * 1000)))
        return bool(claimed)

    async def leading(self, key: str) -> bool:
        return bool(await self.client.exists(f"{key}:flight"))

    async def release(self, key: str, token: str) -> None:
        await self.client.eval(_RELEASE, 1, f"{key}:flight", token)  # type: ignore[misc]

    async def aclose(self) -> None:
        await self.client.aclose()
