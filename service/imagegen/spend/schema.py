"""The two tables, shared by both databases (types differ: see each store)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from imagegen.keys.model import KeySpec
from imagegen.spend.rows import SpendRow

SPEND_COLUMNS = (
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
    "prompt",
    "operation",
    "input_images",
    "input_bytes",
)
KEY_COLUMNS = (
    "key_hash",
    "alias",
    "models",
    "rpm",
    "ipm",
    "max_budget",
    "budget_period",
    "tags",
    "allow_request_credentials",
    "revoked",
    "created_at",
    "max_parallel_requests",
    "max_parallel_streams",
)
# Columns added after the first release: a database created before them gets them at open.
ADDED_KEY_COLUMNS = (("max_parallel_requests", "INTEGER"), ("max_parallel_streams", "INTEGER"))
# Spend columns added after the first release (what an edit took in): a database created
# before them gets them at open, its old rows reading as generations without inputs. Each
# store spells the types its own way (see ADDED_SPEND_COLUMNS there).
ADDED_SPEND_COLUMN_NAMES = ("operation", "input_images", "input_bytes")
# The SQL expression each grouping reads (tags are unnested by each store its own way).
GROUP_COLUMNS = {
    "key": "key_alias",
    "model": "model_group",
    "user": "user_id",
    "operation": "operation",
    "deployment": "deployment",
}


def spend_values(row: SpendRow, decimal: type[Any] = str) -> tuple[Any, ...]:
    """`row` as column values; decimals as `decimal` (str for SQLite, Decimal for PostgreSQL)."""
    return (
        row.time,
        row.request_id,
        row.key_id,
        row.key_alias,
        row.user,
        json.dumps(list(row.tags)),
        row.model_group,
        row.deployment,
        row.provider,
        row.door,
        row.n,
        row.images,
        row.size,
        row.quality,
        row.status,
        None if row.cost is None else decimal(row.cost),
        decimal(row.charged),
        row.input_tokens,
        row.output_tokens,
        row.latency_ms,
        row.attempts,
        row.prompt,
        row.operation,
        row.input_images,
        row.input_bytes,
    )


def spend_row_from(values: Sequence[Any]) -> SpendRow:
    """A row read back (columns in SPEND_COLUMNS order); decimals from text or NUMERIC."""
    record = dict(zip(SPEND_COLUMNS, values, strict=True))
    tags = record["tags"]
    cost = record["cost"]
    return SpendRow(
        time=float(record["time"]),
        request_id=record["request_id"],
        key_id=record["key_id"],
        key_alias=record["key_alias"],
        user=record["user_id"],
        # SQLite keeps the JSON text; PostgreSQL's JSONB comes back decoded.
        tags=tuple(json.loads(tags) if isinstance(tags, str) else tags),
        model_group=record["model_group"],
        deployment=record["deployment"],
        provider=record["provider"],
        door=record["door"],
        n=int(record["n"]),
        images=int(record["images"]),
        size=record["size"],
        quality=record["quality"],
        status=record["status"],
        cost=None if cost is None else Decimal(str(cost)),
        charged=Decimal(str(record["charged"])),
        input_tokens=int(record["input_tokens"]),
        output_tokens=int(record["output_tokens"]),
        latency_ms=float(record["latency_ms"]),
        attempts=int(record["attempts"]),
        prompt=record["prompt"],
        operation=str(record["operation"]),
        input_images=int(record["input_images"]),
        input_bytes=int(record["input_bytes"]),
    )


def key_values(key: KeySpec) -> tuple[Any, ...]:
    return (
        key.key_hash,
        key.alias,
        json.dumps(list(key.models)),
        key.rpm,
        key.ipm,
        None if key.max_budget is None else str(key.max_budget),
        key.budget_period,
        json.dumps(list(key.tags)),
        int(key.allow_request_credentials),
        int(key.revoked),
        key.created_at,
        key.max_parallel_requests,
        key.max_parallel_streams,
    )


def key_from(values: Sequence[Any]) -> KeySpec:
    record = dict(zip(KEY_COLUMNS, values, strict=True))
    period = record["budget_period"]
    return KeySpec(
        key_hash=record["key_hash"],
        alias=record["alias"],
        models=tuple(json.loads(record["models"])),
        rpm=record["rpm"],
        ipm=record["ipm"],
        max_budget=None if record["max_budget"] is None else Decimal(record["max_budget"]),
        budget_period=period if period in ("daily", "monthly") else None,
        tags=tuple(json.loads(record["tags"])),
        allow_request_credentials=bool(record["allow_request_credentials"]),
        revoked=bool(record["revoked"]),
        source="database",
        created_at=float(record["created_at"]),
        max_parallel_requests=record["max_parallel_requests"],
        max_parallel_streams=record["max_parallel_streams"],
    )
