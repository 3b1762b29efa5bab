"""Budgets with reservation, EstimateCost and the spend log, through the running server,
on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from imagegen.cli import main
from imagegen.errors import BudgetExceededError, Code, CostUnknownError, ImageGenError
from imagegen.spend.store_postgres import PostgresStore
from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config, client, sqlite_rows

DALLE2_256 = Decimal("0.016")


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"


def budget_config(fake: OpenAIFake, general: dict[str, object], budget: str) -> str:
    return access_config(
        fake,
        general={"master_key": MASTER, **general},
        keys=[
            {
                "alias": "team",
                "key": TEAM_KEY,
                "max_budget": budget,
                "budget_period": "daily",
                "tags": ["team-a"],
            }
        ],
    )


async def parallel_calls(served_address: str, count: int) -> list[object]:
    from imagegen.client import AsyncImageGenClient

    async with AsyncImageGenClient(served_address, api_key=TEAM_KEY) as team:
        calls = [
            team.generate_images("a cat", model="dall-e-2", size="256x256", user=f"u{i % 2}")
            for i in range(count)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_budget_stops_concurrent_calls_at_the_right_one(
    serve: ServeFactory,
    openai_fake: OpenAIFake,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    if backend == "sqlite":
        general: dict[str, object] = {"spend_log_path": str(tmp_path / "spend.sqlite3")}
    else:
        general = {"database_url": request.getfixturevalue("pg_database")}
    # 0.20 USD holds 12 calls of 0.016 (0.192); the 13th quote does not fit.
    served = await serve(budget_config(openai_fake, general, "0.20"))
    openai_fake.delay = 0.3  # every call is in flight while the others are admitted
    outcomes = await parallel_calls(served.address, 50)
    succeeded = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert len(succeeded) == 12
    assert len(refused) == 38
    assert all(r.code is Code.RESOURCE_EXHAUSTED for r in refused)
    assert all(r.subject == "key:team:budget" and r.retry_after for r in refused)
    assert len(openai_fake.requests) == 12  # refused calls never reached the provider

    async with client(served, MASTER) as admin:
        (by_key,) = await admin.query_spend("key")
        by_user = {g.group: g for g in await admin.query_spend("user")}
        (by_tag,) = await admin.query_spend("tag")
        by_model = await admin.query_spend("model", since=time.time() + 3600)
    assert (by_key.group, by_key.requests, by_key.errors) == ("team", 50, 38)
    assert (by_key.images, Decimal(by_key.cost), by_key.unknown_cost_count) == (
        12,
        12 * DALLE2_256,
        0,
    )
    assert set(by_user) == {"u0", "u1"} and sum(g.requests for g in by_user.values()) == 50
    assert by_tag.group == "team-a" and by_tag.requests == 50
    assert by_model == []  # nothing since an hour from now
    if backend == "sqlite":
        rows = sqlite_rows(tmp_path / "spend.sqlite3")
        ok = [r for r in rows if r["status"] == "OK"]
        assert len(rows) == 50 and len(ok) == 12
        assert all(r["cost"] == DALLE2_256 and r["deployment"] and r["attempts"] == 1 for r in ok)
        assert {r["status"] for r in rows if r not in ok} == {"BUDGET_EXCEEDED"}
        assert all(r["prompt"] is None and r["provider"] for r in ok)

    async with client(served, TEAM_KEY) as team:
        with pytest.raises(BudgetExceededError):
            await team.generate_images("a cat", model="dall-e-2", size="256x256")


async def test_spend_rows_in_postgres_with_costs_and_failures(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str
) -> None:
    served = await serve(budget_config(openai_fake, {"database_url": pg_database}, "10"))
    openai_fake.fail_next(500, {"error": {"message": "boom", "type": "server_error"}})
    async with client(served, TEAM_KEY) as team:
        with pytest.raises(ImageGenError):
            await team.generate_images("a cat", model="dall-e-3", request_id="failed-1")
        done = await team.generate_images(
            "a cat", model="dall-e-3", quality="hd", size="1792x1024", request_id="ok-1"
        )
        await team.query_spend("key")  # flushes the writer
    assert done.cost.response_cost == Decimal("0.120")
    with psycopg.connect(pg_database) as db:
        rows = db.execute(
            "SELECT request_id, key_alias, status, cost, charged, n, images, model_group, "
            "provider, quality, size, prompt FROM imagegen_spend ORDER BY time"
        ).fetchall()
    assert len(rows) == 2
    failed, ok = rows
    assert failed[:5] == ("failed-1", "team", "PROVIDER_UNAVAILABLE", Decimal(0), Decimal(0))
    assert ok[:5] == ("ok-1", "team", "OK", Decimal("0.120"), Decimal("0.120"))
    assert ok[5:] == (1, 1, "dall-e-3", "openai", "hd", "1792x1024", None)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("dall-e-3", {"quality": "hd", "size": "1792x1024"}),
        ("dall-e-3", {}),
        ("dall-e-2", {"size": "512x512", "n": 3}),
    ],
)
async def test_estimate_cost_equals_the_actual_cost(
    serve: ServeFactory,
    openai_fake: OpenAIFake,
    tmp_path: Path,
    model: str,
    fields: dict[str, Any],
) -> None:
    general: dict[str, object] = {"spend_log_path": str(tmp_path / "s.sqlite3")}
    served = await serve(budget_config(openai_fake, general, "10"))
    async with client(served, TEAM_KEY) as team:
        quote = await team.estimate_cost(model, **fields)
        assert len(openai_fake.requests) == 0
        done = await team.generate_images("a cat", model=model, **fields)
    assert quote.basis == "per_image" and quote.currency == "USD"
    assert Decimal(quote.cost) == done.cost.response_cost
    assert Decimal(quote.per_image_cost) * quote.n == Decimal(quote.cost)
    assert quote.model_id == done.cost.model_id and quote.provider == "openai"


async def test_unpriced_models_are_refused_under_a_budget_unless_allowed(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    general: dict[str, object] = {"spend_log_path": str(tmp_path / "a.sqlite3")}
    served = await serve(budget_config(openai_fake, general, "10"))
    async with client(served, TEAM_KEY) as team:
        quote = await team.estimate_cost("gpt-image-1")
        with pytest.raises(CostUnknownError) as refused:
            await team.generate_images("a cat", model="gpt-image-1")
    assert (quote.cost, quote.basis) == ("unknown", "per_token")
    assert refused.value.code is Code.FAILED_PRECONDITION
    assert len(openai_fake.requests) == 0

    general = {"spend_log_path": str(tmp_path / "b.sqlite3"), "allow_unpriced_models": True}
    allowed = await serve(budget_config(openai_fake, general, "10"))
    async with client(allowed, TEAM_KEY) as team:
        done = await team.generate_images("a cat", model="gpt-image-1")
    assert done.cost.response_cost is not None and done.cost.response_cost > 0


async def test_budget_spent_before_a_restart_still_counts(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    general: dict[str, object] = {"spend_log_path": str(tmp_path / "spend.sqlite3")}
    config = budget_config(openai_fake, general, "0.05")  # three calls of 0.016 fit
    first = await serve(config)
    async with client(first, TEAM_KEY) as team:
        for _ in range(3):
            await team.generate_images("a cat", model="dall-e-2", size="256x256")
    await first.running.stop(grace=0)  # flushes the writer

    second = await serve(config)
    async with client(second, TEAM_KEY) as team:
        with pytest.raises(BudgetExceededError) as refused:
            await team.generate_images("a cat", model="dall-e-2", size="256x256")
        async with client(second, MASTER) as admin:
            (info,) = await admin.list_keys()
            (totals,) = await admin.query_spend("key")
    assert refused.value.metadata["quote"] == "0.016"
    assert Decimal(info.period_spend) == 3 * DALLE2_256
    assert (totals.requests, totals.errors, Decimal(totals.cost)) == (4, 1, 3 * DALLE2_256)
    assert len(sqlite_rows(tmp_path / "spend.sqlite3")) == 4


async def test_spend_cli_prints_a_table_and_a_key_sees_only_its_own(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    general: dict[str, object] = {"spend_log_path": str(tmp_path / "spend.sqlite3")}
    served = await serve(budget_config(openai_fake, general, "10"))
    async with client(served, TEAM_KEY) as team:
        await team.generate_images("a cat", model="dall-e-3", n=1)
        await team.generate_images("a cat", model="dall-e-2", size="256x256", n=2)
    async with client(served, MASTER) as admin:
        await admin.generate_images("a cat", model="dall-e-2", size="256x256")
    argv = ["spend", "--by", "model", "--since", "7d", "--target", served.address]
    code = await asyncio.to_thread(main, [*argv, "--master-key", MASTER])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].split() == ["model", "requests", "errors", "images", "cost_usd", "unknown_cost"]
    # Largest cost first.
    assert out[2].split() == ["dall-e-2", "2", "0", "3", "0.048", "0"]
    assert out[3].split() == ["dall-e-3", "1", "0", "1", "0.040", "0"]
    code = await asyncio.to_thread(main, [*argv, "--api-key", TEAM_KEY, "--by", "key"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and [line.split()[0] for line in out[2:]] == ["team"]


async def test_replicas_opening_a_new_database_together_all_start(pg_database: str) -> None:
    # Without serialising the schema statements, concurrent CREATE TABLE IF NOT EXISTS on a
    # fresh database fails one opener with a duplicate pg_type row (seen with three replicas).
    stores = [PostgresStore(pg_database) for _ in range(8)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        assert [await store.charged_since("nobody", 0.0) for store in stores] == [Decimal(0)] * 8
    finally:
        await asyncio.gather(*(store.close() for store in stores))
