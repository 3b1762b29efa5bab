"""The spend queries behind the console, on both databases (a real SQLite file and a real
PostgreSQL server): QuerySpend's totals per time bucket, and the requests listed by cost
or by time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from imagegen.spend.rows import SpendRow
from imagegen.spend.store import Store, open_store

HOUR = 3600
BASE = 1_800_000_000.0 - (1_800_000_000.0 % 86400)  # a day's start


def row(at: float, key: str, model: str, cost: str | None, **fields: object) -> SpendRow:
    made = SpendRow(
        time=BASE + at,
        request_id=uuid.uuid4().hex,
        key_id=f"id-{key}",
        key_alias=key,
        user="",
        tags=(),
        model_group=model,
        deployment=f"dep-{model}",
        provider="openai",
        door="http",
        n=1,
        images=1,
        size="1024x1024",
        quality="",
        status="OK",
        cost=None if cost is None else Decimal(cost),
        charged=Decimal(cost or "0.05"),
        input_tokens=0,
        output_tokens=0,
        latency_ms=120.5,
        attempts=1,
    )
    return replace(made, **fields)  # type: ignore[arg-type]


ROWS = [
    row(10, "team", "dall-e-3", "0.04", tags=("blue", "red")),
    row(20, "team", "dall-e-3", "0.08", tags=("red",)),
    row(HOUR + 5, "team", "dall-e-2", "0.02", images=2),
    row(HOUR + 50, "other", "dall-e-3", None, status="PROVIDER_ERROR", images=0),
    row(2 * HOUR + 1, "other", "dall-e-2", "0.016", prompt="kept only with log_prompts"),
]


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        opened = open_store(request.getfixturevalue("pg_database"), "")
    else:
        opened = open_store(None, str(tmp_path / "spend.sqlite3"))
    await opened.open()
    await opened.insert(ROWS)
    yield opened
    await opened.close()


async def test_timeline_is_the_summary_per_bucket(store: Store) -> None:
    buckets = await store.timeline("model", BASE, None, HOUR)
    assert [(b.start - BASE, b.group, b.requests, b.errors, b.images, b.cost) for b in buckets] == [
        (0, "dall-e-3", 2, 0, 2, Decimal("0.12")),
        (HOUR, "dall-e-2", 1, 0, 2, Decimal("0.02")),
        (HOUR, "dall-e-3", 1, 1, 0, Decimal("0")),
        (2 * HOUR, "dall-e-2", 1, 0, 1, Decimal("0.016")),
    ]
    assert [b.unknown_cost_count for b in buckets] == [0, 0, 1, 0]
    # Summed over time, the buckets are the summary: the same query.
    for group in await store.summary("model", BASE, None):
        mine = [b for b in buckets if b.group == group.group]
        assert sum(b.cost for b in mine) == group.cost
        assert sum(b.requests for b in mine) == group.requests


async def test_timeline_by_tag_by_deployment_and_for_one_key(store: Store) -> None:
    tags = await store.timeline("tag", BASE, None, 86400)
    assert [(b.group, b.requests, b.cost) for b in tags] == [
        ("blue", 1, Decimal("0.04")),
        ("red", 2, Decimal("0.12")),
    ]
    deployments = await store.summary("deployment", BASE, None)
    assert {(g.group, g.requests, g.errors) for g in deployments} == {
        ("dep-dall-e-3", 3, 1),
        ("dep-dall-e-2", 2, 0),
    }
    own = await store.timeline("key", BASE, "id-other", HOUR)
    assert [(b.start - BASE, b.group) for b in own] == [(HOUR, "other"), (2 * HOUR, "other")]
    later = await store.timeline("key", BASE + HOUR, None, HOUR)
    assert min(b.start for b in later) == BASE + HOUR


async def test_requests_by_cost_and_by_time(store: Store) -> None:
    by_cost = await store.requests(BASE, None, "cost", 10)
    # Known costs by value (not as text: "0.08" > "0.016" > ...), unknown ones last.
    assert [r.cost for r in by_cost] == [
        Decimal("0.08"),
        Decimal("0.04"),
        Decimal("0.02"),
        Decimal("0.016"),
        None,
    ]
    assert by_cost[0] == ROWS[1]
    newest = await store.requests(None, None, "time", 2)
    assert newest == [ROWS[4], ROWS[3]]
    assert newest[0].prompt == "kept only with log_prompts"
    own = await store.requests(BASE, "id-team", "time", 10)
    assert [r.key_alias for r in own] == ["team"] * 3
    assert await store.requests(BASE + 3 * HOUR, None, "cost", 10) == []
