"""The private event loop behind the blocking SDK calls.

Sync calls from any thread run on one loop on a daemon thread, so that they share one
connection pool. At interpreter exit the loop is wound down like `asyncio.run` ends a
loop: pending tasks are cancelled and awaited (a gateway's closer then closes its pool),
then the loop stops and is closed — so a script that made one call exits without
"Task was destroyed but it is pending!" on stderr.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# How long exit may wait for in-flight work to be cancelled and pools closed.
_SHUTDOWN_SECONDS = 5.0


class LoopThread:
    """A private event loop on a daemon thread, started on first use, ended at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the private loop and block until it finishes."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="imagegen-sdk", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
                atexit.register(self.shutdown)
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def shutdown(self) -> None:
        """Cancel what is pending, let it finish, stop and close the loop (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        atexit.unregister(self.shutdown)
        done = asyncio.run_coroutine_threadsafe(_cancel_pending(), loop)
        # A stuck close must not hang the interpreter's exit: give up after a bound.
        with contextlib.suppress(concurrent.futures.TimeoutError):
            done.result(timeout=_SHUTDOWN_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_SHUTDOWN_SECONDS)
        if not thread.is_alive():
            loop.close()


async def _cancel_pending() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


sync_loop = LoopThread()
