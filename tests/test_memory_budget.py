"""The memory budget's rules, on a real event loop: bytes beyond the budget wait until a
call releases; holders, then higher priorities go first; one request larger than the whole
budget is served alone; calls that all hold bytes and all wait for more are not left
deadlocked; a wait ends at the deadline. The admission queue wakes by priority and sheds."""

from __future__ import annotations

import asyncio

import pytest

from imagegen.config import parse_settings
from imagegen.deadline import Deadline
from imagegen.errors import ConfigError, DeadlineExceededError, LoadShedError
from imagegen.events import Caller
from imagegen.memory import CallMemory, MemoryBudget, current, serving, take
from imagegen.router.admission import AdmissionQueue

MB = 1024 * 1024


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_bytes_beyond_the_budget_wait_until_a_call_releases() -> None:
    budget = MemoryBudget(10 * MB)
    first, second = budget.lease(), budget.lease()
    await first.take(8 * MB)
    waiting = asyncio.ensure_future(second.take(4 * MB))
    await settle()
    assert not waiting.done() and budget.waiting == 1
    first.close()
    await asyncio.wait_for(waiting, 1)
    assert (budget.used, second.held, budget.waiting) == (4 * MB, 4 * MB, 0)
    second.close()
    assert budget.used == 0 and budget.peak == 8 * MB


async def test_higher_priority_goes_first_and_holders_before_newcomers() -> None:
    budget = MemoryBudget(10 * MB)
    blocker, holder = budget.lease(), budget.lease(0)
    await blocker.take(9 * MB)
    await holder.take(1 * MB)  # the holder already holds bytes
    low, high = budget.lease(0), budget.lease(5)
    granted: list[str] = []

    async def wants(name: str, lease: CallMemory) -> None:
        await lease.take(4 * MB)
        granted.append(name)

    tasks = [
        asyncio.ensure_future(wants("low", low)),
        asyncio.ensure_future(wants("high", high)),
        asyncio.ensure_future(wants("holder", holder)),
    ]
    await settle()
    assert granted == []
    blocker.close()  # 9 MiB free: the holder, then the higher priority; low must wait
    await settle()
    assert granted == ["holder", "high"]
    holder.close()
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert granted == ["holder", "high", "low"]


async def test_a_request_larger_than_the_budget_is_served_alone() -> None:
    budget = MemoryBudget(4 * MB)
    small, large = budget.lease(), budget.lease()
    await small.take(1 * MB)
    waiting = asyncio.ensure_future(large.take(9 * MB))
    await settle()
    assert not waiting.done()  # not beside another call
    small.close()
    await asyncio.wait_for(waiting, 1)  # alone: granted although over the budget
    assert budget.used == 9 * MB and budget.peak == 9 * MB
    other = asyncio.ensure_future(budget.lease().take(1))
    await settle()
    assert not other.done()  # nothing else beside it
    large.close()
    await asyncio.wait_for(other, 1)


async def test_calls_that_all_hold_and_all_wait_are_not_deadlocked() -> None:
    budget = MemoryBudget(10 * MB)
    one, two = budget.lease(), budget.lease()
    await one.take(5 * MB)
    await two.take(5 * MB)
    # Both want more and neither can release before it gets it: the first is let through.
    more = [asyncio.ensure_future(one.take(3 * MB)), asyncio.ensure_future(two.take(3 * MB))]
    done, pending = await asyncio.wait(more, timeout=1)
    assert more[0] in done and more[1] in pending
    one.close()
    await asyncio.wait_for(more[1], 1)
    two.close()
    assert budget.used == 0


async def test_a_wait_ends_at_the_deadline_and_leaves_the_queue() -> None:
    budget = MemoryBudget(2 * MB)
    holder = budget.lease()
    await holder.take(2 * MB)
    late = budget.lease()
    with pytest.raises(DeadlineExceededError):
        await late.take(1 * MB, Deadline.after(0.05))
    assert budget.waiting == 0 and late.held == 0
    holder.close()
    assert budget.used == 0


async def test_without_a_budget_nothing_waits_and_without_a_lease_nothing_counts() -> None:
    unbounded = MemoryBudget(None)
    lease = unbounded.lease()
    await asyncio.wait_for(lease.take(10**12), 1)
    budget = MemoryBudget(1 * MB)
    assert current() is None
    await take(50 * MB)  # no door opened a lease: the in-process SDK's caller holds its images
    assert budget.used == 0
    with serving(budget.lease()) as call:
        await take(1 * MB)
        assert current() is call and budget.used == 1 * MB
        # Tasks started for the call count against the same lease.
        await asyncio.ensure_future(take(0))
        call.close()
    assert current() is None and budget.used == 0


