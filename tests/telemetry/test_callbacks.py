"""Logging callbacks through a running server: webhook (batches, retries, never blocks),
rotating file, stdout, and a custom class configured by import path."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from imagegen.telemetry.callbacks import Callback, Payload, WebhookCallback
from tests.fakes.openai import OpenAIFake
from tests.telemetry.conftest import Observed, ObserveFactory, openai_config


class Receiver:
    """A webhook endpoint on loopback: records POSTs; can fail or hang on demand."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first = 0
        self.hang = False
        self.got = asyncio.Event()
        app = web.Application()
        app.router.add_post("/ingest", self.ingest)
        # A hanging handler must not hold the shutdown for aiohttp's default minute.
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        self.url = ""

    async def ingest(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if self.hang:
            await asyncio.sleep(3600)
        body = await request.json()
        self.bodies.append(body)
        if self.fail_first:
            self.fail_first -= 1
            return web.Response(status=503)
        self.got.set()
        return web.Response(status=204)

    async def __aenter__(self) -> Receiver:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/ingest"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


async def generate(observed: Observed, prompt: str = "a fox") -> str:
    call = observed.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt=prompt, model="gpt-image-1")
    )
    await call
    return str(dict(await call.trailing_metadata())["x-imagegen-request-id"])


async def test_webhook_batches_and_retries_a_failed_post(
    observe: ObserveFactory, fake: OpenAIFake, receiver: Receiver
) -> None:
    webhook = {
        "type": "webhook",
        "url": receiver.url,
        "headers": {"Authorization": "Bearer hook-token"},
        "batch_size": 2,
        "flush_interval_seconds": 5,
        "retry_backoff_seconds": 0.01,
    }
    observed = await observe(openai_config(fake, telemetry_settings={"callbacks": [webhook]}))
    receiver.fail_first = 1
    ids = [await generate(observed), await generate(observed)]
    await asyncio.wait_for(receiver.got.wait(), 5)
    # The first POST failed (503) and the same batch was sent again.
    assert len(receiver.bodies) == 2
    assert receiver.bodies[0] == receiver.bodies[1]
    assert [p["request_id"] for p in receiver.bodies[1]] == ids
    assert all(p["status"] == "OK" for p in receiver.bodies[1])
    assert receiver.headers[1]["Authorization"] == "Bearer hook-token"
    assert receiver.headers[1]["Content-Type"] == "application/json"


async def test_a_hanging_webhook_never_blocks_requests(
    observe: ObserveFactory, fake: OpenAIFake, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.hang = True
    webhook = {"type": "webhook", "url": receiver.url, "queue_size": 2, "timeout_seconds": 60}
    observed = await observe(openai_config(fake, telemetry_settings={"callbacks": [webhook]}))
    runner = next(r for r in observed.telemetry.runners if isinstance(r.callback, WebhookCallback))
    runner.drain_seconds = 0.1
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="imagegen.telemetry"):
        await generate(observed)
        for _ in range(200):  # the worker took the first payload and hangs on its POST
            if receiver.headers:
                break
            await asyncio.sleep(0.01)
        for _ in range(4):
            await generate(observed)
    assert time.monotonic() - began < 5
    # One payload is stuck in the POST, two wait in the queue, two were dropped.
    assert runner.dropped == 2
    assert observed.point("imagegen.callback.dropped", callback="webhook").value == 2
    assert any("falling behind" in r.getMessage() for r in caplog.records)


async def test_rotating_file_callback(
    observe: ObserveFactory, fake: OpenAIFake, tmp_path: Path
) -> None:
    path = tmp_path / "logs" / "requests.jsonl"
    sink = {"type": "file", "path": str(path), "max_bytes": 1024, "backup_count": 2}
    observed = await observe(openai_config(fake, telemetry_settings={"callbacks": [sink]}))
    ids = []
    for _ in range(6):
        ids.append(await generate(observed))
        await observed.drain_callbacks()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["requests.jsonl", "requests.jsonl.1", "requests.jsonl.2"]
    written = []
    for name in reversed(files):
        lines = (path.parent / name).read_text("utf-8").splitlines()
        assert all(len(line) < 1024 for line in lines)
        written += [json.loads(line)["request_id"] for line in lines]
    # Rotation kept the newest lines, in order; the oldest went with the dropped backup.
    assert written == ids[-len(written) :]
    assert written[-1] == ids[-1]


async def test_stdout_callback(
    observe: ObserveFactory, fake: OpenAIFake, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = await observe(
        openai_config(fake, telemetry_settings={"callbacks": [{"type": "stdout"}]})
    )
    request_id = await generate(observed)
    await observed.drain_callbacks()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["request_id"], p["status"]) for p in lines] == [(request_id, "OK")]


class Recording(Callback):
    """Configured by import path in the test below."""

    def __init__(self, label: str) -> None:
        self.name = f"recording-{label}"
        self.label = label
        self.seen: list[tuple[str, Payload]] = []
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True

    async def log_success(self, payload: Payload) -> None:
        self.seen.append(("success", payload))

    async def log_failure(self, payload: Payload) -> None:
        self.seen.append(("failure", payload))


async def test_custom_callback_by_import_path(observe: ObserveFactory, fake: OpenAIFake) -> None:
    custom = {
        "type": "python",
        "class": "tests.telemetry.test_callbacks:Recording",
        "options": {"label": "audit"},
    }
    observed = await observe(openai_config(fake, telemetry_settings={"callbacks": [custom]}))
    [recording] = [
        r.callback for r in observed.telemetry.runners if isinstance(r.callback, Recording)
    ]
    assert recording.label == "audit" and recording.started
    request_id = await generate(observed)
    fake.fail_next(400, {"error": {"message": "no", "type": "invalid_request_error"}})
    with pytest.raises(Exception, match="INVALID_ARGUMENT"):
        await generate(observed)
    await observed.drain_callbacks()
    assert [kind for kind, _ in recording.seen] == ["success", "failure"]
    assert recording.seen[0][1]["request_id"] == request_id
    assert recording.seen[1][1]["error_reason"] == "PROVIDER_INVALID_REQUEST"
    await observed.served.running.stop(grace=0)
    assert recording.closed


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.telemetry.no_such_module:Thing", "cannot import module"),
        ("tests.telemetry.test_callbacks:Missing", "has no 'Missing'"),
        ("tests.telemetry.test_callbacks:Receiver", "is not a subclass"),
    ],
)
def test_a_bad_import_path_fails_at_load_naming_the_key(path: str, problem: str) -> None:
    text = json.dumps({"telemetry_settings": {"callbacks": [{"type": "python", "class": path}]}})
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, source="bad.yaml")
    message = str(caught.value)
    assert message.startswith("bad.yaml: telemetry_settings.callbacks[0].python.class")
    assert problem in message
