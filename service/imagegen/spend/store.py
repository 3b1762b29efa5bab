"""What the spend log and the key store need from a database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from imagegen.keys.store import KeyStore
from imagegen.spend.logs import LogQuery
from imagegen.spend.rows import Grouping, RowOrder, SpendBucket, SpendGroup, SpendRow


class Store(KeyStore, Protocol):
    """Spend rows and virtual keys, in one database."""

    async def open(self) -> None:
        """Connect and create the tables if they are missing."""

    async def close(self) -> None: ...

    async def insert(self, rows: Sequence[SpendRow]) -> None:
        """Insert `rows` in one transaction: all of them are committed, or none."""

    async def charged_since(self, key_id: str, since: float) -> Decimal:
        """What the key's budget was charged by rows at or after `since`."""

    async def summary(
        self, group_by: Grouping, since: float | None, key_id: str | None
    ) -> list[SpendGroup]:
        """Totals per group, largest cost first (only `key_id`'s rows when given)."""

    async def timeline(
        self, group_by: Grouping, since: float | None, key_id: str | None, bucket_seconds: int
    ) -> list[SpendBucket]:
        """The summary's totals per group and per time bucket of `bucket_seconds`, oldest
        bucket first (only `key_id`'s rows when given)."""

    async def requests(
        self, since: float | None, key_id: str | None, order: RowOrder, limit: int
    ) -> list[SpendRow]:
        """Up to `limit` rows: the most expensive first ("cost", unknown costs last) or the
        newest first ("time"); only `key_id`'s rows when given."""

    async def logs(self, query: LogQuery) -> list[SpendRow]:
        """The rows `query` selects, newest first."""


def open_store(database_url: str | None, sqlite_path: str) -> Store:
    """PostgreSQL when a database URL is configured, else the SQLite file."""
    if database_url:
        from imagegen.spend.store_postgres import PostgresStore

        return PostgresStore(database_url)
    from imagegen.spend.store_sqlite import SqliteStore

    return SqliteStore(sqlite_path)
