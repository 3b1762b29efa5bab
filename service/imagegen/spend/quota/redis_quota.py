"""The shared quota store: every replica on one Redis enforces a key's limits as one.

Budgets: the committed spend of a key's period plus the holds of calls in flight never
exceed its budget across the fleet (one Lua script checks and holds). A hold expires
`hold_seconds` after its replica last refreshed it, so a replica that dies mid-call
frees its holds within seconds. The database stays the truth: the committed amount is
seeded from the spend log when Redis does not have it (first use, flush, restart), and
a call's charge stays a hold until its spend row is committed, so that a seed neither
misses nor double-counts it (see scripts.SEED_SET).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from imagegen.errors import BudgetExceededError, ConfigError, QuotaStateUnavailableError
from imagegen.keys.model import KeySpec
from imagegen.spend.budgets import Hold, period_bounds
from imagegen.spend.limits import _limited
from imagegen.spend.quota import scripts
from imagegen.spend.quota.base import Durable, from_micros, to_micros
from imagegen.spend.quota.parallel import Lease, limited, too_many
from imagegen.spend.store import Store

log = logging.getLogger(__name__)

_SEED_ATTEMPTS = 200
_SEED_RETRY_SECONDS = 0.02
# A budget slot outlives its period by a day (late settles still find it).
_PERIOD_MARGIN_SECONDS = 86_400
# Every Redis round trip is bounded by these (redis-py raises TimeoutError past them).
_CONNECT_SECONDS = 1.0
_COMMAND_SECONDS = 2.0
# A refresher asked to stop ends after its current round trip; one that has not ended
# after a whole round trip (plus a margin) is cancelled, so that no settle, release or
# shutdown waits on it without a bound.
_REFRESHER_STOP_SECONDS = _CONNECT_SECONDS + _COMMAND_SECONDS + 1.0


@dataclass(slots=True)
class SharedHold(Hold):
    """A hold in Redis, kept alive by a task of the replica that made it."""

    hold_id: str = ""
    micros: int = 0
    state: str = "h"
    refresher: asyncio.Task[None] | None = field(default=None, repr=False)
    stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class RedisQuota:
    """QuotaStore in Redis (redis.asyncio); one per gateway process."""

    def __init__(
        self, url: str, namespace: str, store: Store, *, hold_seconds: float = 10.0
    ) -> None:
        try:
            self.redis: Any = aioredis.Redis.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=_CONNECT_SECONDS,
                socket_timeout=_COMMAND_SECONDS,
            )
        except ValueError as exc:
            raise ConfigError(f"quota Redis URL: not a Redis URL ({exc})") from None
        self.store = store
        self.ns = namespace
        self.hold_ms = int(hold_seconds * 1000)
        # Refreshed several times per expiry; after a flush, everyone re-creates holds
        # within one refresh, and seeding waits that long (plus a margin) first.
        self.refresh_seconds = min(1.0, hold_seconds / 4)
        self.reseed_wait_ms = int((self.refresh_seconds + 0.25) * 1000)
        self._take = self.redis.register_script(scripts.TAKE)
        self._refresh = self.redis.register_script(scripts.REFRESH)
        self._finalize = self.redis.register_script(scripts.FINALIZE)
        self._probe = self.redis.register_script(scripts.SEED_PROBE)
        self._seed = self.redis.register_script(scripts.SEED_SET)
        self._epoch = self.redis.register_script(scripts.EPOCH)
        self._lease_take = self.redis.register_script(scripts.LEASE_TAKE)
        self._lease_refresh = self.redis.register_script(scripts.LEASE_REFRESH)
        self._lease_release = self.redis.register_script(scripts.LEASE_RELEASE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: set[asyncio.Task[None]] = set()
        # Refreshers end on this flag, not only on cancellation: on Python 3.11 a
        # cancellation that lands while asyncio.wait_for is timing out can be lost, and the
        # refresher would then go on refreshing (and aclose waiting) for ever.
        self._closing = False

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self._closing = True
        # Settles in progress wait for their spend rows; give them a moment to finish.
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        for task in list(self._tasks):
            task.cancel()
        # Holds of calls that never settled (the server is going away): left to expire.
        for task in list(self._live):
            task.cancel()
        ending = {*self._tasks, *self._live}
        if ending:
            _, stuck = await asyncio.wait(ending, timeout=_REFRESHER_STOP_SECONDS)
            if stuck:
                log.warning("quota: %d task(s) did not end at shutdown; left behind", len(stuck))
        await self.redis.aclose()

    # ------------------------------------------------------------------ keys in Redis

    def _slot(self, key_id: str, start: float) -> list[str]:
        # One hash tag per key: the keys a script touches share a Redis Cluster slot.
        base = f"{self.ns}:{{{key_id}}}:{int(start)}"
        return [f"{base}:committed", f"{base}:holds", f"{base}:expiry", f"{base}:writes"]

    def _lease_sets(self, key_id: str, stream: bool) -> list[str]:
        base = f"{self.ns}:{{{key_id}}}"
        return [f"{base}:leases", f"{base}:stream-leases"][: 2 if stream else 1]

    # ------------------------------------------------------------------ calls in flight

    async def enter(self, key: KeySpec, stream: bool) -> Lease | None:
        """A lease among the key's calls (and streams) in flight fleet-wide, or
        KeyRateLimitedError; None when the key has no concurrency limit.

        The lease expires `hold_seconds` after its replica last refreshed it, like a hold.
        """
        if not limited(key):
            return None
        lease = Lease(key.key_id, stream, lease_id=uuid.uuid4().hex, shared=True)
        sets = self._lease_sets(key.key_id, True)
        verdict = await self._lease_take(
            keys=sets,
            args=[
                lease.lease_id,
                self.hold_ms,
                -1 if key.max_parallel_requests is None else key.max_parallel_requests,
                -1 if key.max_parallel_streams is None else key.max_parallel_streams,
                int(stream),
            ],
        )
        if verdict == "requests":
            assert key.max_parallel_requests is not None
            raise too_many(key, "max_parallel_requests", key.max_parallel_requests, "calls")
        if verdict == "streams":
            assert key.max_parallel_streams is not None
            raise too_many(key, "max_parallel_streams", key.max_parallel_streams, "streams")
        lease.refresher = asyncio.create_task(self._keep_lease(lease))
        self._live.add(lease.refresher)
        lease.refresher.add_done_callback(self._live.discard)
        return lease

    async def _keep_lease(self, lease: Lease) -> None:
        sets = self._lease_sets(lease.key_id, lease.stream)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lease.stopping.wait(), self.refresh_seconds)
            if lease.stopping.is_set() or self._closing:
                return
            try:
                await self._lease_refresh(keys=sets, args=[lease.lease_id, self.hold_ms])
            except Exception as exc:
                # The lease expires by itself if Redis stays away; the call goes on.
                log.warning("quota: refreshing a lease failed (%s)", type(exc).__name__)

    async def leave(self, lease: Lease) -> None:
        """Give the lease back, once; a refresh still on the wire lands before the release."""
        if lease.released:
            return
        lease.released = True
        task, lease.refresher = lease.refresher, None
        lease.stopping.set()
        # A refresher cancelled by aclose must not raise into the call: _end waits, not awaits.
        await _end(task, "lease")
        await self._lease_release(
            keys=self._lease_sets(lease.key_id, lease.stream), args=[lease.lease_id]
        )

    async def in_flight(self, key_id: str) -> tuple[int, int]:
        """Live leases of the key: (calls, streams), expired ones not counted."""
        now_s, now_us = await self.redis.time()
        now_ms = int(now_s) * 1000 + int(now_us) // 1000
        sets = self._lease_sets(key_id, True)
        calls = await self.redis.zcount(sets[0], f"({now_ms}", "+inf")
        streams = await self.redis.zcount(sets[1], f"({now_ms}", "+inf")
        return int(calls), int(streams)

    # ------------------------------------------------------------------ taking a call

    async def admit(self, key: KeySpec, images: int, now: float) -> None:
        await self.take(key, None, images, now)

    async def reserve(self, key: KeySpec, amount: Decimal, now: float) -> Hold:
        hold = await self.take(key, amount, 0, now, count=False)
        assert hold is not None
        return hold

    async def take(
        self, key: KeySpec, amount: Decimal | None, images: int, now: float, *, count: bool = True
    ) -> Hold | None:
        """Hold `amount` (None: no budget) and count the call, in one round trip."""
        start, end = period_bounds(key.budget_period, now)
        budgeted = amount is not None and key.max_budget is not None
        limited = count and (key.rpm is not None or key.ipm is not None)
        if not budgeted and not limited:
            return None if amount is None else Hold(key.key_id, start, amount)
        keys = self._slot(key.key_id, start)
        micros = to_micros(amount, up=True) if amount is not None and budgeted else -1
        budget = to_micros(key.max_budget, up=False) if key.max_budget is not None else -1
        hold_id = uuid.uuid4().hex
        args: list[str | int] = [
            hold_id,
            micros,
            budget,
            self.hold_ms,
            -1 if key.rpm is None or not limited else key.rpm,
            -1 if key.ipm is None or not limited else key.ipm,
            images,
            hold_id,
        ]
        # The rate window (one member per call) and its running image count.
        window = [f"{self.ns}:{{{key.key_id}}}:rate", f"{self.ns}:{{{key.key_id}}}:rate-images"]
        for _ in range(3):
            verdict, first, second = await self._take(keys=[*keys[:3], *window], args=args)
            if verdict == "ok":
                if amount is None:
                    return None
                if not budgeted:
                    return Hold(key.key_id, start, amount)
                hold = SharedHold(key.key_id, start, amount, hold_id=hold_id, micros=micros)
                hold.refresher = asyncio.create_task(self._keep_alive(hold, keys))
                self._live.add(hold.refresher)
                hold.refresher.add_done_callback(self._live.discard)
                return hold
            if verdict == "rpm":
                assert key.rpm is not None
                raise _limited(key, "rpm", key.rpm, "requests", int(first) / 1000)
            if verdict == "ipm":
                assert key.ipm is not None
                raise _limited(key, "ipm", key.ipm, "images", int(first) / 1000)
            if verdict == "over":
                assert key.max_budget is not None and amount is not None
                left = max(Decimal(0), key.max_budget - from_micros(int(first) + int(second)))
                raise BudgetExceededError(
                    f"the budget of key {key.alias!r} does not cover this call "
                    f"(quote {amount} USD, {left} USD left of {key.max_budget})",
                    subject=f"key:{key.alias}:budget",
                    retry_after=None if end is None else max(0.0, end - now),
                    metadata={
                        "key_alias": key.alias,
                        "quote": str(amount),
                        "budget": str(key.max_budget),
                    },
                )
            await self._seed_slot(key.key_id, start, end, keys)
        raise QuotaStateUnavailableError(
            "the shared budget state could not be rebuilt", retry_after=1.0
        )

    async def _keep_alive(self, hold: SharedHold, keys: list[str]) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hold.stopping.wait(), self.refresh_seconds)
            if hold.stopping.is_set() or self._closing:
                return
            value = f"{hold.micros}:{hold.state}"
            try:
                await self._refresh(keys=keys[1:], args=[hold.hold_id, value, self.hold_ms, 0])
            except Exception as exc:
                # The hold expires by itself if Redis stays away; the call goes on.
                log.warning("quota: refreshing a budget hold failed (%s)", type(exc).__name__)

    async def settle(self, hold: Hold, charged: Decimal, durable: Durable) -> None:
        if hold.settled:
            return
        hold.settled = True
        if not isinstance(hold, SharedHold):
            return
        keys = self._slot(hold.key_id, hold.period_start)
        micros = to_micros(charged, up=True)
        if micros <= 0:
            await self._stop(hold)
            await self._finalize(keys=keys[:3], args=[hold.hold_id, 0])
            return
        # The charge replaces the quote but stays a hold ("w") until the row is durable.
        hold.micros, hold.state = micros, "w"
        await self._refresh(keys=keys[1:], args=[hold.hold_id, f"{micros}:w", self.hold_ms, 1])
        task = asyncio.create_task(self._commit_after(hold, keys, durable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _commit_after(self, hold: SharedHold, keys: list[str], durable: Durable) -> None:
        try:
            await durable()
            await self._stop(hold)
            await self._finalize(keys=keys[:3], args=[hold.hold_id, hold.micros])
        except Exception as exc:
            # The hold then expires; a seed from the database picks the row up.
            log.warning("quota: committing a charge failed (%s)", type(exc).__name__)
        finally:
            await self._stop(hold)

    @staticmethod
    async def _stop(hold: SharedHold) -> None:
        # Not cancelled mid-command: a refresh still on the wire could land after the
        # finalize and bring the hold back. The loop ends after its current refresh.
        task, hold.refresher = hold.refresher, None
        hold.stopping.set()
        await _end(task, "budget hold")

    async def _seed_slot(
        self, key_id: str, start: float, end: float | None, keys: list[str]
    ) -> None:
        """Set the slot's committed amount from the spend log, exactly once (see module doc)."""
        epoch = [f"{self.ns}:epoch", f"{self.ns}:reseed"]
        wait_ms = int(await self._epoch(keys=epoch, args=[self.reseed_wait_ms]))
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        keep = 0 if end is None else max(1, math.ceil(end + _PERIOD_MARGIN_SECONDS - time.time()))
        for _ in range(_SEED_ATTEMPTS):
            verdict, writes, writing = await self._probe(keys=keys)
            if verdict == "seeded":
                return
            if int(writing) == 0:
                charged = await self.store.charged_since(key_id, start)
                micros = to_micros(charged, up=True)
                if await self._seed(keys=keys, args=[micros, int(writes), keep]) == "seeded":
                    return
            await asyncio.sleep(_SEED_RETRY_SECONDS)
        raise QuotaStateUnavailableError(
            "the shared budget state could not be rebuilt (spend rows keep being written)",
            retry_after=1.0,
        )

    async def spent(self, key: KeySpec, now: float | None = None) -> Decimal:
        start, end = period_bounds(key.budget_period, time.time() if now is None else now)
        keys = self._slot(key.key_id, start)
        value = await self.redis.get(keys[0])
        if value is None:
            await self._seed_slot(key.key_id, start, end, keys)
            value = await self.redis.get(keys[0])
        return from_micros(int(value or 0))


async def _end(refresher: asyncio.Task[None] | None, what: str) -> None:
    """Wait for a refresher told to stop, within a bound; cancel it past the bound.

    Cancelled mid-command, its refresh may still land in Redis and bring the hold (or
    lease) back: it then expires by itself `hold_seconds` later, as a dead replica's does.
    """
    if refresher is None:
        return
    done, _ = await asyncio.wait({refresher}, timeout=_REFRESHER_STOP_SECONDS)
    if done:
        return
    log.warning(
        "quota: a %s refresher did not stop within %.0f s; cancelled (the entry expires)",
        what,
        _REFRESHER_STOP_SECONDS,
    )
    refresher.cancel()
    await asyncio.wait({refresher}, timeout=_REFRESHER_STOP_SECONDS)
