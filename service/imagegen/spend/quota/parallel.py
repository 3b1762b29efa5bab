"""Per-key concurrency: calls in flight (`max_parallel_requests`) and open streams
(`max_parallel_streams`), counted from the moment a call is admitted until it ends.

A call takes a Lease when it starts and gives it back exactly once when it ends (served,
failed or cancelled). `ParallelCounter` counts in this process's memory; the shared store
keeps leases in Redis instead (see redis_quota and scripts.LEASE_TAKE).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from imagegen.errors import KeyRateLimitedError
from imagegen.keys.model import KeySpec

# A concurrency slot frees when some call ends, which no one can foretell: ask to retry soon.
RETRY_AFTER_SECONDS = 1.0


def limited(key: KeySpec) -> bool:
    """Whether the key has any concurrency limit."""
    return key.max_parallel_requests is not None or key.max_parallel_streams is not None


@dataclass(slots=True)
class Lease:
    """One call's place among its key's calls in flight (and streams, when `stream`)."""

    key_id: str
    stream: bool
    released: bool = False
    lease_id: str = ""
    shared: bool = False
    refresher: asyncio.Task[None] | None = field(default=None, repr=False)
    stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


def too_many(key: KeySpec, limit: str, value: int, what: str) -> KeyRateLimitedError:
    return KeyRateLimitedError(
        f"key {key.alias!r} is limited to {value} {what} at once",
        subject=f"key:{key.alias}:{limit}",
        retry_after=RETRY_AFTER_SECONDS,
        metadata={"key_alias": key.alias, "limit": limit},
    )


class ParallelCounter:
    """Calls and streams in flight per key, in this process only."""

    def __init__(self) -> None:
        self._requests: dict[str, int] = {}
        self._streams: dict[str, int] = {}

    def enter(self, key: KeySpec, stream: bool) -> Lease | None:
        """A lease for the call, or KeyRateLimitedError; None when the key has no limit."""
        if not limited(key):
            return None
        requests = self._requests.get(key.key_id, 0)
        streams = self._streams.get(key.key_id, 0)
        if key.max_parallel_requests is not None and requests >= key.max_parallel_requests:
            raise too_many(key, "max_parallel_requests", key.max_parallel_requests, "calls")
        if stream and key.max_parallel_streams is not None and streams >= key.max_parallel_streams:
            raise too_many(key, "max_parallel_streams", key.max_parallel_streams, "streams")
        self._requests[key.key_id] = requests + 1
        if stream:
            self._streams[key.key_id] = streams + 1
        return Lease(key.key_id, stream)

    def leave(self, lease: Lease) -> None:
        """Give the lease back (once; later calls do nothing)."""
        if lease.released:
            return
        lease.released = True
        _drop(self._requests, lease.key_id)
        if lease.stream:
            _drop(self._streams, lease.key_id)

    def in_flight(self, key_id: str) -> tuple[int, int]:
        return self._requests.get(key_id, 0), self._streams.get(key_id, 0)


def _drop(counts: dict[str, int], key_id: str) -> None:
    left = counts.get(key_id, 0) - 1
    if left > 0:
        counts[key_id] = left
    else:
        counts.pop(key_id, None)
