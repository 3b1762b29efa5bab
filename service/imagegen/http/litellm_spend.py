"""LiteLLM's GET /spend/logs on imagegen's spend log (SQLite or PostgreSQL).

Query parameters as LiteLLM's: `api_key` (the key or its token), `user_id`, `request_id`,
`start_date` and `end_date` (YYYY-MM-DD, UTC, the end day included) and `summarize`.
Without dates, or with `summarize=false`, the answer is a list of rows shaped like
LiteLLM's spend log rows; with both dates and `summarize` left true it is LiteLLM's
per-day totals (`spend`, `users`, `models`, and one entry per key token).

Master key only, like the key routes. Differences a script might notice, each on purpose:
a row's `spend` is null when its cost is unknown (never a silent 0; the amount charged to
the key's budget is in `metadata.charged`); filters given together all apply; more than
MAX_ROWS matching rows is a 400 asking for a narrower query rather than a huge answer.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from imagegen.errors import invalid_field
from imagegen.http.litellm_keys import master_key_route
from imagegen.keys.model import hash_key
from imagegen.spend.hook import AccessHook
from imagegen.spend.logs import LogQuery
from imagegen.spend.rows import SpendRow

MAX_ROWS = 10_000
_TOKEN = re.compile(r"[0-9a-f]{64}")
_QUERY = frozenset({"api_key", "user_id", "request_id", "start_date", "end_date", "summarize"})


def add_litellm_spend_routes(app: web.Application, access: AccessHook | None) -> None:
    """Register GET /spend/logs on `app`, answering from `access`'s store."""
    app.router.add_get("/spend/logs", master_key_route(access, _spend_logs))


async def _spend_logs(request: web.Request, access: AccessHook) -> Any:
    unknown = sorted(set(request.query) - _QUERY)
    if unknown:
        raise invalid_field(
            unknown[0], f"{unknown[0]} is not a /spend/logs parameter ({', '.join(sorted(_QUERY))})"
        )
    start = _date(request, "start_date")
    end = _date(request, "end_date")
    if (start is None) != (end is None):
        raise invalid_field("end_date", "give start_date and end_date together")
    if start is not None and end is not None and end < start:
        raise invalid_field("end_date", "end_date is before start_date")
    summarize = _flag(request, "summarize", default=True)
    api_key = request.query.get("api_key") or None
    query = LogQuery(
        key_id=None if api_key is None else _key_id(api_key),
        user=request.query.get("user_id") or None,
        request_id=request.query.get("request_id") or None,
        since=None if start is None else _epoch(start),
        until=None if end is None else _epoch(end + timedelta(days=1)),
        limit=MAX_ROWS + 1,
    )
    await access.writer.flush(timeout=5.0)  # rows of requests already answered are listed
    rows = await access.store.logs(query)
    if len(rows) > MAX_ROWS:
        raise invalid_field(
            "start_date",
            f"more than {MAX_ROWS} rows match: narrow the query (start_date/end_date, "
            "api_key, user_id)",
        )
    every = access.registry.keys()  # a list of KeySpec, not a mapping
    tokens = {key.key_id: key.key_hash for key in every}
    if start is not None and end is not None and summarize:
        return _per_day(rows, tokens, start, end)
    return [_row(row, tokens) for row in rows]


def _row(row: SpendRow, tokens: dict[str, str]) -> dict[str, Any]:
    start = datetime.fromtimestamp(row.time, UTC)
    token = tokens.get(row.key_id, row.key_id)
    metadata: dict[str, Any] = {
        "user_api_key": token,
        "user_api_key_alias": row.key_alias or None,
        "n": row.n,
        "images": row.images,
        "size": row.size or None,
        "quality": row.quality or None,
        "attempts": row.attempts,
        "door": row.door,
        "charged": str(row.charged),
        "spend_unknown": row.cost is None,
    }
    if row.status != "OK":
        metadata["error_reason"] = row.status
    return {
        "request_id": row.request_id,
        "api_key": token,
        "spend": None if row.cost is None else float(row.cost),
        "total_tokens": row.input_tokens + row.output_tokens,
        "prompt_tokens": row.input_tokens,
        "completion_tokens": row.output_tokens,
        "startTime": start.isoformat(),
        "endTime": (start + timedelta(milliseconds=row.latency_ms)).isoformat(),
        "model": row.model_group,
        "model_group": row.model_group,
        "model_id": row.deployment or None,
        "custom_llm_provider": row.provider or None,
        "user": row.user,
        "request_tags": list(row.tags),
        "status": "success" if row.status == "OK" else "failure",
        "metadata": metadata,
    }


def _per_day(
    rows: list[SpendRow], tokens: dict[str, str], start: date, end: date
) -> list[dict[str, Any]]:
    days: dict[date, dict[str, Any]] = {}
    day = start
    while day <= end:
        days[day] = {"startTime": day.isoformat(), "spend": Decimal(0), "users": {}, "models": {}}
        day += timedelta(days=1)
    unknown: dict[date, int] = {}
    for row in rows:
        day = datetime.fromtimestamp(row.time, UTC).date()
        entry = days[day]
        if row.cost is None:
            unknown[day] = unknown.get(day, 0) + 1
            continue
        token = tokens.get(row.key_id, row.key_id)
        entry["spend"] += row.cost
        entry[token] = entry.get(token, Decimal(0)) + row.cost
        entry["users"][row.user] = entry["users"].get(row.user, Decimal(0)) + row.cost
        models = entry["models"]
        models[row.model_group] = models.get(row.model_group, Decimal(0)) + row.cost
    answer = []
    for day, entry in days.items():
        # Requests of unknown cost are counted, not summed as 0.
        answer.append({**_floats(entry), "unknown_cost_requests": unknown.get(day, 0)})
    return answer


def _floats(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def _key_id(api_key: str) -> str:
    # LiteLLM accepts the key or its token (the hash) here; so does imagegen.
    token = api_key if _TOKEN.fullmatch(api_key) else hash_key(api_key)
    return token[:16]


def _date(request: web.Request, name: str) -> date | None:
    text = request.query.get(name)
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError:
        raise invalid_field(name, f"{name} must be a date: YYYY-MM-DD") from None


def _epoch(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _flag(request: web.Request, name: str, *, default: bool) -> bool:
    text = request.query.get(name)
    if text is None:
        return default
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise invalid_field(name, f"{name} must be true or false")
