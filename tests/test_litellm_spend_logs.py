"""LiteLLM's GET /spend/logs on the HTTP door, over both spend stores (SQLite and a real
PostgreSQL): calls made with a virtual key come back as LiteLLM-shaped rows (hashed key,
spend, times, model, user), filtered by LiteLLM's query parameters, or as per-day totals;
master key only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from imagegen.keys.model import hash_key
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, OTHER_KEY, TEAM_KEY, access_config

DALLE2_256 = 0.016  # OpenAI's dall-e-2 256x256 price, as priced by imagegen


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"spend_log_path": str(tmp_path / "spend.sqlite3")}
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield {"database_url": server.rsplit("/", 1)[0] + f"/{name}"}


@pytest.fixture
def config(openai_fake: OpenAIFake, store_settings: dict[str, str]) -> str:
    return access_config(
        openai_fake,
        general={"master_key": MASTER, **store_settings},
        keys=[
            {"alias": "team", "key": TEAM_KEY, "tags": ["team-a"]},
            {"alias": "other", "key": OTHER_KEY},
        ],
    )


def http(served: Served, key: str | None = MASTER) -> httpx.AsyncClient:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=served.http_base_url, headers=headers, timeout=30)


async def generate(served: Served, key: str, user: str) -> str:
    """One dall-e-2 256x256 image through the HTTP door; the call id."""
    async with http(served, key) as caller:
        answer = await caller.post(
            "/v1/images/generations",
            json={"model": "dall-e-2", "prompt": "a cat", "size": "256x256", "user": user},
        )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-litellm-call-id"]


async def logs(served: Served, **params: str) -> Any:
    async with http(served) as admin:
        answer = await admin.get("/spend/logs", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_rows_in_litellms_shape_and_filters(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    before = datetime.now(UTC)
    first = await generate(served, TEAM_KEY, "alice")
    second = await generate(served, TEAM_KEY, "bob")
    third = await generate(served, OTHER_KEY, "alice")

    every = await logs(served)
    assert [row["request_id"] for row in every] == [third, second, first]  # newest first
    row = every[-1]
    assert row["api_key"] == hash_key(TEAM_KEY)  # LiteLLM's token: the key's hash
    assert row["spend"] == pytest.approx(DALLE2_256)
    assert (row["model"], row["model_group"], row["user"]) == ("dall-e-2", "dall-e-2", "alice")
    assert row["custom_llm_provider"] == "openai"
    assert row["status"] == "success" and row["request_tags"] == ["team-a"]
    assert row["metadata"]["user_api_key_alias"] == "team"
    assert row["metadata"]["spend_unknown"] is False
    start, end = datetime.fromisoformat(row["startTime"]), datetime.fromisoformat(row["endTime"])
    assert before - timedelta(seconds=1) <= start <= end <= datetime.now(UTC)
    assert TEAM_KEY not in str(every) and "a cat" not in str(every)

    # LiteLLM's filters: the key (its secret or token), the user, one request.
    for key in (TEAM_KEY, hash_key(TEAM_KEY)):
        assert [r["request_id"] for r in await logs(served, api_key=key)] == [second, first]
    assert [r["request_id"] for r in await logs(served, user_id="alice")] == [third, first]
    assert [r["request_id"] for r in await logs(served, request_id=second)] == [second]
    assert await logs(served, request_id="no-such-request") == []


async def test_date_range_summarized_per_day_or_as_rows(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    await generate(served, TEAM_KEY, "alice")
    await generate(served, OTHER_KEY, "bob")
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    days = await logs(served, start_date=yesterday.isoformat(), end_date=today.isoformat())
    assert [d["startTime"] for d in days] == [yesterday.isoformat(), today.isoformat()]
    assert days[0]["spend"] == 0 and days[0]["users"] == {}
    totals = days[1]
    assert totals["spend"] == pytest.approx(2 * DALLE2_256)
    assert totals["users"] == {"alice": pytest.approx(DALLE2_256), "bob": pytest.approx(DALLE2_256)}
    assert totals["models"] == {"dall-e-2": pytest.approx(2 * DALLE2_256)}
    assert totals[hash_key(TEAM_KEY)] == pytest.approx(DALLE2_256)
    assert totals["unknown_cost_requests"] == 0

    rows = await logs(
        served, start_date=today.isoformat(), end_date=today.isoformat(), summarize="false"
    )
    assert len(rows) == 2
    assert (
        await logs(
            served,
            start_date=yesterday.isoformat(),
            end_date=yesterday.isoformat(),
            summarize="false",
        )
        == []
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "2026-01-01"}, "end_date"),
        ({"start_date": "2026-01-02", "end_date": "2026-01-01"}, "end_date"),
        ({"start_date": "yesterday", "end_date": "2026-01-01"}, "start_date"),
        ({"summarize": "maybe"}, "summarize"),
        ({"team_id": "t1"}, "team_id"),
    ],
)
async def test_bad_queries_are_400_naming_the_parameter(
    serve: ServeFactory, config: str, params: dict[str, str], field: str
) -> None:
    served = await serve(config)
    async with http(served) as admin:
        answer = await admin.get("/spend/logs", params=params)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]["message"]


async def test_only_the_master_key_reads_the_log(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    await generate(served, TEAM_KEY, "alice")
    async with http(served, TEAM_KEY) as team:
        assert (await team.get("/spend/logs")).status_code == 403
    async with http(served, None) as anonymous:
        assert (await anonymous.get("/spend/logs")).status_code == 401
