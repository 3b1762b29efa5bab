"""The spend log and key store in an SQLite file (the embedded default).

sqlite3 blocks, so every statement runs on one dedicated thread (a connection belongs
to the thread that made it). WAL lets readers (spend queries, the CLI) run beside the
writer; synchronous=FULL makes a committed batch survive a power cut, not just a crash.
Costs are stored as decimal text and summed with an exact decimal aggregate, never floats.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from imagegen.errors import AlreadyExistsError
from imagegen.keys.model import KeySpec
from imagegen.spend.logs import LogQuery, log_sql
from imagegen.spend.rows import Grouping, RowOrder, SpendBucket, SpendGroup, SpendRow
from imagegen.spend.schema import (
    ADDED_KEY_COLUMNS,
    GROUP_COLUMNS,
    KEY_COLUMNS,
    SPEND_COLUMNS,
    key_from,
    key_values,
    spend_row_from,
    spend_values,
)

T = TypeVar("T")

# The columns a spend table made before them gets at open (schema.ADDED_SPEND_COLUMN_NAMES).
ADDED_SPEND_COLUMNS = (
    ("operation", "TEXT NOT NULL DEFAULT 'generate'"),
    ("input_images", "INTEGER NOT NULL DEFAULT 0"),
    ("input_bytes", "INTEGER NOT NULL DEFAULT 0"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS imagegen_spend (
    time REAL NOT NULL, request_id TEXT NOT NULL, key_id TEXT NOT NULL,
    key_alias TEXT NOT NULL, user_id TEXT NOT NULL, tags TEXT NOT NULL,
    model_group TEXT NOT NULL, deployment TEXT NOT NULL, provider TEXT NOT NULL,
    door TEXT NOT NULL, n INTEGER NOT NULL, images INTEGER NOT NULL, size TEXT NOT NULL,
    quality TEXT NOT NULL, status TEXT NOT NULL, cost TEXT, charged TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, latency_ms REAL NOT NULL,
    attempts INTEGER NOT NULL, prompt TEXT, operation TEXT NOT NULL DEFAULT 'generate',
    input_images INTEGER NOT NULL DEFAULT 0, input_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS imagegen_spend_key_time ON imagegen_spend (key_id, time);
CREATE INDEX IF NOT EXISTS imagegen_spend_time ON imagegen_spend (time);
CREATE TABLE IF NOT EXISTS imagegen_keys (
    key_hash TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE, models TEXT NOT NULL,
    rpm INTEGER, ipm INTEGER, max_budget TEXT, budget_period TEXT, tags TEXT NOT NULL,
    allow_request_credentials INTEGER NOT NULL, revoked INTEGER NOT NULL,
    created_at REAL NOT NULL, max_parallel_requests INTEGER, max_parallel_streams INTEGER
);
"""


