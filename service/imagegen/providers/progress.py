"""Progress of a provider's long-running job, relayed to whoever is streaming the request.

A submit-then-poll adapter learns the job's status (queued at position 3, running, 40 %)
while the gateway is blocked in `Provider.generate`. Rather than thread a callback through
the router and every adapter signature, the streaming door installs a sink in a context
variable for the task that runs the generation; tasks the router starts inherit it. With no
sink installed (a unary call), reports are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobProgress:
    """What a provider said about a job that is not finished yet."""

    status: str
    """The provider's own word, normalised to lower case ("in_queue", "processing")."""
    queue_position: int | None = None
    """Jobs ahead of this one, where the provider reports it."""
    percent: float | None = None
    """0..100, where the provider reports it."""


ProgressSink = Callable[[JobProgress], None]

_SINK: ContextVar[ProgressSink | None] = ContextVar("imagegen_job_progress_sink", default=None)


def report_progress(progress: JobProgress) -> None:
    """Hand `progress` to the current request's sink, if it has one."""
    sink = _SINK.get()
    if sink is not None:
        sink(progress)


@contextmanager
def progress_sink(sink: ProgressSink) -> Iterator[None]:
    """Send the job progress of everything run in this context to `sink`."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
