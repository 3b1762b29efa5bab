"""Fleet mode: gateways on one Redis and one PostgreSQL enforce a key's budget, rate limits
and revocation as one gateway (real redis-server, real PostgreSQL, real gRPC servers)."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from imagegen.client import AsyncImageGenClient
from imagegen.errors import (
    BudgetExceededError,
    Code,
    KeyRateLimitedError,
    QuotaStateUnavailableError,
    UnauthenticatedError,
)
from imagegen.keys.model import KeySpec
from imagegen.spend.quota.redis_quota import RedisQuota, SharedHold
from imagegen.spend.store_sqlite import SqliteStore
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config, client
from tests.test_router_redis import _free_port, redis_url
from tests.test_spend_budget import pg_database

__all__ = ["pg_database", "redis_url"]  # fixtures, imported to be used here

DALLE2_256 = Decimal("0.016")
TWELVE_IMAGES = str(12 * DALLE2_256)  # a budget for exactly 12 calls


def fleet_config(
    fake: OpenAIFake,
    database_url: str,
    redis: str,
    namespace: str,
    *,
    key: dict[str, Any] | None = None,
    **general: Any,
) -> str:
    return access_config(
        fake,
        general={
            "master_key": MASTER,
            "database_url": database_url,
            "quota_redis_url": redis,
            "quota_redis_namespace": namespace,
            "quota_hold_seconds": 2,
            **general,
        },
        keys=[{"alias": "team", "key": TEAM_KEY, **(key or {})}],
    )


async def fleet(serve: ServeFactory, config: str, size: int = 2) -> list[Served]:
    return [await serve(config) for _ in range(size)]


async def call(served: Served, key: str = TEAM_KEY) -> object:
    async with client(served, key) as team:
        try:
            return await team.generate_images("a cat", model="dall-e-2", size="256x256")
        except Exception as exc:
            return exc


def charged_in(database_url: str) -> tuple[int, Decimal]:
    with psycopg.connect(database_url) as db:
        row = db.execute(
            "SELECT count(*) FILTER (WHERE status = 'OK'), COALESCE(SUM(charged), 0) "
            "FROM imagegen_spend"
        ).fetchone()
    assert row is not None
    return int(row[0]), Decimal(row[1])


async def test_thirty_parallel_callers_on_two_replicas_get_exactly_twelve_images(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str
) -> None:
    namespace = f"test:{uuid.uuid4().hex}"
    config = fleet_config(
        openai_fake, pg_database, redis_url, namespace, key={"max_budget": TWELVE_IMAGES}
    )
    replicas = await fleet(serve, config)
    openai_fake.delay = 0.3  # every call is in flight while the others are admitted
    outcomes = await asyncio.gather(*(call(replicas[i % 2]) for i in range(30)))
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert (len(served), len(refused)) == (12, 18), outcomes
    assert all(
        r.code is Code.RESOURCE_EXHAUSTED and r.subject == "key:team:budget" for r in refused
    )
    assert len(openai_fake.requests) == 12
    # Both replicas served some: the budget was shared, not split.
    async with client(replicas[0], MASTER) as admin:
        await admin.query_spend("key")  # flushes each writer
    async with client(replicas[1], MASTER) as admin:
        await admin.query_spend("key")  # flushes each writer
    assert charged_in(pg_database) == (12, 12 * DALLE2_256)
    # A replica started now seeds from the spend log: still nothing left.
    late = await serve(config)
    assert isinstance(await call(late), BudgetExceededError)


async def test_rpm_is_counted_across_the_fleet(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str
) -> None:
    config = fleet_config(
        openai_fake, pg_database, redis_url, f"test:{uuid.uuid4().hex}", key={"rpm": 5, "ipm": 7}
    )
    replicas = await fleet(serve, config, size=3)
    outcomes = [await call(replicas[i % 3]) for i in range(8)]
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    limited = [o for o in outcomes if isinstance(o, KeyRateLimitedError)]
    assert (len(served), len(limited)) == (5, 3), outcomes
    assert all(
        x.subject == "key:team:rpm" and x.retry_after and x.retry_after > 50 for x in limited
    )
    assert len(openai_fake.requests) == 5


async def test_a_redis_flush_mid_load_keeps_the_budget_exact(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str
) -> None:
    config = fleet_config(
        openai_fake,
        pg_database,
        redis_url,
        f"test:{uuid.uuid4().hex}",
        key={"max_budget": TWELVE_IMAGES},
    )
    replicas = await fleet(serve, config)
    openai_fake.delay = 0.4
    results: list[object] = []
    stop_at = time.monotonic() + 4.0

    async def caller(index: int) -> None:
        while time.monotonic() < stop_at:
            outcome = await call(replicas[index % 2])
            results.append(outcome)
            if isinstance(outcome, BaseException):
                await asyncio.sleep(0.05)

    async def flush_twice() -> None:
        admin = aioredis.Redis.from_url(redis_url)
        try:
            for _ in range(2):
                await asyncio.sleep(0.6)  # calls are in flight, others already charged
                await admin.flushall()
        finally:
            await admin.aclose()

    await asyncio.gather(*(caller(i) for i in range(6)), flush_twice())
    served = [o for o in results if not isinstance(o, BaseException)]
    assert len(served) == 12, [type(o).__name__ for o in results]
    assert all(isinstance(o, BudgetExceededError) for o in results if isinstance(o, BaseException))
    async with client(replicas[0], MASTER) as admin:
        await admin.query_spend("key")
    assert charged_in(pg_database) == (12, 12 * DALLE2_256)


async def test_a_dead_replicas_holds_expire_within_seconds(tmp_path: Path, redis_url: str) -> None:
    store = SqliteStore(str(tmp_path / "spend.sqlite3"))
    await store.open()
    namespace = f"test:{uuid.uuid4().hex}"
    alive = RedisQuota(redis_url, namespace, store, hold_seconds=1)
    dying = RedisQuota(redis_url, namespace, store, hold_seconds=1)
    key = KeySpec(key_hash="ab" * 32, alias="team", max_budget=Decimal("0.032"))
    try:
        now = time.time()
        held = await dying.reserve(key, DALLE2_256, now)
        await alive.reserve(key, DALLE2_256, now)
        with pytest.raises(BudgetExceededError):
            await alive.reserve(key, DALLE2_256, now)
        # The replica dies: its hold is no longer refreshed (nor settled).
        assert isinstance(held, SharedHold)
        await dying._stop(held)
        await dying.redis.aclose()
        started = time.monotonic()
        deadline = started + 5
        while True:
            try:
                await alive.reserve(key, DALLE2_256, time.time())
                break
            except BudgetExceededError:
                assert time.monotonic() < deadline, "the dead replica's hold never expired"
                await asyncio.sleep(0.1)
        assert 0.5 < time.monotonic() - started < 2.0
        # The live replica's holds are refreshed, so they never expire under it.
        await asyncio.sleep(1.5)
        with pytest.raises(BudgetExceededError):
            await alive.reserve(key, DALLE2_256, time.time())
    finally:
        await alive.aclose()
        await store.close()


async def test_a_key_created_or_revoked_on_one_replica_is_honoured_by_all_within_a_second(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str
) -> None:
    config = fleet_config(openai_fake, pg_database, redis_url, f"test:{uuid.uuid4().hex}")
    a, b = await fleet(serve, config)

    async def until(caller: AsyncImageGenClient, accepted: bool) -> float:
        """Seconds until `caller`'s key is accepted (or refused), checked every 10 ms."""
        started = time.monotonic()
        for _ in range(300):
            try:
                await caller.generate_images("a cat", model="dall-e-2", size="256x256")
                refused = False
            except UnauthenticatedError:
                refused = True
            if refused != accepted:
                return time.monotonic() - started
            await asyncio.sleep(0.01)
        raise AssertionError("the key change did not reach the other replica")

    async with client(a, MASTER) as admin:
        secret = (await admin.create_key("new-team")).key
        async with client(b, secret) as on_b:
            assert await until(on_b, accepted=True) < 1.0
            await admin.revoke_key("new-team")
            assert await until(on_b, accepted=False) < 1.0
    assert isinstance(await call(a, secret), UnauthenticatedError)


