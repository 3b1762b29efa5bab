"""The per-process quota store: today's budget ledger and rate limiter, unchanged.

Guarantees hold within one process only: each replica of a fleet enforces a key's
limits and budget on its own (N replicas can serve up to N times a limit).
"""

from __future__ import annotations

from decimal import Decimal

from imagegen.errors import ImageGenError
from imagegen.keys.model import KeySpec
from imagegen.spend.budgets import BudgetLedger, Hold
from imagegen.spend.limits import RateLimiter
from imagegen.spend.quota.base import Durable
from imagegen.spend.quota.parallel import Lease, ParallelCounter
from imagegen.spend.store import Store


class MemoryQuota:
    """QuotaStore in this process's memory (charged spend summed from the spend log)."""

    def __init__(self, store: Store) -> None:
        self.ledger = BudgetLedger(store)
        self.limiter = RateLimiter()
        self.parallel = ParallelCounter()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def enter(self, key: KeySpec, stream: bool) -> Lease | None:
        return self.parallel.enter(key, stream)

    async def leave(self, lease: Lease) -> None:
        self.parallel.leave(lease)

    async def admit(self, key: KeySpec, images: int, now: float) -> None:
        self.limiter.admit(key, images, now)

    async def reserve(self, key: KeySpec, amount: Decimal, now: float) -> Hold:
        return await self.ledger.reserve(key, amount, now)

    async def take(
        self, key: KeySpec, amount: Decimal | None, images: int, now: float
    ) -> Hold | None:
        hold = None if amount is None else await self.ledger.reserve(key, amount, now)
        try:
            self.limiter.admit(key, images, now)
        except ImageGenError:
            if hold is not None:
                self.ledger.settle(hold, Decimal(0))
            raise
        return hold

    async def settle(self, hold: Hold, charged: Decimal, durable: Durable) -> None:
        # The ledger adds the charge to what it summed from the log: no need to wait for it.
        self.ledger.settle(hold, charged)

    async def spent(self, key: KeySpec, now: float | None = None) -> Decimal:
        return await self.ledger.spent(key, now)
