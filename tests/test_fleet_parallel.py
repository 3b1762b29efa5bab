"""Per-key concurrency limits (max_parallel_requests, max_parallel_streams): fleet-wide on
one Redis (real redis-server, two real gateways), per process without it; leases are given
back exactly once, on success, error or cancellation, and a dead replica's expire."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from imagegen.config import parse_settings
from imagegen.errors import (
    Code,
    ConfigError,
    InvalidRequestError,
    KeyRateLimitedError,
    QuotaStateUnavailableError,
)
from imagegen.keys.model import KeySpec, hash_key
from imagegen.spend.quota.parallel import ParallelCounter
from imagegen.spend.quota.redis_quota import RedisQuota
from imagegen.spend.store_postgres import PostgresStore
from imagegen.spend.store_sqlite import SqliteStore
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config, client
from tests.test_fleet_quota import call, fleet, fleet_config
from tests.test_router_redis import _free_port, redis_url
from tests.test_spend_budget import pg_database

__all__ = ["pg_database", "redis_url"]  # fixtures, imported to be used here

TEAM_ID = hash_key(TEAM_KEY)[:16]


async def stream(served: Served, prompt: str = "a cat") -> object:
    """A whole stream of the team key; its error when refused."""
    async with client(served, TEAM_KEY) as team:
        try:
            return [e async for e in team.stream_generate_images(prompt, model="gpt-image-1")]
        except Exception as exc:
            return exc


async def in_flight(redis: str, namespace: str, tmp_path: Path) -> tuple[int, int]:
    """Live leases of the team key in Redis: (calls, streams)."""
    probe = RedisQuota(redis, namespace, SqliteStore(tmp_path / "unused.sqlite3"))
    try:
        return await probe.in_flight(TEAM_ID)
    finally:
        await probe.redis.aclose()


def refused_for(outcomes: list[object], limit: str) -> list[KeyRateLimitedError]:
    refused = [o for o in outcomes if isinstance(o, KeyRateLimitedError)]
    for error in refused:
        assert error.code is Code.RESOURCE_EXHAUSTED
        assert error.subject == f"key:team:{limit}" and error.retry_after == 1.0
    return refused


async def test_max_parallel_requests_holds_across_two_replicas(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    namespace = f"test:{uuid.uuid4().hex}"
    config = fleet_config(
        openai_fake, pg_database, redis_url, namespace, key={"max_parallel_requests": 3}
    )
    replicas = await fleet(serve, config)
    openai_fake.delay = 0.6  # all ten callers arrive while the first ones are in flight
    outcomes = await asyncio.gather(*(call(replicas[i % 2]) for i in range(10)))
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = refused_for(outcomes, "max_parallel_requests")
    assert (len(served), len(refused)) == (3, 7), outcomes
    assert len(openai_fake.requests) == 3
    # Every lease was given back: the key is free again, on either replica.
    assert await in_flight(redis_url, namespace, tmp_path) == (0, 0)
    openai_fake.delay = 0
    again = await asyncio.gather(*(call(replicas[i % 2]) for i in range(3)))
    assert not any(isinstance(o, BaseException) for o in again), again


async def test_max_parallel_streams_holds_across_two_replicas_and_spares_unary_calls(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    namespace = f"test:{uuid.uuid4().hex}"
    config = fleet_config(
        openai_fake, pg_database, redis_url, namespace, key={"max_parallel_streams": 2}
    )
    replicas = await fleet(serve, config)
    openai_fake.delay = 0.6

    async def unary_later() -> object:
        await asyncio.sleep(0.2)  # while both streams are open
        return await call(replicas[0])

    *outcomes, unary = await asyncio.gather(
        *(stream(replicas[i % 2]) for i in range(5)), unary_later()
    )
    streamed = [o for o in outcomes if isinstance(o, list)]
    refused = refused_for(outcomes, "max_parallel_streams")
    assert (len(streamed), len(refused)) == (2, 3), outcomes
    assert not isinstance(unary, BaseException), unary  # the stream limit is for streams
    assert await in_flight(redis_url, namespace, tmp_path) == (0, 0)


async def test_a_cancelled_call_gives_its_lease_back_at_once(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    namespace = f"test:{uuid.uuid4().hex}"
    config = fleet_config(
        openai_fake,
        pg_database,
        redis_url,
        namespace,
        key={"max_parallel_requests": 1, "max_parallel_streams": 1},
        quota_hold_seconds=30,  # an expiry cannot be what frees the lease here
    )
    a, b = await fleet(serve, config)
    async with client(a, TEAM_KEY) as team:
        events = team.stream_generate_images("hang on", model="gpt-image-1")
        async for event in events:
            assert event.WhichOneof("event") == "accepted"
            break
        assert await in_flight(redis_url, namespace, tmp_path) == (1, 1)
        refused = await call(b)
        assert isinstance(refused, KeyRateLimitedError), refused
        await events.aclose()  # the caller walks away from the stream
    await asyncio.wait_for(openai_fake.disconnected.wait(), 5)
    for _ in range(100):
        if await in_flight(redis_url, namespace, tmp_path) == (0, 0):
            break
        await asyncio.sleep(0.02)
    assert await in_flight(redis_url, namespace, tmp_path) == (0, 0)
    # A unary call that runs out its deadline gives its lease back too.
    async with client(b, TEAM_KEY) as team:
        with pytest.raises(Exception) as caught:
            await team.generate_images("hang on", model="dall-e-2", size="256x256", timeout=0.5)
        assert getattr(caught.value, "code", None) in (Code.DEADLINE_EXCEEDED, Code.CANCELLED)
    for _ in range(100):
        if await in_flight(redis_url, namespace, tmp_path) == (0, 0):
            break
        await asyncio.sleep(0.02)
    assert await in_flight(redis_url, namespace, tmp_path) == (0, 0)
    assert not isinstance(await call(a), BaseException)


async def test_a_dead_replicas_leases_expire_within_seconds(tmp_path: Path, redis_url: str) -> None:
    store = SqliteStore(tmp_path / "spend.sqlite3")
    namespace = f"test:{uuid.uuid4().hex}"
    alive = RedisQuota(redis_url, namespace, store, hold_seconds=1)
    dying = RedisQuota(redis_url, namespace, store, hold_seconds=1)
    key = KeySpec(key_hash="ef" * 32, alias="team", max_parallel_requests=2)
    try:
        lost = await dying.enter(key, stream=False)
        kept = await alive.enter(key, stream=False)
        assert lost is not None and kept is not None
        with pytest.raises(KeyRateLimitedError):
            await alive.enter(key, stream=False)
        # The replica dies (SIGKILL): nothing refreshes its lease, nothing gives it back.
        assert lost.refresher is not None
        lost.refresher.cancel()
        await dying.redis.aclose()
        started = time.monotonic()
        for _ in range(50):
            try:
                late = await alive.enter(key, stream=False)
                break
            except KeyRateLimitedError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the dead replica's lease never expired")
        assert 0.5 < time.monotonic() - started < 2.0
        # The live replica's leases are refreshed: after twice the expiry, still full.
        await asyncio.sleep(2.0)
        with pytest.raises(KeyRateLimitedError):
            await alive.enter(key, stream=False)
        # Given back exactly once: a second leave does not free someone else's place.
        assert late is not None
        await alive.leave(kept)
        await alive.leave(kept)
        assert await alive.in_flight(key.key_id) == (1, 0)
        await alive.leave(late)
        assert await alive.in_flight(key.key_id) == (0, 0)
    finally:
        await alive.aclose()


async def test_without_redis_each_process_counts_its_own(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    config = access_config(
        openai_fake,
        general={"master_key": MASTER, "spend_log_path": str(tmp_path / "spend.sqlite3")},
        keys=[{"alias": "team", "key": TEAM_KEY, "max_parallel_requests": 2}],
    )
    (replica,) = await fleet(serve, config, size=1)
    openai_fake.delay = 0.5
    outcomes = await asyncio.gather(*(call(replica) for _ in range(5)))
    assert len([o for o in outcomes if not isinstance(o, BaseException)]) == 2, outcomes
    assert len(refused_for(outcomes, "max_parallel_requests")) == 3


def test_the_memory_counter_gives_each_lease_back_once() -> None:
    counter = ParallelCounter()
    key = KeySpec(key_hash="01" * 32, alias="team", max_parallel_requests=2, max_parallel_streams=1)
    first = counter.enter(key, stream=True)
    assert first is not None
    with pytest.raises(KeyRateLimitedError) as caught:
        counter.enter(key, stream=True)
    assert caught.value.subject == "key:team:max_parallel_streams"
    second = counter.enter(key, stream=False)
    assert second is not None
    with pytest.raises(KeyRateLimitedError):
        counter.enter(key, stream=False)
    counter.leave(first)
    counter.leave(first)
    assert counter.in_flight(key.key_id) == (1, 0)
    assert counter.enter(KeySpec(key_hash="02" * 32, alias="free"), stream=True) is None


@pytest.mark.parametrize("fail_open", [False, True])
async def test_an_unreachable_redis_fails_limited_keys_closed_unless_told_otherwise(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, fail_open: bool
) -> None:
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    config = fleet_config(
        openai_fake,
        pg_database,
        dead,
        "test",
        key={"max_parallel_requests": 1},
        quota_fail_open=fail_open,
    )
    (replica,) = await fleet(serve, config, size=1)
    outcome = await call(replica)
    if fail_open:
        assert not isinstance(outcome, BaseException), outcome
    else:
        assert isinstance(outcome, QuotaStateUnavailableError), outcome
        assert outcome.code is Code.UNAVAILABLE and outcome.retry_after == 1.0
        assert openai_fake.requests == []


def test_parallel_limits_must_be_positive(openai_fake: OpenAIFake) -> None:
    for field in ("max_parallel_requests", "max_parallel_streams"):
        config = fleet_config(openai_fake, "postgresql://x/y", "", "test", key={field: 0})
        with pytest.raises(ConfigError, match=field):
            parse_settings(config, source="test.yaml")


async def test_a_key_created_with_a_parallel_limit_is_held_to_it_by_every_replica(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str
) -> None:
    config = fleet_config(openai_fake, pg_database, redis_url, f"test:{uuid.uuid4().hex}")
    a, b = await fleet(serve, config)
    async with client(a, MASTER) as admin:
        with pytest.raises(InvalidRequestError):
            await admin.create_key("bad", max_parallel_requests=-1)
        created = await admin.create_key("burst", max_parallel_requests=2, max_parallel_streams=1)
        assert (created.info.max_parallel_requests, created.info.max_parallel_streams) == (2, 1)
        listed = {k.alias: k for k in await admin.list_keys()}
        assert listed["burst"].max_parallel_requests == 2
    await asyncio.sleep(1.0)  # the key reaches replica b (within 1 s: see test_fleet_quota)
    openai_fake.delay = 0.6
    outcomes = await asyncio.gather(*(call((a, b)[i % 2], created.key) for i in range(6)))
    assert len([o for o in outcomes if not isinstance(o, BaseException)]) == 2, outcomes
    refused = [o for o in outcomes if isinstance(o, KeyRateLimitedError)]
    assert len(refused) == 4
    assert all(r.subject == "key:burst:max_parallel_requests" for r in refused)


async def test_a_spend_log_from_before_parallel_limits_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE imagegen_keys (key_hash TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE,"
            " models TEXT NOT NULL, rpm INTEGER, ipm INTEGER, max_budget TEXT,"
            " budget_period TEXT, tags TEXT NOT NULL, allow_request_credentials INTEGER NOT NULL,"
            " revoked INTEGER NOT NULL, created_at REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO imagegen_keys VALUES (?, 'old', '[]', 5, NULL, NULL, NULL, '[]', 0, 0, 1)",
            ("ab" * 32,),
        )
    store = SqliteStore(path)
    await store.open()
    try:
        (old,) = await store.load_keys()
        assert (old.alias, old.rpm, old.max_parallel_requests) == ("old", 5, None)
        await store.add_key(
            KeySpec(key_hash="cd" * 32, alias="new", max_parallel_streams=3, created_at=2)
        )
        assert [k.max_parallel_streams for k in await store.load_keys()] == [None, 3]
    finally:
        await store.close()


async def test_a_postgresql_key_table_from_before_parallel_limits_gains_their_columns(
    pg_database: str,
) -> None:
    with psycopg.connect(pg_database) as db:
        db.execute(
            "CREATE TABLE imagegen_keys (key_hash TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE,"
            " models TEXT NOT NULL, rpm INTEGER, ipm INTEGER, max_budget TEXT,"
            " budget_period TEXT, tags TEXT NOT NULL, allow_request_credentials INTEGER NOT NULL,"
            " revoked INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL)"
        )
        db.execute(
            "INSERT INTO imagegen_keys VALUES"
            " (%s, 'old', '[]', 5, NULL, NULL, NULL, '[]', 0, 0, 1)",
            ("ab" * 32,),
        )
    store = PostgresStore(pg_database)
    await store.open()
    try:
        await store.add_key(
            KeySpec(key_hash="cd" * 32, alias="new", max_parallel_requests=4, created_at=2)
        )
        keys = await store.load_keys()
        assert [(k.alias, k.max_parallel_requests) for k in keys] == [("old", None), ("new", 4)]
    finally:
        await store.close()


async def test_a_stopped_replicas_calls_do_not_hold_the_key_for_long(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    namespace = f"test:{uuid.uuid4().hex}"
    config = fleet_config(
        openai_fake, pg_database, redis_url, namespace, key={"max_parallel_requests": 1}
    )
    a, b = await fleet(serve, config)  # quota_hold_seconds: 2

    async def hang() -> object:
        async with client(a, TEAM_KEY) as team:
            try:
                return await team.generate_images("hang on", model="dall-e-2", size="256x256")
            except Exception as exc:
                return exc

    hanging = asyncio.create_task(hang())
    for _ in range(100):
        if await in_flight(redis_url, namespace, tmp_path) == (1, 0):
            break
        await asyncio.sleep(0.02)
    assert isinstance(await call(b), KeyRateLimitedError)
    await a.running.stop(grace=0)  # replica a goes away with its call in flight
    started = time.monotonic()
    for _ in range(60):
        if not isinstance(await call(b), KeyRateLimitedError):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the stopped replica's lease was never freed")
    assert time.monotonic() - started < 3.0  # given back, or expired after 2 s at most
    assert isinstance(await hanging, BaseException)
