"""Budgets with reservation: a call's quote is held against the key's budget before the
provider is called, and replaced by the actual charge after.

Everything here runs on the event loop without awaiting between the check and the
hold, so concurrent calls see each other's reservations: committed + held never exceeds
the budget, and the budget is overshot only when an actual cost exceeds its quote.
Holds live in memory and die with the process (a call in flight then was never
charged); what was charged is summed from the spend log when a key is first used in
a period, so a restart neither forgets nor double-counts spend.
"""

from __future__ import annotations

import asyncio
import calendar
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from imagegen.errors import BudgetExceededError
from imagegen.keys.model import BudgetPeriod, KeySpec
from imagegen.spend.store import Store


def period_bounds(period: BudgetPeriod | None, now: float) -> tuple[float, float | None]:
    """The start of the budget period containing `now`, and the next one's (None: no end)."""
    if period is None:
        return 0.0, None
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start = day.timestamp()
        return start, start + 86_400
    first = day.replace(day=1)
    days = calendar.monthrange(first.year, first.month)[1]
    return first.timestamp(), first.timestamp() + days * 86_400


@dataclass(slots=True)
class Hold:
    """One call's reservation."""

    key_id: str
    period_start: float
    amount: Decimal
    settled: bool = False


class BudgetLedger:
    """Charged and held amounts per key and period."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._charged: dict[tuple[str, float], Decimal] = {}
        self._held: dict[tuple[str, float], Decimal] = {}
        self._loading: dict[tuple[str, float], asyncio.Lock] = {}

    async def _charged_in(self, key: KeySpec, start: float) -> Decimal:
        slot = (key.key_id, start)
        if slot not in self._charged:
            lock = self._loading.setdefault(slot, asyncio.Lock())
            async with lock:
                if slot not in self._charged:
                    self._charged[slot] = await self.store.charged_since(key.key_id, start)
        return self._charged[slot]

    async def spent(self, key: KeySpec, now: float | None = None) -> Decimal:
        """What the key was charged in the current period (holds excluded)."""
        start, _ = period_bounds(key.budget_period, time.time() if now is None else now)
        return await self._charged_in(key, start)

    async def reserve(self, key: KeySpec, amount: Decimal, now: float) -> Hold:
        """Hold `amount` against the key's budget, or raise BudgetExceededError."""
        start, end = period_bounds(key.budget_period, now)
        charged = await self._charged_in(key, start)
        # No await from here on: the check and the hold are one step for the event loop.
        slot = (key.key_id, start)
        held = self._held.get(slot, Decimal(0))
        budget = key.max_budget
        if budget is not None and charged + held + amount > budget:
            left = max(Decimal(0), budget - charged - held)
            raise BudgetExceededError(
                f"the budget of key {key.alias!r} does not cover this call "
                f"(quote {amount} USD, {left} USD left of {budget})",
                subject=f"key:{key.alias}:budget",
                retry_after=None if end is None else max(0.0, end - now),
                metadata={"key_alias": key.alias, "quote": str(amount), "budget": str(budget)},
            )
        self._held[slot] = held + amount
        return Hold(key.key_id, start, amount)

    def settle(self, hold: Hold, charged: Decimal) -> None:
        """Release the hold and charge `charged` instead (once; later calls do nothing)."""
        if hold.settled:
            return
        hold.settled = True
        slot = (hold.key_id, hold.period_start)
        self._held[slot] = self._held.get(slot, Decimal(0)) - hold.amount
        if slot in self._charged:
            self._charged[slot] += charged
