"""The router state of a single process (the default)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from imagegen.router.state import Limits, Load, minute_window


class MemoryStore:
    """RouterStore in this process's memory; all methods run without awaiting, so atomically."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}
        self._requests: dict[tuple[str, int], int] = {}
        self._images: dict[tuple[str, int], int] = {}
        self._tokens: dict[tuple[str, int], int] = {}
        self._failures: dict[tuple[str, int], int] = {}
        self._cooldowns: dict[str, float] = {}
        self._latency: dict[tuple[str, str], float] = {}

    async def try_acquire(self, model_id: str, limits: Limits, images: int) -> str | None:
        window = minute_window()
        self._forget_old(window)
        in_flight = self._in_flight.get(model_id, 0)
        requests = self._requests.get((model_id, window), 0)
        used_images = self._images.get((model_id, window), 0)
        if limits.max_parallel is not None and in_flight >= limits.max_parallel:
            return "max_parallel_requests"
        if limits.rpm is not None and requests + 1 > limits.rpm:
            return "rpm"
        if limits.ipm is not None and used_images + images > limits.ipm:
            return "ipm"
        if limits.tpm is not None and self._tokens.get((model_id, window), 0) >= limits.tpm:
            return "tpm"
        self._in_flight[model_id] = in_flight + 1
        self._requests[(model_id, window)] = requests + 1
        self._images[(model_id, window)] = used_images + images
        return None

    async def release(self, model_id: str) -> None:
        self._in_flight[model_id] = max(0, self._in_flight.get(model_id, 0) - 1)

    async def record_tokens(self, model_id: str, tokens: int) -> None:
        key = (model_id, minute_window())
        self._tokens[key] = self._tokens.get(key, 0) + tokens

    async def loads(self, model_ids: Sequence[str]) -> dict[str, Load]:
        window = minute_window()
        return {
            model_id: Load(
                in_flight=self._in_flight.get(model_id, 0),
                requests=self._requests.get((model_id, window), 0),
                images=self._images.get((model_id, window), 0),
                tokens=self._tokens.get((model_id, window), 0),
            )
            for model_id in model_ids
        }

    async def record_failure(self, model_id: str) -> int:
        key = (model_id, minute_window())
        self._failures[key] = self._failures.get(key, 0) + 1
        return self._failures[key]

    async def cool_down(self, model_id: str, until: float) -> None:
        self._cooldowns[model_id] = max(until, self._cooldowns.get(model_id, 0.0))

    async def cooldowns(self, model_ids: Sequence[str]) -> dict[str, float]:
        now = time.time()
        return {
            model_id: until
            for model_id in model_ids
            if (until := self._cooldowns.get(model_id, 0.0)) > now
        }

    async def record_latency(self, model_id: str, size: str, seconds: float, alpha: float) -> None:
        key = (model_id, size)
        old = self._latency.get(key)
        self._latency[key] = seconds if old is None else alpha * seconds + (1 - alpha) * old

    async def latencies(self, model_ids: Sequence[str], size: str) -> dict[str, float]:
        return {m: self._latency[(m, size)] for m in model_ids if (m, size) in self._latency}

    async def aclose(self) -> None:
        return None

    def _forget_old(self, window: int) -> None:
        # Counters of past windows are never read again.
        for table in (self._requests, self._images, self._tokens, self._failures):
            for key in [k for k in table if k[1] < window]:
                del table[key]
