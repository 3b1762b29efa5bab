"""Reading the spend log row by row (LiteLLM's /spend/logs), newest first.

The columns are named here rather than taken from the table's full list, so that columns
added later (by other features) do not change what this reader returns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

LOG_COLUMNS = (
    "time",
    "request_id",
    "key_id",
    "key_alias",
    "user_id",
    "tags",
    "model_group",
    "deployment",
    "provider",
    "door",
    "n",
    "images",
    "size",
    "quality",
    "status",
    "cost",
    "charged",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "attempts",
)


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which rows: every filter given must match. `until` is exclusive."""

    key_id: str | None = None
    user: str | None = None
    request_id: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 1000
    """At most this many rows (the newest)."""


@dataclass(frozen=True, slots=True)
class LoggedRow:
    """One spend row as stored (no prompt: the log route never returns prompts)."""

    time: float
    request_id: str
    key_id: str
    key_alias: str
    user: str
    tags: tuple[str, ...]
    model_group: str
    deployment: str
    provider: str
    door: str
    n: int
    images: int
    size: str
    quality: str
    status: str
    cost: Decimal | None
    charged: Decimal
    input_tokens: int
    output_tokens: int
    latency_ms: float
    attempts: int


def log_sql(query: LogQuery, placeholder: str) -> tuple[str, list[Any]]:
    """The SELECT for `query` with `placeholder` ("?" or "%s") parameters."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("key_id", query.key_id),
        ("user_id", query.user),
        ("request_id", query.request_id),
    ):
        if value is not None:
            where.append(f"{column} = {placeholder}")
            params.append(value)
    if query.since is not None:
        where.append(f"time >= {placeholder}")
        params.append(query.since)
    if query.until is not None:
        where.append(f"time < {placeholder}")
        params.append(query.until)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    sql = (
        f"SELECT {', '.join(LOG_COLUMNS)} FROM imagegen_spend{condition} "
        f"ORDER BY time DESC LIMIT {int(query.limit)}"
    )
    return sql, params


def logged_row(values: Sequence[Any]) -> LoggedRow:
    """A row from the values of LOG_COLUMNS (either database's types)."""
    record = dict(zip(LOG_COLUMNS, values, strict=True))
    tags = record["tags"]
    if isinstance(tags, str):  # SQLite keeps JSON text; PostgreSQL's JSONB comes decoded
        tags = json.loads(tags)
    cost = record["cost"]
    return LoggedRow(
        time=float(record["time"]),
        request_id=str(record["request_id"]),
        key_id=str(record["key_id"]),
        key_alias=str(record["key_alias"]),
        user=str(record["user_id"]),
        tags=tuple(str(t) for t in tags),
        model_group=str(record["model_group"]),
        deployment=str(record["deployment"]),
        provider=str(record["provider"]),
        door=str(record["door"]),
        n=int(record["n"]),
        images=int(record["images"]),
        size=str(record["size"]),
        quality=str(record["quality"]),
        status=str(record["status"]),
        cost=None if cost is None else Decimal(str(cost)),
        charged=Decimal(str(record["charged"])),
        input_tokens=int(record["input_tokens"]),
        output_tokens=int(record["output_tokens"]),
        latency_ms=float(record["latency_ms"]),
        attempts=int(record["attempts"]),
    )
