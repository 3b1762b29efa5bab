"""Which quota store a call uses, and what happens when the shared one is unreachable.

Without a shared store, the process's own (memory) store. With one, the shared store;
when Redis cannot be reached, calls of keys with a budget or a rate limit fail closed
(UNAVAILABLE with RetryInfo) unless `fail_open` is set, in which case they run under this
replica's own in-memory limits: the fleet-wide guarantee is lost for the outage, never
silently: each such decision is logged (key id only) and counted (a "quota" decision).
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from redis.exceptions import RedisError

from imagegen.errors import QuotaStateUnavailableError
from imagegen.events import Decision
from imagegen.keys.model import KeySpec
from imagegen.keys.registry import KeyRegistry
from imagegen.keys.sync import KeySync
from imagegen.spend.budgets import Hold
from imagegen.spend.quota.base import Durable
from imagegen.spend.quota.memory import MemoryQuota
from imagegen.spend.quota.parallel import Lease
from imagegen.spend.quota.redis_quota import RedisQuota, SharedHold

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1.0
_LOG_EVERY_SECONDS = 10.0


class QuotaPolicy:
    """The access hook's one entry to quotas."""

    def __init__(self, local: MemoryQuota, shared: RedisQuota | None, *, fail_open: bool):
        self.local = local
        self.shared = shared
        self.fail_open = fail_open
        self._logged_at = -_LOG_EVERY_SECONDS
        self.key_sync: KeySync | None = None

    async def start(self, registry: KeyRegistry) -> None:
        """Start sharing; in fleet mode key changes travel over the same Redis."""
        if self.shared is not None:
            await self.shared.start()
            self.key_sync = KeySync(self.shared.redis, f"{self.shared.ns}:keys", registry)
            await self.key_sync.start()

    async def aclose(self) -> None:
        if self.key_sync is not None:
            await self.key_sync.aclose()
        if self.shared is not None:
            await self.shared.aclose()

    def _unreachable(
        self, exc: Exception, key: KeySpec, step: str, decisions: list[Decision]
    ) -> None:
        action = "fail_open" if self.fail_open else "fail_closed"
        decisions.append(Decision("quota", step, action, "shared quota store unreachable"))
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY_SECONDS:
            self._logged_at = now
            log.warning(
                "quota: Redis unreachable (%s) at %s for key_id=%s: %s, %s",
                type(exc).__name__,
                step,
                key.key_id,
                action,
                "serving under this replica's own limits"
                if self.fail_open
                else "refusing budgeted and rate-limited calls",
            )
        if not self.fail_open:
            raise QuotaStateUnavailableError(
                "the shared quota store is unreachable; retry shortly",
                retry_after=RETRY_AFTER_SECONDS,
                metadata={"key_alias": key.alias},
            ) from None

    async def enter(self, key: KeySpec, stream: bool, decisions: list[Decision]) -> Lease | None:
        """A place among the key's calls in flight (None: no concurrency limit)."""
        if self.shared is not None:
            try:
                return await self.shared.enter(key, stream)
            except RedisError as exc:
                self._unreachable(exc, key, "enter", decisions)
        return await self.local.enter(key, stream)

    async def leave(self, lease: Lease) -> None:
        if lease.shared and self.shared is not None:
            try:
                await self.shared.leave(lease)
            except RedisError as exc:
                # The lease expires by itself within hold_seconds.
                log.warning("quota: releasing a lease failed (%s)", type(exc).__name__)
            return
        await self.local.leave(lease)

    async def take(
        self,
        key: KeySpec,
        amount: Decimal | None,
        images: int,
        now: float,
        decisions: list[Decision],
    ) -> Hold | None:
        """Hold the quote (None: no budget) and count the call; refused: nothing is kept."""
        if self.shared is not None:
            try:
                return await self.shared.take(key, amount, images, now)
            except RedisError as exc:
                self._unreachable(exc, key, "take", decisions)
        return await self.local.take(key, amount, images, now)

    async def settle(self, hold: Hold, charged: Decimal, durable: Durable) -> None:
        if isinstance(hold, SharedHold) and self.shared is not None:
            try:
                await self.shared.settle(hold, charged, durable)
            except RedisError as exc:
                # The hold expires by itself; the spend row still reaches the database,
                # from which the budget is seeded again.
                log.warning("quota: settling a shared hold failed (%s)", type(exc).__name__)
            return
        await self.local.settle(hold, charged, durable)

    async def spent(self, key: KeySpec, now: float | None = None) -> Decimal:
        if self.shared is not None:
            try:
                return await self.shared.spent(key, now)
            except RedisError:
                log.warning("quota: Redis unreachable; reporting this replica's view of spend")
        return await self.local.spent(key, now)
