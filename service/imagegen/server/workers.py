"""`server_settings.workers: N`: N serving processes on the same ports.

One Python process runs one event loop on one core; with several cores, N processes each
run the whole server (gRPC door, HTTP door, their own Gateway and connection pool) and bind
the same ports with SO_REUSEPORT, so the kernel spreads incoming connections among them.
This parent only starts them, forwards SIGTERM/SIGINT, and stops them all if one dies:
a server missing a worker would serve at a fraction of its capacity without saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from imagegen.config import Settings

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class WorkerFailedError(RuntimeError):
    """A worker process exited while the server was meant to be running."""


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the parent dies, even by SIGKILL (no orphans)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _worker(
    settings: Settings, host: str | None, port: int, http_port: int | None, parent: int
) -> None:
    from imagegen.server.app import serve

    _die_with_parent()
    if os.getppid() != parent:
        return  # the parent died before the request above took effect
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, host=host, port=port, http_port=http_port))


def serve_workers(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    http_port: int | None = None,
) -> None:
    """Run `settings.server.workers` server processes until SIGTERM or SIGINT.

    The ports must be fixed: with port 0 each process would pick a port of its own.
    Raises WorkerFailedError when a worker exits on its own (it could not listen, or crashed).
    """
    count = settings.server.workers
    grpc_port = settings.server.port if port is None else port
    door_port = settings.server.http_port if http_port is None else http_port
    if grpc_port == 0 or door_port == 0:
        raise ValueError("workers > 1 need fixed ports (port 0 would give each its own port)")
    # spawn, not fork: grpc's threads and an event loop do not survive a fork.
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = [
        context.Process(
            target=_worker,
            args=(settings, host, grpc_port, door_port, os.getpid()),
            name=f"imagegen-worker-{index}",
        )
        for index in range(count)
    ]
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.terminate()  # SIGTERM: the worker shuts down gracefully

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for worker in workers:
            worker.start()
        log.info("imagegen started %d worker processes on port %d", count, grpc_port)
        running = list(workers)
        while running:
            ended = wait([worker.sentinel for worker in running])
            for worker in [w for w in running if w.sentinel in ended]:
                worker.join()
                running.remove(worker)
                if not stopping:
                    log.error("worker %s exited with code %s", worker.name, worker.exitcode)
                    on_signal(signal.SIGTERM, None)
                    for other in running:
                        other.join(settings.server.grace_period_seconds + 5)
                    raise WorkerFailedError(
                        f"worker {worker.name} exited with code {worker.exitcode}"
                    )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for worker in workers:
            if worker.exitcode is None and worker.pid is not None:
                worker.kill()
                worker.join()
