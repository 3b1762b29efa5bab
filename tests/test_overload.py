"""Graceful overload against a real gateway and a real upstream answering 1.5 MB images
(bench/upstream.py on loopback): answers are read within the memory budget and nothing is
lost; a caller reading its answer slowly stalls no one else; a deployment at its
max_parallel_requests queues calls, and sheds with RetryInfo and QuotaFailure when the
queue is full or the wait would outlast the deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.memory import MIB
from tests.conftest import Served, ServeFactory
from tests.fakes.images import png_bytes

ROOT = Path(__file__).resolve().parents[1]
IMAGE_BYTES = 1_500_000


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    """The benchmark's fake OpenAI upstream: every answer a 1.5 MB PNG as base64 JSON."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "upstream.py"),
            *("--port", "0", "--image-bytes", str(IMAGE_BYTES)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), line
        yield int(line.split()[1])
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def config(port: int, delay_ms: int, **server: Any) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "burst",
                    "litellm_params": {
                        "model": "openai/gpt-image-1",
                        "api_base": f"http://127.0.0.1:{port}/lat/{delay_ms}/v1",
                        "api_key": "sk-test",
                        **server.pop("litellm_params", {}),
                    },
                }
            ],
            "server_settings": server,
        }
    )


def request(**fields: Any) -> pb.GenerateImagesRequest:
    return pb.GenerateImagesRequest(model="burst", prompt="a burst", size="1024x1024", **fields)


async def test_a_burst_is_read_within_the_budget_and_every_answer_arrives(
    serve: ServeFactory, upstream: int
) -> None:
    served = await serve(config(upstream, 300, memory_budget_mb=16))
    budget = served.running.gateway.memory
    most_waiting = 0

    async def watch() -> None:
        nonlocal most_waiting
        while True:
            most_waiting = max(most_waiting, budget.waiting)
            await asyncio.sleep(0.005)

    watcher = asyncio.ensure_future(watch())
    try:
        answers = await asyncio.gather(
            *(served.stub.GenerateImages(request(), timeout=60) for _ in range(12))
        )
    finally:
        watcher.cancel()
    assert [len(a.images[0].data) for a in answers] == [answers[0].images[0].data.__len__()] * 12
    assert len(answers[0].images[0].data) >= IMAGE_BYTES
    # Answers waited for the budget (the upstream held back), and it was never overspent.
    assert most_waiting > 0
    assert 0 < budget.peak <= 16 * MIB
    await asyncio.sleep(0.1)  # the last done-callbacks
    assert budget.used == 0


async def test_without_a_budget_the_same_burst_holds_every_answer_at_once(
    serve: ServeFactory, upstream: int
) -> None:
    # The measure the budget is compared with: nothing waits, nothing is bounded.
    served = await serve(config(upstream, 300, memory_budget_mb=None))
    budget = served.running.gateway.memory
    await asyncio.gather(*(served.stub.GenerateImages(request(), timeout=60) for _ in range(4)))
    assert budget.limit is None and budget.waiting == 0