async def test_closing_a_lease_twice_releases_once() -> None:
    budget = MemoryBudget(4 * MB)
    lease, other = budget.lease(), budget.lease()
    await lease.take(2 * MB)
    await other.take(1 * MB)
    lease.close()
    lease.close()
    assert budget.used == 1 * MB
    await lease.take(3 * MB)  # a closed lease takes nothing
    assert budget.used == 1 * MB


def test_a_key_priority_comes_from_its_priority_tag() -> None:
    assert Caller("k", "team", ("team:a", "priority:7")).priority == 7
    assert Caller("k", "team", ("priority:-2",)).priority == -2
    assert Caller("k", "team", ("priority:high",)).priority == 0
    assert Caller("k", "team").priority == 0


@pytest.mark.parametrize("value", [0, 8, -1, "lots"])
def test_a_memory_budget_below_16_mib_or_not_a_number_is_refused(value: object) -> None:
    text = f"model_list: []\nserver_settings:\n  memory_budget_mb: {value}\n"
    with pytest.raises(ConfigError, match="memory_budget_mb"):
        parse_settings(text)


def test_the_budget_defaults_to_512_mib_and_null_turns_it_off() -> None:
    assert parse_settings("model_list: []\n").server.memory_budget_mb == 512
    off = parse_settings("model_list: []\nserver_settings:\n  memory_budget_mb: null\n")
    assert off.server.memory_budget_mb is None


async def test_the_admission_queue_wakes_the_highest_priority_waiter_first() -> None:
    queue = AdmissionQueue(capacity=10)
    woken: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await queue.wait(
            ["d1"], model="m", priority=priority, deadline=Deadline.after(5), slots=1, latency=None
        )
        woken.append(name)

    tasks = [asyncio.ensure_future(wait("low", 0)), asyncio.ensure_future(wait("high", 9))]
    await settle()
    queue.released("d1")
    await settle()
    assert woken == ["high"]
    queue.released("d1")
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert woken == ["high", "low"] and queue.waiting == 0


async def test_the_admission_queue_sheds_when_full_or_when_the_wait_outlasts_the_deadline() -> None:
    queue = AdmissionQueue(capacity=1)
    first = asyncio.ensure_future(
        queue.wait(["d"], model="m", priority=0, deadline=Deadline.after(5), slots=1, latency=None)
    )
    await settle()
    with pytest.raises(LoadShedError) as full:
        await queue.wait(
            ["d"], model="m", priority=0, deadline=Deadline.after(5), slots=1, latency=None
        )
    assert full.value.subject == "server:max_queued_requests"
    assert full.value.retry_after is not None and full.value.retry_after > 0
    queue.released("d")
    await asyncio.wait_for(first, 1)
    # Two calls ahead of it on one slot, 2 s each: ~6 s, with 3 s left.
    queue = AdmissionQueue(capacity=10)
    ahead = [
        asyncio.ensure_future(
            queue.wait(
                ["d"], model="m", priority=0, deadline=Deadline.after(60), slots=1, latency=2
            )
        )
        for _ in range(2)
    ]
    await settle()
    with pytest.raises(LoadShedError) as late:
        await queue.wait(
            ["d"], model="m", priority=0, deadline=Deadline.after(3), slots=1, latency=2.0
        )
    assert late.value.subject == "model:m:max_parallel_requests"
    assert late.value.retry_after == pytest.approx(6.0)
    for task in ahead:
        task.cancel()
    await asyncio.gather(*ahead, return_exceptions=True)
    assert queue.waiting == 0


async def test_a_call_waiting_twice_at_once_is_still_seen_as_stuck() -> None:
    # Fan-out: two sub-calls of one call wait for more at the same time.
    budget = MemoryBudget(10 * MB)
    fanned, other = budget.lease(), budget.lease()
    await fanned.take(5 * MB)
    await other.take(5 * MB)
    waits = [
        asyncio.ensure_future(fanned.take(3 * MB)),
        asyncio.ensure_future(fanned.take(3 * MB)),
        asyncio.ensure_future(other.take(3 * MB)),
    ]
    done, _ = await asyncio.wait(waits, timeout=1, return_when=asyncio.FIRST_COMPLETED)
    assert waits[0] in done  # nobody could release: the first holder's request went through
    fanned.close()
    other.close()
    await asyncio.wait_for(asyncio.gather(*waits), 1)
    assert budget.used == 0 and budget.waiting == 0
