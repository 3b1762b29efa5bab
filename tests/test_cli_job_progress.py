"""`imagegen generate` shows a provider job's status in its progress line."""

from __future__ import annotations

from datetime import timedelta

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.cli import _progress_note


def progress(**fields: object) -> pb.Progress:
    message = pb.Progress(**fields)  # type: ignore[arg-type]
    message.elapsed.FromTimedelta(timedelta(seconds=12))
    return message


def test_a_keepalive_shows_the_elapsed_time_only() -> None:
    assert _progress_note(progress()) == "generating… 12s"


def test_a_queued_job_shows_its_status_and_position() -> None:
    note = _progress_note(progress(job_status="in_queue", queue_position=3))
    assert note == "generating… 12s (in queue, 3 ahead)"


def test_a_running_job_shows_its_percentage() -> None:
    note = _progress_note(progress(job_status="processing", percent=40.0))
    assert note == "generating… 12s (processing, 40%)"
