"""The console's JSON API under /ui/api: what the pages show, read from the gateway.

Every route authenticates like the API (`Authorization: Bearer <key>`) and answers errors
in OpenAI's envelope. A virtual key sees its own spend, budget and requests only; keys
are managed through the LiteLLM-compatible /key/* routes, which require the master key.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from imagegen.errors import (
    FailedPreconditionError,
    RouterStateUnavailableError,
    invalid_field,
)
from imagegen.gateway import Gateway
from imagegen.http.console.headers import SECURITY_HEADERS
from imagegen.http.console.payloads import (
    bucket_payload,
    budget_payload,
    group_payload,
    health_payload,
    model_payload,
    row_payload,
)
from imagegen.http.console.viewer import Viewer, viewer_of
from imagegen.http.errors import admin_error
from imagegen.metadata import bearer_token
from imagegen.spend.hook import AccessHook, access_of
from imagegen.spend.rows import GROUP_BY, GroupBy

# The spend view's windows: hourly buckets up to two days, daily ones beyond.
_MAX_DAYS = 366
_HOURLY_UP_TO_DAYS = 2
_TOP_REQUESTS = 10
_RECENT_REQUESTS = 50
# Error rates on the live view count the spend log's rows of this many seconds.
HEALTH_WINDOW_SECONDS = 900

Route = Callable[[web.Request, Viewer], Awaitable[dict[str, Any]]]


class ConsoleApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.access: AccessHook | None = access_of(gateway.hooks)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ui/api/session", self._guard(self.session))
        app.router.add_get("/ui/api/models", self._guard(self.models))
        app.router.add_get("/ui/api/spend", self._guard(self.spend))
        app.router.add_get("/ui/api/live", self._guard(self.live))

    def _guard(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Authentication and the error boundary around one route."""

        async def guarded(request: web.Request) -> web.Response:
            try:
                token = bearer_token(request.headers.get("Authorization"))
                if token is None and route == self.session and self._keys_required():
                    # Not an error for the page: it asks who is signed in, and shows the form.
                    return _json({"role": None, "keys_required": True})
                return _json(await route(request, viewer_of(self.access, token)))
            except Exception as exc:
                body, status = admin_error(exc, request.path)
                return _json(body, status=status)

        return guarded

    def _keys_required(self) -> bool:
        return self.access is not None and self.access.access.keys_required

    def _spend_log(self) -> AccessHook:
        if self.access is None:
            raise FailedPreconditionError(
                "this gateway keeps no spend log (set general_settings in the config)"
            )
        return self.access

    # ------------------------------------------------------------------ routes

    async def session(self, request: web.Request, viewer: Viewer) -> dict[str, Any]:
        access = self.access
        return {
            "role": viewer.role,
            "alias": viewer.key.alias if viewer.key is not None else None,
            "keys_required": self._keys_required(),
            "spend_log": access is not None,
            "manage_keys": viewer.role == "master",
            "log_prompts": access is not None and access.access.log_prompts,
        }

    async def models(self, request: web.Request, viewer: Viewer) -> dict[str, Any]:
        settings = self.gateway.settings
        return {
            "default_model": settings.default_model,
            "models": [
                model_payload(d, len(settings.group(d.deployment.model_name)))
                for d in self.gateway.describe_models()
                if viewer.may_use(d.deployment.model_name)
            ],
        }

    async def spend(self, request: web.Request, viewer: Viewer) -> dict[str, Any]:
        access = self._spend_log()
        group_by = _group_by(request.query.get("group_by", "model"))
        days = _days(request.query.get("days", "7"))
        bucket = 3600 if days <= _HOURLY_UP_TO_DAYS else 86400
        now = time.time()
        since = (now // bucket + 1) * bucket - days * 86400
        key_id = viewer.key_id
        # Rows queued a moment ago belong in the answer, as QuerySpend waits for them.
        await access.writer.flush(timeout=5.0)
        store = access.store
        groups = await store.summary(group_by, since, key_id)
        timeline = await store.timeline(group_by, since, key_id, bucket)
        top = await store.requests(since, key_id, "cost", _TOP_REQUESTS)
        keys = [viewer.key] if viewer.key is not None else access.registry.keys()
        budgets = [
            budget_payload(key, await access.ledger.spent(key))
            for key in sorted(keys, key=lambda k: k.alias)
            if not key.revoked and key.max_budget is not None
        ]
        with_prompt = access.access.log_prompts
        return {
            "group_by": group_by,
            "since": since,
            "until": now,
            "bucket_seconds": bucket,
            "groups": [group_payload(g) for g in groups],
            "timeline": [bucket_payload(b) for b in timeline],
            "budgets": budgets,
            "top": [row_payload(r, with_prompt=with_prompt) for r in top],
        }

    async def live(self, request: web.Request, viewer: Viewer) -> dict[str, Any]:
        settings = self.gateway.settings
        deployments = [d for d in settings.deployments if viewer.may_use(d.model_name)]
        ids = [d.model_id for d in deployments]
        store = self.gateway.router.store
        try:
            loads = await store.loads(ids)
            cooldowns = await store.cooldowns(ids)
        except RedisError:
            # As the router answers a call it cannot route: 503, never a leaked exception.
            raise RouterStateUnavailableError(
                "the router's shared state (Redis) is unreachable"
            ) from None
        recent: list[dict[str, Any]] = []
        errors: dict[str, Any] = {}
        access = self.access
        if access is not None:
            await access.writer.flush(timeout=5.0)
            since = time.time() - HEALTH_WINDOW_SECONDS
            rows = await access.store.requests(None, viewer.key_id, "time", _RECENT_REQUESTS)
            with_prompt = access.access.log_prompts
            recent = [row_payload(r, with_prompt=with_prompt) for r in rows]
            groups = await access.store.summary("deployment", since, viewer.key_id)
            errors = {g.group: g for g in groups}
        return {
            "spend_log": access is not None,
            "window_seconds": HEALTH_WINDOW_SECONDS,
            "recent": recent,
            "deployments": [
                health_payload(
                    d.model_name,
                    d.model_id,
                    d.provider,
                    loads[d.model_id],
                    cooldowns.get(d.model_id),
                    errors.get(d.model_id),
                )
                for d in deployments
            ],
        }


def _group_by(value: str) -> GroupBy:
    for name in GROUP_BY:
        if name == value:
            return name
    raise invalid_field("group_by", f"group_by must be one of {', '.join(GROUP_BY)}")


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= _MAX_DAYS:
        raise invalid_field("days", f"days must be a whole number from 1 to {_MAX_DAYS}")
    return int(value)


def _json(body: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers=SECURITY_HEADERS,
    )
