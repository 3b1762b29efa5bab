"""The shared quota store never waits on Redis without a bound: a Redis that accepts
connections and stops answering (hung, or a partition that drops packets) holds up a
settle, a release or a shutdown for at most a round trip's timeout, never forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from redis.exceptions import RedisError

from imagegen.keys.model import KeySpec
from imagegen.spend.quota import redis_quota
from imagegen.spend.quota.redis_quota import RedisQuota, SharedHold
from imagegen.spend.store_sqlite import SqliteStore
from tests.fakes.silent_proxy import SilentProxy
from tests.test_router_redis import redis_url

__all__ = ["redis_url"]  # fixture, imported to be used here

STOP = redis_quota._REFRESHER_STOP_SECONDS
COMMAND = redis_quota._COMMAND_SECONDS
KEY = KeySpec(key_hash="ef" * 32, alias="team", max_budget=Decimal("1"), max_parallel_requests=4)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "spend.sqlite3"))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[SilentProxy]:
    target = urlsplit(redis_url)
    assert target.hostname is not None and target.port is not None
    proxy = SilentProxy(target.hostname, target.port)
    await proxy.start()
    yield proxy
    await proxy.close()


async def timed(work: Awaitable[object]) -> float:
    """Seconds `work` took; a RedisError (a silent Redis's command failing) is its end."""
    started = time.monotonic()
    with contextlib.suppress(RedisError):
        await work
    return time.monotonic() - started


async def test_a_silent_redis_holds_up_settle_release_and_shutdown_only_for_a_bound(
    proxy: SilentProxy, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    quota = RedisQuota(
        f"redis://127.0.0.1:{proxy.port}/0", f"test:{uuid.uuid4().hex}", store, hold_seconds=1
    )
    holds = [await quota.reserve(KEY, Decimal("0.01"), time.time()) for _ in range(2)]
    lease = await quota.enter(KEY, stream=False)
    assert lease is not None and all(isinstance(h, SharedHold) for h in holds)
    proxy.silent = True
    await asyncio.sleep(0.4)  # every refresher now waits on a refresh Redis never answers
    try:
        # Stopping the refresher (a round trip at most) plus the finalize (one more).
        assert await timed(quota.settle(holds[0], Decimal(0), lambda: asyncio.sleep(0))) < (
            STOP + COMMAND + 0.5
        )
        assert await timed(quota.leave(lease)) < STOP + COMMAND + 0.5
    finally:
        # The other hold's refresher is still waiting on Redis when the server goes away.
        assert await timed(quota.aclose()) < STOP + 0.5
    assert not quota._live  # every refresher has ended
    assert "refreshing a budget hold failed (TimeoutError)" in caplog.text


async def test_a_refresher_that_does_not_stop_is_cancelled_at_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def deaf() -> None:
        await asyncio.Event().wait()  # never looks at its stop signal

    refresher = asyncio.create_task(deaf())
    hold = SharedHold("k", 0.0, Decimal(1), hold_id="h", micros=1, refresher=refresher)
    with caplog.at_level(logging.WARNING):
        elapsed = await timed(RedisQuota._stop(hold))
    assert STOP - 0.1 < elapsed < STOP + 0.5
    assert refresher.cancelled()
    assert "budget hold refresher did not stop" in caplog.text


async def test_shutdown_does_not_wait_forever_on_a_task_that_ignores_cancellation(
    store: SqliteStore, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    quota = RedisQuota(redis_url, f"test:{uuid.uuid4().hex}", store)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # swallows the cancellation, as a buggy await could

    task = asyncio.create_task(stubborn())
    quota._live.add(task)
    await asyncio.sleep(0)  # it is waiting (inside its try) when the shutdown comes
    try:
        with caplog.at_level(logging.WARNING):
            elapsed = await timed(quota.aclose())
        assert STOP - 0.1 < elapsed < STOP + 0.5
        assert "1 task(s) did not end at shutdown" in caplog.text
        assert not task.done()
    finally:
        release.set()
        await asyncio.wait({task})
