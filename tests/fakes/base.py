"""Shared machinery for the fake provider servers.

A fake is a real aiohttp server on 127.0.0.1 that runs on the caller's event loop, so a test can
drive the gateway and the fake in one ``asyncio`` loop with no mocking. This module owns what
every fake needs and no provider defines:

* request recording (``fake.requests``, ``fake.received``),
* an artificial latency (``fake.delay``), applied first, to every API request,
* one-shot scripted failures (``fake.fail_next(...)``), served FIFO instead of normal handling
  (they still get the provider's standard headers, which the scripted headers override),
* the ``hang`` trigger word (the handler sleeps for an hour; for deadline/cancellation tests),
* disconnect detection (``fake.disconnects`` / ``fake.disconnected``), which relies on
  ``handler_cancellation=True``: aiohttp then cancels the handler task when the client drops
  the connection, and the middleware sees the ``CancelledError`` before re-raising it.

Routes whose name starts with ``AUX_ROUTE_PREFIX`` (for example the blob download route that
serves DALL·E ``url`` images) are plumbing rather than the provider API under test: they are
recorded in ``fake.aux_requests`` and are not subject to scripted failures, delay or ``hang``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AUX_ROUTE_PREFIX = "aux-"
HANG_SECONDS = 3600.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased; repeated headers joined with ", "
    json: Any  # parsed body, or None when the body is empty or not JSON
    body: bytes


@dataclass(frozen=True)
class ScriptedResponse:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


# Per-request state the middleware hands to handlers and to header hooks.
REQUEST_ID = web.RequestKey("fake_request_id", str)
STARTED_AT = web.RequestKey("fake_started_at", float)
RECORD = web.RequestKey("fake_record", RecordedRequest)


def has_word(text: str, word: str) -> bool:
    """True if ``word`` occurs in ``text`` as a whole word (case-insensitive).

    Whole-word matching keeps ordinary prompts ("a hanging lamp") from tripping triggers.
    Underscores count as word characters so ``insufficient_quota`` is one word.
    """
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text, re.I) is not None


def prompt_text(body: Any) -> str:
    """The prompt of a JSON body as one string (Xinference also accepts a list of prompts)."""
    if not isinstance(body, dict):
        return ""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return " ".join(p for p in prompt if isinstance(p, str))
    return ""


def _headers_dict(request: web.Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in request.headers.items():
        k = key.lower()
        out[k] = f"{out[k]}, {value}" if k in out else value
    return out


class FakeProvider:
    """Base class: owns the aiohttp application and the server lifecycle."""

    #: Name used by ``python -m tests.fakes`` and in log lines.
    name: ClassVar[str] = "fake"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.aux_requests: list[RecordedRequest] = []
        self.delay: float = 0.0
        self.disconnects: int = 0
        self.disconnected = asyncio.Event()
        #: Set whenever an API request has been recorded (clear it to wait for the next one).
        self.received = asyncio.Event()
        self._scripted: deque[ScriptedResponse] = deque()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._stopping = False
        self.app = web.Application(middlewares=[self._middleware])
        self.add_routes(self.app.router)

    # ----------------------------------------------------------------- subclass hooks

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the provider's routes."""

    def new_request_id(self) -> str:
        return ""

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        """Headers every API response carries (request ids, rate-limit counters, ...)."""
        return {}

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        """Render aiohttp's routing errors (unknown path, wrong method) the provider's way."""
        return web.json_response({"detail": exc.reason}, status=exc.status)

    # ----------------------------------------------------------------- public API

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | str,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Queue a one-shot response returned instead of normal handling (FIFO)."""
        self._scripted.append(ScriptedResponse(status, body, dict(headers or {}), content_type))

    def clear(self) -> None:
        """Forget recorded requests, queued failures and disconnect counts."""
        self.requests.clear()
        self.aux_requests.clear()
        self._scripted.clear()
        self.disconnects = 0
        self.disconnected.clear()
        self.received.clear()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            return self.base_url
        self._stopping = False
        # handler_cancellation: a client disconnect cancels the handler, which is how
        # disconnects are detected. A short shutdown_timeout keeps stop() fast when a test
        # leaves a request hanging.
        runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        # Cancelling in-flight handlers ourselves must not count as client disconnects.
        self._stopping = True
        for task in list(self._inflight):
            task.cancel()
        await runner.cleanup()
        self._base_url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ----------------------------------------------------------------- helpers for subclasses

    def request_id(self, request: web.Request) -> str:
        return request[REQUEST_ID]

    def recorded(self, request: web.Request) -> RecordedRequest:
        return request[RECORD]

    def apply_common_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """Add the provider's standard headers; headers already set on the response win."""
        for key, value in self.common_headers(request, response).items():
            if key not in response.headers:
                response.headers[key] = value

    # ----------------------------------------------------------------- internals

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        parsed: Any = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=_headers_dict(request),
            json=parsed,
            body=body,
        )
        request[RECORD] = record
        request[REQUEST_ID] = self.new_request_id()
        request[STARTED_AT] = time.monotonic()

        route_name = request.match_info.route.name or ""
        if route_name.startswith(AUX_ROUTE_PREFIX):
            self.aux_requests.append(record)
            return await handler(request)
        self.requests.append(record)
        self.received.set()

        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            response = await self._respond(request, handler, record)
        except (asyncio.CancelledError, ConnectionResetError):
            # CancelledError: the client went away and aiohttp cancelled us.
            # ConnectionResetError: the client went away while we were streaming.
            if not self._stopping:
                self.disconnects += 1
                self.disconnected.set()
            raise
        finally:
            if task is not None:
                self._inflight.discard(task)
        if not response.prepared:
            self.apply_common_headers(request, response)
        return response

    async def _respond(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self._scripted:
            return self._scripted_response(self._scripted.popleft())
        if has_word(prompt_text(record.json), "hang"):
            await asyncio.sleep(HANG_SECONDS)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            # Only aiohttp's own routing errors get here; fakes return their error bodies.
            return self.http_error(request, exc)

    @staticmethod
    def _scripted_response(item: ScriptedResponse) -> web.Response:
        text = item.body if isinstance(item.body, str) else json.dumps(item.body)
        # Content-Type goes in as a raw header so callers may include parameters (charset).
        headers = {**item.headers, "Content-Type": item.content_type}
        return web.Response(status=item.status, body=text.encode(), headers=headers)
