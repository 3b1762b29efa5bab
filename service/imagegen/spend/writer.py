"""The spend log's batched writer: rows are queued on the request path, written off it.

`put` only appends to a list. A background task commits the rows in batches, one
transaction each: when `batch_size` rows wait, or `interval` after the first of them
(group commit: a burst of requests costs one transaction). A failed insert keeps the
rows and retries with backoff; should the task itself die, it is restarted over the
same pending rows: a database outage or a writer bug loses nothing while the process
lives. A row is *acknowledged* once its batch is committed (`flush` waits for that);
what is acknowledged survives any crash of the process. What a crash (SIGKILL, power
cut) can lose is only the rows not yet acknowledged: at most `interval` of them in
normal operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from imagegen.spend.rows import SpendRow
from imagegen.spend.store import Store

log = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 5.0


class SpendWriter:
    """Batches spend rows into `store`."""

    def __init__(self, store: Store, *, batch_size: int, interval: float) -> None:
        self.store = store
        self.batch_size = batch_size
        self.interval = interval
        self._pending: list[SpendRow] = []
        self._queued = 0
        self._committed = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pending(self) -> int:
        """Rows queued and not yet committed."""
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="imagegen-spend-writer")

    def put(self, row: SpendRow) -> None:
        """Queue `row` (never blocks, never raises)."""
        self._pending.append(row)
        self._queued += 1
        self._wake.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row queued so far is committed; False if `timeout` passed first."""
        target = self._queued
        self._wake.set()
        try:
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(lambda: self._committed >= target)
        except TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float = 10.0) -> None:
        """Flush (within `timeout`), then stop; rows still pending are reported, not hidden."""
        flushed = await self.flush(timeout)
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not flushed:
            log.error("spend log: %d rows could not be written before shutdown", self.pending)

    async def _supervise(self) -> None:
        while not self._closing:
            try:
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug in the loop: the pending rows are the writer's, not the task's.
                log.exception("spend writer failed; restarting it")
                await asyncio.sleep(0.1)

    async def _loop(self) -> None:
        failures = 0
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            if len(self._pending) < self.batch_size:
                await asyncio.sleep(self.interval)  # let the burst gather into one batch
            batch = self._pending[: self.batch_size]
            try:
                await self.store.insert(batch)
            except Exception as exc:
                failures += 1
                delay = min(_MAX_BACKOFF_SECONDS, 0.05 * 2**failures)
                log.warning(
                    "spend log: writing %d rows failed (%s); retrying in %.2f s",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            del self._pending[: len(batch)]
            async with self._progress:
                self._committed += len(batch)
                self._progress.notify_all()
