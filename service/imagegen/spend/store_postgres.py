"""The spend log and key store in PostgreSQL (general_settings.database_url), via psycopg 3.

One async connection, used by one statement at a time: the spend writer already
batches, so a pool would add nothing but connections. Costs are NUMERIC: exact sums.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import psycopg

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

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS imagegen_spend (
    time DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, key_id TEXT NOT NULL,
    key_alias TEXT NOT NULL, user_id TEXT NOT NULL, tags JSONB NOT NULL,
    model_group TEXT NOT NULL, deployment TEXT NOT NULL, provider TEXT NOT NULL,
    door TEXT NOT NULL, n INTEGER NOT NULL, images INTEGER NOT NULL, size TEXT NOT NULL,
    quality TEXT NOT NULL, status TEXT NOT NULL, cost NUMERIC, charged NUMERIC NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL, prompt TEXT,
    operation TEXT NOT NULL DEFAULT 'generate', input_images INTEGER NOT NULL DEFAULT 0,
    input_bytes BIGINT NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS imagegen_spend_key_time ON imagegen_spend (key_id, time)",
    "CREATE INDEX IF NOT EXISTS imagegen_spend_time ON imagegen_spend (time)",
    """CREATE TABLE IF NOT EXISTS imagegen_keys (
    key_hash TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE, models TEXT NOT NULL,
    rpm INTEGER, ipm INTEGER, max_budget TEXT, budget_period TEXT, tags TEXT NOT NULL,
    allow_request_credentials INTEGER NOT NULL, revoked INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    max_parallel_requests INTEGER, max_parallel_streams INTEGER)""",
    *(
        f"ALTER TABLE imagegen_keys ADD COLUMN IF NOT EXISTS {name} {kind}"
        for name, kind in ADDED_KEY_COLUMNS
    ),
    # A spend table made before these columns gets them (schema.ADDED_SPEND_COLUMN_NAMES).
    *(
        f"ALTER TABLE imagegen_spend ADD COLUMN IF NOT EXISTS {name} {kind}"
        for name, kind in (
            ("operation", "TEXT NOT NULL DEFAULT 'generate'"),
            ("input_images", "INTEGER NOT NULL DEFAULT 0"),
            ("input_bytes", "BIGINT NOT NULL DEFAULT 0"),
        )
    ),
)


_SCHEMA_LOCK = 0x1A6E_5E4D
"""The advisory lock key that serialises schema creation across replicas."""


class PostgresStore:
    """Store over a PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = asyncio.Lock()

    def _db(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        assert self._conn is not None, "store is not open"
        return self._conn

    async def open(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(self.url)
        async with self._lock, self._db().transaction():
            # Replicas starting together on a new database would race: IF NOT EXISTS is not
            # safe under concurrency (a duplicate pg_type row fails one of them). One at a
            # time, under a transaction-scoped advisory lock released at commit.
            await self._db().execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                await self._db().execute(statement)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _reconnect_if_broken(self) -> None:
        # After a server restart the connection is dead: the writer's retry gets a new one.
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self.url)

    async def insert(self, rows: Sequence[SpendRow]) -> None:
        sql = (
            f"INSERT INTO imagegen_spend ({', '.join(SPEND_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(SPEND_COLUMNS))})"
        )
        values = [spend_values(row, Decimal) for row in rows]
        async with self._lock:
            await self._reconnect_if_broken()
            async with self._db().transaction(), self._db().cursor() as cursor:
                await cursor.executemany(sql, values)

    async def charged_since(self, key_id: str, since: float) -> Decimal:
        async with self._lock:
            await self._reconnect_if_broken()
            async with self._db().transaction():
                cursor = await self._db().execute(
                    "SELECT COALESCE(SUM(charged), 0) FROM imagegen_spend "
                    "WHERE key_id = %s AND time >= %s",
                    (key_id, since),
                )
                row = await cursor.fetchone()
        assert row is not None
        return Decimal(str(row[0]))

    async def summary(
        self, group_by: Grouping, since: float | None, key_id: str | None
    ) -> list[SpendGroup]:
        sql, params = _totals_sql(group_by, since, key_id, None)
        groups = [
            SpendGroup(
                str(g),
                int(str(r)),
                int(str(e)),
                int(str(i)),
                Decimal(str(c)),
                int(str(u)),
                int(str(n)),
                int(str(nb)),
            )
            for g, r, e, i, c, u, n, nb in await self._fetch(sql, params)
        ]
        return sorted(groups, key=lambda g: (-g.cost, g.group))

    async def timeline(
        self, group_by: Grouping, since: float | None, key_id: str | None, bucket_seconds: int
    ) -> list[SpendBucket]:
        sql, params = _totals_sql(group_by, since, key_id, bucket_seconds)
        buckets = [
            SpendBucket(
                float(str(b)),
                str(g),
                int(str(r)),
                int(str(e)),
                int(str(i)),
                Decimal(str(c)),
                int(str(u)),
            )
            for b, g, r, e, i, c, u, *_inputs in await self._fetch(sql, params)
        ]
        return sorted(buckets, key=lambda b: (b.start, b.group))

    async def requests(
        self, since: float | None, key_id: str | None, order: RowOrder, limit: int
    ) -> list[SpendRow]:
        where, params = _where(since, key_id)
        ordering = "cost DESC NULLS LAST, time DESC" if order == "cost" else "time DESC"
        sql = (
            f"SELECT {', '.join(SPEND_COLUMNS)} FROM imagegen_spend "
            f"WHERE {where} ORDER BY {ordering} LIMIT %s"
        )
        return [spend_row_from(v) for v in await self._fetch(sql, [*params, limit])]

    async def _fetch(self, sql: str, params: list[object]) -> list[tuple[object, ...]]:
        async with self._lock:
            await self._reconnect_if_broken()
            async with self._db().transaction():
                cursor = await self._db().execute(sql, params)
                return await cursor.fetchall()

    async def load_keys(self) -> list[KeySpec]:
        sql = f"SELECT {', '.join(KEY_COLUMNS)} FROM imagegen_keys ORDER BY created_at"
        async with self._lock:
            await self._reconnect_if_broken()
            async with self._db().transaction():
                cursor = await self._db().execute(sql)
                fetched = await cursor.fetchall()
        return [key_from(values) for values in fetched]

    async def add_key(self, key: KeySpec) -> None:
        sql = (
            f"INSERT INTO imagegen_keys ({', '.join(KEY_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(KEY_COLUMNS))})"
        )
        async with self._lock:
            await self._reconnect_if_broken()
            try:
                async with self._db().transaction():
                    await self._db().execute(sql, key_values(key))
            except psycopg.errors.UniqueViolation:
                raise AlreadyExistsError(
                    f"a key with alias {key.alias!r} exists already",
                    metadata={"alias": key.alias},
                ) from None

    async def revoke_key(self, alias: str) -> bool:
        async with self._lock:
            await self._reconnect_if_broken()
            async with self._db().transaction():
                cursor = await self._db().execute(
                    "UPDATE imagegen_keys SET revoked = 1 WHERE alias = %s", (alias,)
                )
                return cursor.rowcount > 0

    async def update_key(self, key: KeySpec) -> bool:
        columns = [c for c in KEY_COLUMNS if c != "key_hash"]
        sql = (
            f"UPDATE imagegen_keys SET {', '.join(f'{c} = %s' for c in columns)} "
            "WHERE key_hash = %s"
        )
        values = dict(zip(KEY_COLUMNS, key_values(key), strict=True))
        async with self._lock:
            await self._reconnect_if_broken()
            try:
                async with self._db().transaction():
                    cursor = await self._db().execute(
                        sql, [*(values[c] for c in columns), key.key_hash]
                    )
            except psycopg.errors.UniqueViolation:
                raise AlreadyExistsError(
                    f"a key with alias {key.alias!r} exists already",
                    metadata={"alias": key.alias},
                ) from None
            return cursor.rowcount > 0

    async def logs(self, query: LogQuery) -> list[SpendRow]:
        sql, params = log_sql(query, "%s")
        async with self._lock:
            await self._reconnect_if_broken()
            async with self._db().transaction():
                cursor = await self._db().execute(sql, params)
                fetched = await cursor.fetchall()
        return [spend_row_from(values) for values in fetched]


def _where(since: float | None, key_id: str | None) -> tuple[str, list[object]]:
    where = ["time >= %s"]
    params: list[object] = [since or 0.0]
    if key_id is not None:
        where.append("key_id = %s")
        params.append(key_id)
    return " AND ".join(where), params


def _totals_sql(
    group_by: Grouping, since: float | None, key_id: str | None, bucket_seconds: int | None
) -> tuple[str, list[object]]:
    """The spend query (QuerySpend's totals per group), per time bucket when one is given."""
    if group_by == "tag":
        source = "imagegen_spend, jsonb_array_elements_text(imagegen_spend.tags) AS t(tag)"
        group = "t.tag"
    else:
        source, group = "imagegen_spend", GROUP_COLUMNS[group_by]
    where, params = _where(since, key_id)
    keys, head = group, ""
    if bucket_seconds is not None:
        # Buckets aligned on multiples of their length, as the SQLite store makes them.
        head = f"floor(time / {int(bucket_seconds)}) * {int(bucket_seconds)}, "
        keys = f"1, {group}"
    sql = (
        f"SELECT {head}{group}, COUNT(*), COUNT(*) FILTER (WHERE status <> 'OK'), "
        "COALESCE(SUM(images), 0), COALESCE(SUM(cost), 0), "
        "COUNT(*) FILTER (WHERE cost IS NULL), "
        "COALESCE(SUM(input_images), 0), COALESCE(SUM(input_bytes), 0) "
        f"FROM {source} WHERE {where} GROUP BY {keys}"
    )
    return sql, params
