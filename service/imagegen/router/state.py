"""What replicas share about deployments: the router's state, behind one small protocol.

Counters are per deployment id and per wall-clock minute (a fixed window), so that
several processes agree without talking to each other: the in-memory store serves one
process, the Redis store (state_redis.py) a fleet.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Limits:
    """A deployment's own limits (None: unlimited)."""

    rpm: int | None = None
    ipm: int | None = None
    max_parallel: int | None = None
    tpm: int | None = None
    """Tokens per minute: a deployment whose window has reached it takes no more calls
    (its calls' tokens are known only after them, so the window may end a call over)."""


@dataclass(frozen=True, slots=True)
class Load:
    """A deployment's current load: calls in flight, and this minute's requests, images and
    tokens."""

    in_flight: int = 0
    requests: int = 0
    images: int = 0
    tokens: int = 0


class RouterStore(Protocol):
    """Shared deployment state. Every method is safe to call from many replicas at once."""

    async def try_acquire(self, model_id: str, limits: Limits, images: int) -> str | None:
        """Count a call starting, unless a limit forbids it: None, or the limit's name."""
        ...

    async def release(self, model_id: str) -> None:
        """A call counted by try_acquire ended."""
        ...

    async def record_tokens(self, model_id: str, tokens: int) -> None:
        """Add a finished call's tokens (input + output) to the current minute's count."""
        ...

    async def loads(self, model_ids: Sequence[str]) -> dict[str, Load]: ...

    async def record_failure(self, model_id: str) -> int:
        """Count a failure; returns the deployment's failures in the current minute."""
        ...

    async def cool_down(self, model_id: str, until: float) -> None:
        """Skip the deployment until `until` (time.time())."""
        ...

    async def cooldowns(self, model_ids: Sequence[str]) -> dict[str, float]:
        """The active cooldowns' end times (time.time()), by deployment id."""
        ...

    async def record_latency(self, model_id: str, size: str, seconds: float, alpha: float) -> None:
        """Fold one observed call duration into the moving average for (deployment, size)."""
        ...

    async def latencies(self, model_ids: Sequence[str], size: str) -> dict[str, float]:
        """The moving averages known for `size`, by deployment id."""
        ...

    async def aclose(self) -> None: ...


def minute_window(now: float | None = None) -> int:
    """The current fixed one-minute window."""
    return int((time.time() if now is None else now) // 60)


def seconds_to_next_window(now: float | None = None) -> float:
    now = time.time() if now is None else now
    return 60.0 - (now % 60.0)