def slow_http_reader(port: int) -> socket.socket:
    """A caller that asked for an image and reads its answer 10 KB a second at most."""
    sock = socket.socket()
    # A small receive window: the answer stays with the sender, not in this socket.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", port))
    body = json.dumps({"model": "burst", "prompt": "slowly", "size": "1024x1024"}).encode()
    sock.sendall(
        b"POST /v1/images/generations HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    sock.setblocking(False)
    return sock


async def read_slowly(sock: socket.socket, seconds: float) -> int:
    received = 0
    loop = asyncio.get_running_loop()
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        with contextlib.suppress(TimeoutError):
            received += len(await asyncio.wait_for(loop.sock_recv(sock, 1024), 0.1))
        await asyncio.sleep(0.1)  # 1 KB per 0.1 s: 10 KB/s
    return received


async def test_a_slow_http_reader_stalls_no_other_call(serve: ServeFactory, upstream: int) -> None:
    served = await serve(config(upstream, 200, memory_budget_mb=16))
    assert served.running.http is not None
    budget = served.running.gateway.memory
    sock = slow_http_reader(served.running.http.port)
    try:
        reading = asyncio.ensure_future(read_slowly(sock, 4.0))
        await asyncio.sleep(0.8)  # its answer came and is being written, slowly
        started = time.monotonic()
        for _ in range(3):  # rounds of calls, each round several at once
            answers = await asyncio.gather(
                *(served.stub.GenerateImages(request(), timeout=10) for _ in range(3))
            )
            assert all(len(a.images[0].data) >= IMAGE_BYTES for a in answers)
        served_in = time.monotonic() - started
        # Nine calls of 0.2 s upstream each (three rounds) in well under the slow read.
        assert served_in < 3.0, served_in
        # The slow caller holds at most its own answer: its body and its base64 JSON.
        assert budget.used <= 9 * MIB
        received = await reading
        assert 0 < received < 60_000  # it really was slow (2 MB of answer pending)
    finally:
        sock.close()
    for _ in range(100):
        if budget.used == 0:
            break
        await asyncio.sleep(0.05)
    assert budget.used == 0  # the hung-up caller's share came back


async def test_a_grpc_stream_that_is_not_read_stalls_no_other_call(
    serve: ServeFactory, upstream: int
) -> None:
    served = await serve(config(upstream, 200, memory_budget_mb=16))
    budget = served.running.gateway.memory
    options = [("grpc.max_receive_message_length", 64 * MIB)]
    async with grpc.aio.insecure_channel(served.address, options=options) as channel:
        idle_stub = pb_grpc.ImageGenerationStub(channel)
        stream = idle_stub.StreamGenerateImages(
            pb.StreamGenerateImagesRequest(model="burst", prompt="unread", size="1024x1024"),
            timeout=30,
        )
        first = await stream.read()  # accepted; the image follows and is never read
        assert isinstance(first, pb.StreamGenerateImagesResponse)
        assert first.WhichOneof("event") == "accepted"
        await asyncio.sleep(0.8)
        started = time.monotonic()
        answers = await asyncio.gather(
            *(served.stub.GenerateImages(request(), timeout=10) for _ in range(6))
        )
        assert all(len(a.images[0].data) >= IMAGE_BYTES for a in answers)
        assert time.monotonic() - started < 3.0
        assert budget.used <= 9 * MIB  # at most the unread stream's own answer
        stream.cancel()
    for _ in range(100):
        if budget.used == 0:
            break
        await asyncio.sleep(0.05)
    assert budget.used == 0


def shed_details(error: grpc.aio.AioRpcError) -> tuple[str, str, float]:
    """(ErrorInfo reason, QuotaFailure subject, RetryInfo seconds) of a shed call."""
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    status = rpc_status.from_call(error)
    assert status is not None
    reason, subject, retry = "", "", -1.0
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        quota = error_details_pb2.QuotaFailure()
        retry_info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(quota):
            subject = quota.violations[0].subject
        elif detail.Unpack(retry_info):
            retry = retry_info.retry_delay.seconds + retry_info.retry_delay.nanos / 1e9
    return reason, subject, retry


async def test_calls_beyond_max_parallel_requests_queue_instead_of_failing(
    serve: ServeFactory, upstream: int
) -> None:
    served: Served = await serve(config(upstream, 300, litellm_params={"max_parallel_requests": 1}))
    started = time.monotonic()
    answers = await asyncio.gather(
        *(served.stub.GenerateImages(request(), timeout=20) for _ in range(3))
    )
    assert len(answers) == 3
    # One at a time: the three upstream waits follow each other.
    assert time.monotonic() - started >= 0.9


async def test_a_full_queue_sheds_at_once_with_retry_info_and_the_limit(
    serve: ServeFactory, upstream: int
) -> None:
    served = await serve(
        config(upstream, 500, max_queued_requests=1, litellm_params={"max_parallel_requests": 1})
    )
    outcomes = await asyncio.gather(
        *(served.stub.GenerateImages(request(), timeout=20) for _ in range(3)),
        return_exceptions=True,
    )
    shed = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(shed) == 1 and len(outcomes) - len(shed) == 2, outcomes
    reason, subject, retry = shed_details(shed[0])
    assert (reason, subject) == ("LOAD_SHED", "server:max_queued_requests")
    assert retry > 0


async def test_a_wait_that_would_outlast_the_deadline_is_shed_at_once(
    serve: ServeFactory, upstream: int
) -> None:
    served = await serve(config(upstream, 600, litellm_params={"max_parallel_requests": 1}))
    await served.stub.GenerateImages(request(), timeout=20)  # the latency is known: ~0.6 s
    busy = asyncio.ensure_future(served.stub.GenerateImages(request(), timeout=20))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await served.stub.GenerateImages(request(), timeout=0.9)
    assert time.monotonic() - started < 0.5  # refused at once, not at its deadline
    reason, subject, retry = shed_details(raised.value)
    assert (reason, subject) == ("LOAD_SHED", "model:burst:max_parallel_requests")
    assert 0.3 < retry < 2.0
    await busy


async def test_a_higher_priority_key_is_admitted_before_a_lower_one_that_waited_longer(
    serve: ServeFactory, upstream: int, tmp_path: Path
) -> None:
    document = yaml.safe_load(config(upstream, 400, litellm_params={"max_parallel_requests": 1}))
    document["general_settings"] = {"spend_log_path": str(tmp_path / "spend.sqlite3")}
    low_key, high_key = "ig-low-key-for-tests-0123456789", "ig-high-key-for-tests-0123456789"
    document["keys"] = [
        {"alias": "batch", "key": low_key},
        {"alias": "interactive", "key": high_key, "tags": ["priority:10"]},
    ]
    served = await serve(yaml.safe_dump(document))
    finished: list[str] = []

    async def call(name: str, key: str) -> None:
        await served.stub.GenerateImages(
            request(), timeout=20, metadata=(("authorization", f"Bearer {key}"),)
        )
        finished.append(name)

    holding = asyncio.ensure_future(call("first", low_key))
    await asyncio.sleep(0.1)  # the slot is taken
    waiting_low = asyncio.ensure_future(call("low", low_key))
    await asyncio.sleep(0.1)  # the low-priority call waits first
    waiting_high = asyncio.ensure_future(call("high", high_key))
    await asyncio.gather(holding, waiting_low, waiting_high)
    assert finished == ["first", "high", "low"]


async def test_an_edits_input_images_and_its_answer_count_against_the_budget(
    serve: ServeFactory,
) -> None:
    served = await serve(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
                ],
                "server_settings": {"memory_budget_mb": 16},
            }
        )
    )
    budget = served.running.gateway.memory
    photo = png_bytes(64, 48)
    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            model="placeholder", images=[photo, photo], operation=pb.EDIT_OPERATION_UPSCALE
        )
    )
    answer = sum(len(image.data) for image in response.images)
    # The inputs twice (held, and in the provider request) and the answer twice (the
    # message and its serialized copy); all of it given back once the call is over.
    assert budget.peak == 2 * 2 * len(photo) + 2 * answer
    await asyncio.sleep(0.05)
    assert budget.used == 0
