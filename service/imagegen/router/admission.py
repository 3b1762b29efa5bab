"""Waiting for a deployment slot: a bounded queue, ordered by key priority, that sheds.

When every deployment of a model group is at its `max_parallel_requests`, a call waits
here instead of failing at once: each slot freed in this process wakes the best waiter
for it (highest key priority, then first come). A call is refused at once, before any
provider call, with LoadShedError (RESOURCE_EXHAUSTED, RetryInfo, QuotaFailure naming the
limit) when the queue is full, or when the wait it can expect — calls ahead of it, by the
group's parallel slots, times the deployments' moving-average latency — would leave it no
time to be served before its deadline. A waiter also looks again every so often (a slot
another replica freed makes no sound here) and gives up when its deadline would pass.
Never a call that waits forever.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from imagegen.deadline import Deadline
from imagegen.errors import LoadShedError

# How often a waiter looks again without being woken: with shared router state (Redis)
# a slot another replica freed makes no sound here; in one process every release wakes a
# waiter, and the look is only a safety net.
POLL_SHARED_SECONDS = 0.25
POLL_LOCAL_SECONDS = 1.0
# What a shed caller is told when no latency is known yet to say better.
DEFAULT_RETRY_AFTER = 1.0


@dataclass(order=True, slots=True)
class _Waiter:
    rank: tuple[int, int]
    ids: frozenset[str] = field(compare=False)
    woken: asyncio.Future[None] = field(compare=False)


class AdmissionQueue:
    """Calls waiting for a slot of a deployment at its max_parallel_requests (per process)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._waiters: list[_Waiter] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def wait(
        self,
        ids: Sequence[str],
        *,
        model: str,
        priority: int,
        deadline: Deadline,
        slots: int,
        latency: float | None,
        poll: float = POLL_SHARED_SECONDS,
    ) -> None:
        """Wait until a slot of one of `ids` may have freed (then try again), or shed.

        `slots` is the group's parallel capacity and `latency` its calls' expected
        duration (None: not known yet); `poll` how long to wait before looking again
        without being woken."""
        subject = f"model:{model}:max_parallel_requests"
        if len(self._waiters) >= self.capacity:
            raise _shed(
                f"every deployment of {model} is at max_parallel_requests and "
                f"{len(self._waiters)} calls already wait; retry later",
                "server:max_queued_requests",
                latency,
                limit="max_queued_requests",
            )
        rank = (-priority, next(self._order))
        wanted = frozenset(ids)
        ahead = sum(1 for w in self._waiters if w.rank < rank and w.ids & wanted)
        if latency is not None:
            # Rounds of the group's slots before this call's turn, then its own call.
            expected = latency * (math.floor(ahead / max(slots, 1)) + 1)
            if expected + latency > deadline.remaining():
                raise _shed(
                    f"every deployment of {model} is at max_parallel_requests and the wait "
                    f"(~{expected:.1f}s) would outlast the deadline",
                    subject,
                    expected,
                    limit="max_parallel_requests",
                )
        # Leave the call time to run once admitted.
        give_up = deadline.remaining() - (latency or 0.0)
        if give_up <= 0:
            raise _shed(
                f"every deployment of {model} is at max_parallel_requests and no time is left "
                "to wait for a slot",
                subject,
                latency,
                limit="max_parallel_requests",
            )
        waiter = _Waiter(rank, wanted, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self._waiters.sort()
        try:
            await asyncio.wait_for(asyncio.shield(waiter.woken), min(give_up, poll))
        except TimeoutError:
            if give_up <= poll:
                raise _shed(
                    f"every deployment of {model} stayed at max_parallel_requests until "
                    "the deadline would pass",
                    subject,
                    latency,
                    limit="max_parallel_requests",
                ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def released(self, model_id: str) -> None:
        """A slot of `model_id` freed in this process: wake the best call waiting for it."""
        for waiter in self._waiters:
            if model_id in waiter.ids and not waiter.woken.done():
                waiter.woken.set_result(None)
                self._waiters.remove(waiter)
                return


def _shed(message: str, subject: str, retry_after: float | None, *, limit: str) -> LoadShedError:
    return LoadShedError(
        message,
        subject=subject,
        retry_after=retry_after if retry_after is not None else DEFAULT_RETRY_AFTER,
        metadata={"limit": limit},
    )
