"""What a quota store does, and how money is counted in a shared one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol

from imagegen.keys.model import KeySpec
from imagegen.spend.budgets import Hold
from imagegen.spend.quota.parallel import Lease

MICROS = Decimal(1_000_000)

Durable = Callable[[], Awaitable[object]]
"""Waits until the call's spend row is committed to the database."""


def to_micros(amount: Decimal, *, up: bool) -> int:
    """`amount` USD in exact integer micro-dollars; rounded up (charges) or down (budgets).

    Rounding charges up and budgets down keeps the shared count on the safe side of a
    budget when a price has more than six decimals.
    """
    return int((amount * MICROS).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR))


def from_micros(micros: int) -> Decimal:
    return Decimal(micros) / MICROS


class QuotaStore(Protocol):
    """Rate windows and budget state of keys; see the package doc for the two kinds."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def enter(self, key: KeySpec, stream: bool) -> Lease | None:
        """A place among the key's calls (and streams) in flight, or KeyRateLimitedError;
        None when the key has no concurrency limit."""

    async def leave(self, lease: Lease) -> None:
        """Give the place back (once; later calls do nothing)."""

    async def admit(self, key: KeySpec, images: int, now: float) -> None:
        """Count a call of `images` images in the key's minute, or raise KeyRateLimitedError."""

    async def reserve(self, key: KeySpec, amount: Decimal, now: float) -> Hold:
        """Hold `amount` against the key's budget, or raise BudgetExceededError."""

    async def take(
        self, key: KeySpec, amount: Decimal | None, images: int, now: float
    ) -> Hold | None:
        """reserve `amount` (None: the key has no budget), then admit; both or neither."""

    async def settle(self, hold: Hold, charged: Decimal, durable: Durable) -> None:
        """Replace the hold by the charge `charged` (once; later calls do nothing).

        `durable` lets a shared store keep counting the charge as a hold until the spend
        row is in the database, from which its budget state is rebuilt after a loss.
        """

    async def spent(self, key: KeySpec, now: float | None = None) -> Decimal:
        """What the key was charged in its current period (holds excluded)."""