@pytest.mark.parametrize("fail_open", [False, True])
async def test_an_unreachable_redis_fails_budgeted_keys_closed_unless_told_otherwise(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, fail_open: bool
) -> None:
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    config = fleet_config(
        openai_fake,
        pg_database,
        dead,
        "test",
        key={"max_budget": "1", "rpm": 100},
        quota_fail_open=fail_open,
    )
    (replica,) = await fleet(serve, config, size=1)
    outcome = await call(replica)
    if fail_open:
        assert not isinstance(outcome, BaseException), outcome
        assert len(openai_fake.requests) == 1
    else:
        assert isinstance(outcome, QuotaStateUnavailableError), outcome
        assert outcome.code is Code.UNAVAILABLE and outcome.retry_after == 1.0
        assert openai_fake.requests == []


async def test_images_per_minute_are_shared_and_a_refusal_keeps_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    store = SqliteStore(str(tmp_path / "spend.sqlite3"))
    await store.open()
    namespace = f"test:{uuid.uuid4().hex}"
    replicas = [RedisQuota(redis_url, namespace, store) for _ in range(2)]
    key = KeySpec(key_hash="cd" * 32, alias="team", ipm=5, max_budget=Decimal("1"))
    try:
        now = time.time()
        await replicas[0].take(key, DALLE2_256 * 2, 2, now)
        await replicas[1].take(key, DALLE2_256 * 2, 2, now)
        with pytest.raises(KeyRateLimitedError) as caught:
            await replicas[0].take(key, DALLE2_256 * 2, 2, now)
        assert caught.value.subject == "key:team:ipm"
        assert caught.value.retry_after is not None and 55 < caught.value.retry_after <= 60
        # The refused call neither counted nor held: one image still fits, on either replica.
        hold = await replicas[1].take(key, DALLE2_256, 1, now)
        assert hold is not None
        assert await replicas[0].spent(key) == 0  # held, not committed
        with pytest.raises(KeyRateLimitedError):
            await replicas[0].take(key, DALLE2_256, 1, now)
    finally:
        for replica in replicas:
            await replica.aclose()
        await store.close()