class _DecimalSum:
    """SUM over decimal text, exact (SQLite's own SUM would go through floats)."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total += Decimal(value)

    def finalize(self) -> str:
        return str(self.total)


class SqliteStore:
    """Store over one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagegen-sqlite")
        self._db: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None, "store is not open"
            return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.create_aggregate("decsum", 1, _DecimalSum)  # type: ignore[arg-type]
            db.executescript(_SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(imagegen_keys)")}
            for name, kind in ADDED_KEY_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE imagegen_keys ADD COLUMN {name} {kind}")
            have = {row[1] for row in db.execute("PRAGMA table_info(imagegen_spend)")}
            for name, kind in ADDED_SPEND_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE imagegen_spend ADD COLUMN {name} {kind}")
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def close(self) -> None:
        def disconnect(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(disconnect)
            self._db = None
        self._executor.shutdown(wait=True)

    async def insert(self, rows: Sequence[SpendRow]) -> None:
        sql = (
            f"INSERT INTO imagegen_spend ({', '.join(SPEND_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(SPEND_COLUMNS))})"
        )
        values = [spend_values(row) for row in rows]

        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(sql, values)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        await self._run(write)

    async def charged_since(self, key_id: str, since: float) -> Decimal:
        def read(db: sqlite3.Connection) -> Decimal:
            (total,) = db.execute(
                "SELECT decsum(charged) FROM imagegen_spend WHERE key_id = ? AND time >= ?",
                (key_id, since),
            ).fetchone()
            return Decimal(total or 0)

        return await self._run(read)

    async def summary(
        self, group_by: Grouping, since: float | None, key_id: str | None
    ) -> list[SpendGroup]:
        sql, params = _totals_sql(group_by, since, key_id, None)

        def read(db: sqlite3.Connection) -> list[SpendGroup]:
            return [
                SpendGroup(str(g), int(r), int(e), int(i), Decimal(c or 0), int(u), int(n), int(b))
                for g, r, e, i, c, u, n, b in db.execute(sql, params).fetchall()
            ]

        groups = await self._run(read)
        return sorted(groups, key=lambda g: (-g.cost, g.group))

    async def timeline(
        self, group_by: Grouping, since: float | None, key_id: str | None, bucket_seconds: int
    ) -> list[SpendBucket]:
        sql, params = _totals_sql(group_by, since, key_id, bucket_seconds)

        def read(db: sqlite3.Connection) -> list[SpendBucket]:
            return [
                SpendBucket(float(b), str(g), int(r), int(e), int(i), Decimal(c or 0), int(u))
                for b, g, r, e, i, c, u, *_inputs in db.execute(sql, params).fetchall()
            ]

        buckets = await self._run(read)
        return sorted(buckets, key=lambda b: (b.start, b.group))

    async def requests(
        self, since: float | None, key_id: str | None, order: RowOrder, limit: int
    ) -> list[SpendRow]:
        where, params = _where(since, key_id)
        # Costs are decimal text: order by their value, unknown costs after every known one.
        ordering = (
            "cost IS NULL, CAST(cost AS REAL) DESC, time DESC" if order == "cost" else "time DESC"
        )
        sql = (
            f"SELECT {', '.join(SPEND_COLUMNS)} FROM imagegen_spend "
            f"WHERE {where} ORDER BY {ordering} LIMIT ?"
        )

        def read(db: sqlite3.Connection) -> list[SpendRow]:
            return [spend_row_from(v) for v in db.execute(sql, [*params, limit]).fetchall()]

        return await self._run(read)

    async def load_keys(self) -> list[KeySpec]:
        sql = f"SELECT {', '.join(KEY_COLUMNS)} FROM imagegen_keys ORDER BY created_at"

        def read(db: sqlite3.Connection) -> list[KeySpec]:
            return [key_from(values) for values in db.execute(sql).fetchall()]

        return await self._run(read)

    async def add_key(self, key: KeySpec) -> None:
        sql = (
            f"INSERT INTO imagegen_keys ({', '.join(KEY_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(KEY_COLUMNS))})"
        )

        def write(db: sqlite3.Connection) -> None:
            try:
                db.execute(sql, key_values(key))
            except sqlite3.IntegrityError:
                raise AlreadyExistsError(
                    f"a key with alias {key.alias!r} exists already",
                    metadata={"alias": key.alias},
                ) from None

        await self._run(write)

    async def revoke_key(self, alias: str) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            cursor = db.execute("UPDATE imagegen_keys SET revoked = 1 WHERE alias = ?", (alias,))
            return cursor.rowcount > 0

        return await self._run(write)

    async def update_key(self, key: KeySpec) -> bool:
        columns = [c for c in KEY_COLUMNS if c != "key_hash"]
        sql = (
            f"UPDATE imagegen_keys SET {', '.join(f'{c} = ?' for c in columns)} WHERE key_hash = ?"
        )
        values = dict(zip(KEY_COLUMNS, key_values(key), strict=True))

        def write(db: sqlite3.Connection) -> bool:
            try:
                cursor = db.execute(sql, [*(values[c] for c in columns), key.key_hash])
            except sqlite3.IntegrityError:
                raise AlreadyExistsError(
                    f"a key with alias {key.alias!r} exists already",
                    metadata={"alias": key.alias},
                ) from None
            return cursor.rowcount > 0

        return await self._run(write)

    async def logs(self, query: LogQuery) -> list[SpendRow]:
        sql, params = log_sql(query, "?")

        def read(db: sqlite3.Connection) -> list[SpendRow]:
            return [spend_row_from(values) for values in db.execute(sql, params).fetchall()]

        return await self._run(read)


def _where(since: float | None, key_id: str | None) -> tuple[str, list[object]]:
    where = ["time >= ?"]
    params: list[object] = [since or 0.0]
    if key_id is not None:
        where.append("key_id = ?")
        params.append(key_id)
    return " AND ".join(where), params


def _totals_sql(
    group_by: Grouping, since: float | None, key_id: str | None, bucket_seconds: int | None
) -> tuple[str, list[object]]:
    """The spend query (QuerySpend's totals per group), per time bucket when one is given."""
    if group_by == "tag":
        source = "imagegen_spend, json_each(imagegen_spend.tags) AS t"
        group = "t.value"
    else:
        source, group = "imagegen_spend", GROUP_COLUMNS[group_by]
    where, params = _where(since, key_id)
    keys, head = group, ""
    if bucket_seconds is not None:
        # Integer division of the start time: buckets aligned on multiples of their length.
        head = f"CAST(time / {int(bucket_seconds)} AS INTEGER) * {int(bucket_seconds)}, "
        keys = f"1, {group}"
    sql = (
        f"SELECT {head}{group}, COUNT(*), SUM(status != 'OK'), SUM(images), decsum(cost), "
        "SUM(cost IS NULL), SUM(input_images), SUM(input_bytes) "
        f"FROM {source} WHERE {where} GROUP BY {keys}"
    )
    return sql, params
