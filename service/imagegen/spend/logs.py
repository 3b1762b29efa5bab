"""Reading the spend log row by row (LiteLLM's /spend/logs), newest first.

Rows come back as SpendRow, read by the same function as every other spend query, with the
prompt left out whatever `log_prompts` stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagegen.spend.schema import SPEND_COLUMNS

# Every column but the prompt, which this route never returns (NULL in its place), so a row
# reads back as any other spend row.
_SELECTED = ", ".join("NULL" if c == "prompt" else c for c in SPEND_COLUMNS)


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
        f"SELECT {_SELECTED} FROM imagegen_spend{condition} "
        f"ORDER BY time DESC LIMIT {int(query.limit)}"
    )
    return sql, params
