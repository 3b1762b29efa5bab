"""Logging callbacks: where the per-request payload goes besides the log line.

A callback receives the same payload as the `imagegen.requests` log line (a dict of
JSON values: no prompt unless `log_prompts`, never image data or secrets), once per
request, on success and on failure. Callbacks never run on the request path: the
request hands the payload to a bounded queue per callback and returns; a worker task
delivers it. A slow or hanging callback fills its own queue, after which new payloads
for it are dropped and counted (`imagegen.callback.dropped`) — requests never wait.

Writing one (configured as `type: python, class: "pkg.mod:MyCallback", options: {...}`;
the options are passed as keyword arguments):

    class MyCallback(Callback):
        async def log_success(self, payload): ...
        async def log_failure(self, payload): ...

Override `log_batch` instead to receive several payloads at once (set `batch_size`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import logging.handlers
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

Payload = Mapping[str, Any]

# A warning about drops at most this often per callback (a full queue means thousands).
_DROP_WARNING_INTERVAL = 10.0
# How long a shutdown waits for queued payloads to be delivered.
_DRAIN_SECONDS = 5.0


class Callback:
    """Receives the payload of every finished request (see the module docstring)."""

    name: str = "callback"
    batch_size: int = 1
    """Deliver up to this many payloads per `log_batch` call."""
    flush_interval: float = 0.0
    """With batch_size > 1: wait at most this long for a batch to fill."""

    async def start(self) -> None:
        """Called once before the first payload."""

    async def aclose(self) -> None:
        """Called once at shutdown, after the last payload."""

    async def log_success(self, payload: Payload) -> None:
        """A request succeeded (payload["status"] == "OK")."""

    async def log_failure(self, payload: Payload) -> None:
        """A request failed (payload["status"] is the gRPC code, "error_reason" says why)."""

    async def log_batch(self, payloads: Sequence[Payload]) -> None:
        """Several payloads at once; by default each goes to log_success / log_failure."""
        for payload in payloads:
            if payload.get("status") == "OK":
                await self.log_success(payload)
            else:
                await self.log_failure(payload)


def dumps(payload: Payload) -> str:
    """One compact JSON line."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)


class StdoutCallback(Callback):
    """One JSON line per request on standard output (for container log collectors)."""

    name = "stdout"

    async def log_batch(self, payloads: Sequence[Payload]) -> None:
        sys.stdout.write("".join(dumps(p) + "\n" for p in payloads))
        sys.stdout.flush()


class FileCallback(Callback):
    """JSON lines in a file, rotated at `max_bytes` keeping `backup_count` old files."""

    name = "file"
    batch_size = 100

    def __init__(self, path: str, max_bytes: int = 10 * 1024 * 1024, backup_count: int = 5):
        self.path = Path(path)
        self._handler: logging.handlers.RotatingFileHandler | None = None
        self._max_bytes = max_bytes
        self._backup_count = backup_count

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=self._max_bytes, backupCount=self._backup_count, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._handler = handler

    async def log_batch(self, payloads: Sequence[Payload]) -> None:
        handler = self._handler
        if handler is None:
            return
        records = [_record(dumps(p)) for p in payloads]
        # File writes block: keep them off the event loop.
        await asyncio.to_thread(_emit_all, handler, records)

    async def aclose(self) -> None:
        if self._handler is not None:
            self._handler.close()
            self._handler = None


def _record(line: str) -> logging.LogRecord:
    return logging.LogRecord("imagegen.callback.file", logging.INFO, "", 0, line, None, None)


def _emit_all(handler: logging.Handler, records: list[logging.LogRecord]) -> None:
    for record in records:
        handler.handle(record)


class WebhookError(Exception):
    """A webhook POST failed after its retries."""


class WebhookCallback(Callback):
    """POSTs batches of payloads as a JSON array, retrying failures with backoff."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 50,
        flush_interval_seconds: float = 2.0,
        max_retries: int = 3,
        retry_backoff_seconds: float = 0.5,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.batch_size = batch_size
        self.flush_interval = flush_interval_seconds
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff_seconds
        self.timeout = timeout_seconds
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def log_batch(self, payloads: Sequence[Payload]) -> None:
        client = self._client
        if client is None:
            return
        body = ("[" + ",".join(dumps(p) for p in payloads) + "]").encode()
        headers = {**self.headers, "content-type": "application/json"}
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            else:
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the receiver refuses this batch: retrying will not help
            log.info("webhook POST of %d payloads failed (%s)", len(payloads), problem)
        # The URL is not logged: webhook URLs often carry a token.
        raise WebhookError(f"webhook lost {len(payloads)} payloads ({problem})")


BUILT_IN: dict[str, Callable[..., Callback]] = {
    "stdout": StdoutCallback,
    "file": FileCallback,
    "webhook": WebhookCallback,
}


def load_callback_class(path: str) -> type[Callback]:
    """The Callback subclass at "package.module:ClassName"; ValueError if there is none."""
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} ({exc.msg})") from None
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"module {module_name!r} has no {attribute!r}")
    if not (isinstance(target, type) and issubclass(target, Callback)):
        raise ValueError(f"{path} is not a subclass of imagegen.telemetry.callbacks.Callback")
    return target


class CallbackRunner:
    """Delivers payloads to one callback from a bounded queue, off the request path."""

    def __init__(
        self,
        callback: Callback,
        queue_size: int,
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        self.callback = callback
        self.dropped = 0
        self.failed = 0
        self._queue: asyncio.Queue[Payload] = asyncio.Queue(queue_size)
        self._on_drop = on_drop
        self._task: asyncio.Task[None] | None = None
        self._last_warning = 0.0
        self.drain_seconds = _DRAIN_SECONDS
        """How long a shutdown waits for queued payloads to be delivered."""

    async def start(self) -> None:
        await self.callback.start()
        self._task = asyncio.create_task(self._work(), name=f"callback-{self.callback.name}")

    def submit(self, payload: Payload) -> None:
        """Queue `payload`; never waits (a full queue drops it, counted)."""
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop(self.callback.name)
            now = time.monotonic()
            if now - self._last_warning >= _DROP_WARNING_INTERVAL:
                self._last_warning = now
                log.warning(
                    "logging callback %s is falling behind: %d payloads dropped so far",
                    self.callback.name,
                    self.dropped,
                )

    async def drain(self, timeout: float) -> bool:
        """Wait until every queued payload was handed to the callback; False on timeout."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            await self.drain(self.drain_seconds)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.callback.aclose()

    async def _work(self) -> None:
        callback = self.callback
        while True:
            batch = [await self._queue.get()]
            if callback.batch_size > 1:
                await self._fill(batch, callback.batch_size, callback.flush_interval)
            try:
                await callback.log_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed += len(batch)
                log.exception("logging callback %s failed", callback.name)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _fill(self, batch: list[Payload], size: int, interval: float) -> None:
        deadline = time.monotonic() + interval
        while len(batch) < size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                return
