"""LiteLLM's key-management routes (/key/generate, /key/info, /key/list, /key/update,
/key/delete), in LiteLLM's request and response shapes, on imagegen's key store.

An operator's scripts written for a LiteLLM proxy keep working: the master key in
`Authorization: Bearer` (or LiteLLM's `x-litellm-api-key`), the same JSON fields. A
field imagegen's keys cannot honour (tokens per minute, an expiry, teams) is refused with
a 400 naming it, never dropped. Errors are OpenAI's envelope, like every route here.

imagegen keys are identified by alias; LiteLLM's `token` (the key's hash) is accepted
wherever LiteLLM accepts it, and so is the secret itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

from imagegen.errors import (
    FailedPreconditionError,
    NotFoundError,
    invalid_field,
)
from imagegen.http.errors import admin_error
from imagegen.keys.model import BudgetPeriod, KeySpec, hash_key, new_key
from imagegen.metadata import bearer_token
from imagegen.spend.hook import AccessHook

log = logging.getLogger(__name__)

# LiteLLM's budget_duration strings that are one of imagegen's budget periods.
_PERIODS: dict[str, BudgetPeriod] = {"1d": "daily", "24h": "daily", "1mo": "monthly"}
_PERIOD_NAMES: dict[BudgetPeriod | None, str | None] = {
    "daily": "1d",
    "monthly": "1mo",
    None: None,
}
# /key/generate fields and how they map; anything else is refused.
_GENERATE_FIELDS = frozenset(
    {
        "key_alias",
        "models",
        "max_budget",
        "budget_duration",
        "rpm_limit",
        "max_parallel_requests",
        "tags",
        "metadata",
    }
)
# Fields LiteLLM callers often send empty: accepted only when they ask for nothing.
_EMPTY_OK = frozenset({"duration", "tpm_limit", "team_id", "user_id", "aliases"})
# /key/update: the key to change, and the generate fields it may change. As in LiteLLM, a
# field sent as null is left as it is.
_UPDATE_FIELDS = (_GENERATE_FIELDS - {"metadata"}) | {"key", "blocked"}
_MAX_PAGE_SIZE = 100

Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_litellm_key_routes(app: web.Application, access: AccessHook | None) -> None:
    """Register the routes on `app`; they answer from `access` (None: no keys configured)."""
    routes = _KeyRoutes(access)
    app.router.add_post("/key/generate", routes.guard(routes.generate))
    app.router.add_get("/key/info", routes.guard(routes.info))
    app.router.add_get("/key/list", routes.guard(routes.list_keys))
    app.router.add_post("/key/update", routes.guard(routes.update))
    app.router.add_post("/key/delete", routes.guard(routes.delete))


def master_key_route(
    access: AccessHook | None,
    handler: Callable[[web.Request, AccessHook], Awaitable[Any]],
) -> Handler:
    """`handler` behind the master-key check and the JSON error boundary of these routes."""
    return _KeyRoutes(access).guard(handler)


class _KeyRoutes:
    def __init__(self, access: AccessHook | None) -> None:
        self.access = access

    def guard(self, handler: Callable[[web.Request, AccessHook], Awaitable[Any]]) -> Handler:
        """The master-key check and the error boundary around one route."""

        async def guarded(request: web.Request) -> web.Response:
            try:
                access = self._admin(request)
                return _json(await handler(request, access))
            except Exception as exc:
                body, status = admin_error(exc, request.path)
                return _json(body, status=status)

        return guarded

    def _admin(self, request: web.Request) -> AccessHook:
        if self.access is None or self.access.access.master_key is None:
            raise FailedPreconditionError(
                "key management needs general_settings.master_key in the config"
            )
        token = bearer_token(request.headers.get("Authorization"))
        token = token or request.headers.get("x-litellm-api-key") or None
        self.access.require_master(token)
        if token is None:  # keys not required, yet key management always needs the master key
            raise FailedPreconditionError("send the master key: 'Authorization: Bearer <key>'")
        return self.access

    async def generate(self, request: web.Request, access: AccessHook) -> dict[str, Any]:
        body = await _body(request)
        template = _template(body)
        secret, key = await access.registry.create(template)
        log.info("created key alias=%s key_id=%s (LiteLLM route)", key.alias, key.key_id)
        return {"key": secret, **await _info(access, key)}

    async def info(self, request: web.Request, access: AccessHook) -> dict[str, Any]:
        wanted = request.query.get("key")
        if not wanted:
            raise invalid_field("key", "give ?key=<key or its token>")
        key = _find(access, wanted)
        return {"key": wanted, "info": await _info(access, key)}

    async def list_keys(self, request: web.Request, access: AccessHook) -> dict[str, Any]:
        page = _int_query(request, "page", 1)
        size = min(_int_query(request, "size", 10), _MAX_PAGE_SIZE)
        full = request.query.get("return_full_object", "false").lower() == "true"
        alias = request.query.get("key_alias")
        every = access.registry.keys()
        keys = [k for k in every if not k.revoked]
        if alias is not None:
            keys = [k for k in keys if k.alias == alias]
        keys.sort(key=lambda k: (k.created_at, k.alias))
        chosen = keys[(page - 1) * size : page * size]
        listed: list[Any] = (
            [await _info(access, k) for k in chosen] if full else [k.key_hash for k in chosen]
        )
        return {
            "keys": listed,
            "total_count": len(keys),
            "current_page": page,
            "total_pages": max(1, math.ceil(len(keys) / size)),
        }

    async def update(self, request: web.Request, access: AccessHook) -> dict[str, Any]:
        body = await _body(request)
        wanted = body.get("key")
        if not isinstance(wanted, str) or not wanted:
            raise invalid_field("key", "give key: the key to update (its secret or token)")
        key = _find(access, wanted)
        updated = await access.registry.update(_updated(key, body))
        log.info("updated key alias=%s key_id=%s (LiteLLM route)", updated.alias, updated.key_id)
        return {"key": wanted, **await _info(access, updated)}

    async def delete(self, request: web.Request, access: AccessHook) -> dict[str, Any]:
        body = await _body(request)
        unknown = set(body) - {"keys", "key_aliases"}
        if unknown:
            field = sorted(unknown)[0]
            raise invalid_field(field, f"{field} is not supported here: give keys or key_aliases")
        keys = _strings(body, "keys")
        aliases = _strings(body, "key_aliases")
        if not keys and not aliases:
            raise invalid_field("keys", "give keys (or key_aliases) to delete")
        targets = [_find(access, k) for k in keys] + [_by_alias(access, a) for a in aliases]
        for key in targets:
            await access.registry.revoke(key.alias)
            log.info("revoked key alias=%s key_id=%s (LiteLLM route)", key.alias, key.key_id)
        return {"deleted_keys": keys + aliases}


def _updated(key: KeySpec, body: dict[str, Any]) -> KeySpec:
    """`key` with the fields `body` sets (LiteLLM's /key/update body)."""
    for field, value in body.items():
        if field in _UPDATE_FIELDS or value is None:
            continue
        if field in _EMPTY_OK | {"metadata"} and value in ("", [], {}):
            continue
        raise invalid_field(
            field,
            f"{field} is not supported by imagegen's keys (updatable: "
            f"{', '.join(sorted(_UPDATE_FIELDS - {'key'}))})",
        )
    if body.get("blocked") is True:
        raise invalid_field(
            "blocked",
            "blocked: true is not supported (imagegen revokes keys for good): use /key/delete",
        )
    if body.get("blocked") not in (None, False):
        raise invalid_field("blocked", "blocked must be true or false")
    changes: dict[str, Any] = {}
    alias = body.get("key_alias")
    if alias is not None:
        if not isinstance(alias, str) or not alias.strip() or len(alias) > 128:
            raise invalid_field("key_alias", "key_alias must be a string of 1 to 128 characters")
        changes["alias"] = alias.strip()
    if body.get("models") is not None:
        changes["models"] = tuple(_strings(body, "models"))
    if body.get("tags") is not None:
        changes["tags"] = tuple(_strings(body, "tags"))
    if body.get("rpm_limit") is not None:
        changes["rpm"] = _limit(body["rpm_limit"], "rpm_limit")
    if body.get("max_parallel_requests") is not None:
        changes["max_parallel_requests"] = _limit(
            body["max_parallel_requests"], "max_parallel_requests"
        )
    if body.get("max_budget") is not None:
        changes["max_budget"] = _budget(body["max_budget"])
    duration = body.get("budget_duration")
    if duration is not None:
        if duration not in _PERIODS:
            raise invalid_field(
                "budget_duration",
                "budget_duration must be 1d (daily) or 1mo (monthly): imagegen's budget "
                "periods are calendar days and months",
            )
        if changes.get("max_budget", key.max_budget) is None:
            raise invalid_field("budget_duration", "a budget_duration needs a max_budget")
        changes["budget_period"] = _PERIODS[duration]
    return replace(key, **changes)


def _template(body: dict[str, Any]) -> KeySpec:
    for field, value in body.items():
        if field in _GENERATE_FIELDS:
            continue
        if field in _EMPTY_OK and value in (None, "", [], {}):
            continue
        raise invalid_field(
            field,
            f"{field} is not supported by imagegen's keys (supported: "
            f"{', '.join(sorted(_GENERATE_FIELDS))})",
        )
    metadata = body.get("metadata")
    if metadata not in (None, {}):
        raise invalid_field("metadata", "metadata is not kept by imagegen's keys; use tags")
    alias = body.get("key_alias")
    if alias is None:
        # LiteLLM makes the alias optional; imagegen keys are managed by alias.
        alias = "key-" + new_key()[-12:]
    if not isinstance(alias, str) or not alias.strip() or len(alias) > 128:
        raise invalid_field("key_alias", "key_alias must be a string of 1 to 128 characters")
    budget = _budget(body.get("max_budget"))
    duration = body.get("budget_duration")
    period: BudgetPeriod | None = None
    if duration is not None:
        if duration not in _PERIODS:
            raise invalid_field(
                "budget_duration",
                "budget_duration must be 1d (daily) or 1mo (monthly): imagegen's budget "
                "periods are calendar days and months",
            )
        if budget is None:
            raise invalid_field("budget_duration", "a budget_duration needs a max_budget")
        period = _PERIODS[duration]
    return KeySpec(
        key_hash="",
        alias=alias.strip(),
        models=tuple(_strings(body, "models")),
        rpm=_limit(body.get("rpm_limit"), "rpm_limit"),
        max_parallel_requests=_limit(body.get("max_parallel_requests"), "max_parallel_requests"),
        max_budget=budget,
        budget_period=period,
        tags=tuple(_strings(body, "tags")),
    )


async def _info(access: AccessHook, key: KeySpec) -> dict[str, Any]:
    spend = await access.ledger.spent(key)
    return {
        "token": key.key_hash,
        "key_name": f"{key.alias}",
        "key_alias": key.alias,
        "spend": float(spend),
        "max_budget": None if key.max_budget is None else float(key.max_budget),
        "budget_duration": _PERIOD_NAMES[key.budget_period],
        "models": list(key.models),
        "rpm_limit": key.rpm,
        "tpm_limit": None,
        "max_parallel_requests": key.max_parallel_requests,
        "tags": list(key.tags),
        "expires": None,
        "blocked": key.revoked,
        "created_at": key.created_at or None,
        "metadata": {},
        "user_id": None,
        "team_id": None,
    }


def _find(access: AccessHook, wanted: str) -> KeySpec:
    # The secret, or LiteLLM's `token` (our hash), as LiteLLM accepts both.
    every = access.registry.keys()
    for candidate in (hash_key(wanted), wanted):
        for key in every:
            if key.key_hash == candidate and not key.revoked:
                return key
    raise NotFoundError("no such key", metadata={"key": "unknown"})


def _by_alias(access: AccessHook, alias: str) -> KeySpec:
    key = access.registry.by_alias(alias)
    if key is None or key.revoked:
        raise NotFoundError(f"no key with alias {alias[:128]!r}", metadata={"alias": alias[:128]})
    return key


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise invalid_field("body", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise invalid_field("body", "the body must be a JSON object")
    return body


def _strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_field(field, f"{field} must be a list of strings")
    return list(value)


def _budget(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid_field("max_budget", "max_budget must be a non-negative number")
    try:
        budget = Decimal(str(value))
    except InvalidOperation:
        raise invalid_field("max_budget", "max_budget must be a non-negative number") from None
    if not budget.is_finite() or budget < 0:
        raise invalid_field("max_budget", "max_budget must be a non-negative number")
    return budget


def _limit(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_field(field, f"{field} must be a non-negative integer")
    return value or None


def _int_query(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise invalid_field(name, f"{name} must be a positive integer")
    return int(text)


def _json(body: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
