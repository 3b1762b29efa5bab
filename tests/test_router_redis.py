"""Router state in a real redis-server: two gateway processes act as one."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.router.state import Limits
from imagegen.router.state_redis import RedisStore
from tests.fakes.openai import OpenAIFake
from tests.test_grpc_errors import failure_of
from tests.test_process import _ready_channel, _start

SERVER_ERROR = {
    "error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free loopback port, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(redis_url, f"test:{uuid.uuid4().hex}")
    yield store
    await store.aclose()


async def test_redis_store_counts_limits_cooldowns_and_latency(store: RedisStore) -> None:
    limits = Limits(rpm=2, ipm=3, max_parallel=1)
    assert await store.try_acquire("d", limits, 2) is None
    assert await store.try_acquire("d", limits, 1) == "max_parallel_requests"
    await store.release("d")
    assert await store.try_acquire("d", limits, 2) == "ipm"
    assert await store.try_acquire("d", limits, 1) is None
    await store.release("d")
    assert await store.try_acquire("d", limits, 0) == "rpm"
    load = (await store.loads(["d"]))["d"]
    assert (load.in_flight, load.requests, load.images) == (0, 2, 3)
    assert await store.record_failure("d") == 1
    assert await store.record_failure("d") == 2
    await store.cool_down("d", time.time() + 30)
    await store.cool_down("d", time.time() + 5)  # a shorter cooldown never shortens one
    until = (await store.cooldowns(["d", "e"]))["d"]
    assert until - time.time() > 25
    await store.record_latency("d", "1024x1024", 2.0, 0.5)
    await store.record_latency("d", "1024x1024", 4.0, 0.5)
    assert await store.latencies(["d", "e"], "1024x1024") == {"d": 3.0}


def _config(path: Path, a: OpenAIFake, b: OpenAIFake, redis_url: str) -> Path:
    def entry(name: str, fake: OpenAIFake, model_id: str, **params: Any) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_base": fake.base_url + "/v1",
                "api_key": "sk-test-openai",
                **params,
            },
            "model_info": {"id": model_id},
        }

    document = {
        "model_list": [
            entry("img", a, "a", order=1),
            entry("img", b, "b", order=2),
            entry("limited", b, "limited", rpm=2),
        ],
        "router_settings": {
            "redis_url": redis_url,
            "redis_namespace": f"test:{uuid.uuid4().hex}",
            "num_retries": 1,
            "cooldown_time": 60,
            "retry_backoff_seconds": 0.01,
        },
    }
    path.write_text(yaml.safe_dump(document))
    return path


async def test_two_server_processes_share_cooldowns_and_rpm_limits(
    redis_url: str, tmp_path: Path, openai_fake: OpenAIFake
) -> None:
    async with OpenAIFake() as fake_b:
        config = _config(tmp_path / "config.yaml", openai_fake, fake_b, redis_url)
        processes = [await _start(["--config", str(config)]) for _ in range(2)]
        channels: list[grpc.aio.Channel] = []
        try:
            stubs = [
                pb_grpc.ImageGenerationStub(await _ready_channel(address, channels))
                for _, address in processes
            ]

            def request(model: str) -> pb.GenerateImagesRequest:
                return pb.GenerateImagesRequest(
                    prompt="an otter", model=model, size="1024x1024", quality="low"
                )

            # Process 1: a answers 429, is cooled down (in Redis), b serves.
            openai_fake.fail_next(429, SERVER_ERROR, headers={"retry-after": "1"})
            first = await stubs[0].GenerateImages(request("img"))
            assert [(x.model_id, x.outcome) for x in first.attempts] == [
                ("a", "PROVIDER_RATE_LIMITED"),
                ("b", "ok"),
            ]
            # Process 2 never saw a fail, yet skips it: the cooldown is shared.
            second = await stubs[1].GenerateImages(request("img"))
            assert [(x.model_id, x.outcome) for x in second.attempts] == [("b", "ok")]
            assert len(openai_fake.requests) == 1

            # rpm: 2 for the whole fleet, not per process.
            await stubs[0].GenerateImages(request("limited"))
            await stubs[1].GenerateImages(request("limited"))
            for stub in stubs:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.GenerateImages(request("limited"))
                failure = failure_of(caught.value)
                assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert failure.info.reason == "DEPLOYMENT_LIMIT_REACHED"
                assert "rpm limit reached" in failure.details
        finally:
            for channel in channels:
                await channel.close()
            for process, _ in processes:
                process.send_signal(signal.SIGTERM)
            for process, _ in processes:
                assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_an_unreachable_redis_is_unavailable_not_internal(
    openai_fake: OpenAIFake,
) -> None:
    from imagegen.config import parse_settings
    from imagegen.errors import RouterStateUnavailableError
    from imagegen.gateway import Gateway
    from imagegen.types import ImageRequest

    document = {
        "model_list": [{"model_name": "img", "litellm_params": {"model": "local/placeholder"}}],
        "router_settings": {"redis_url": f"redis://127.0.0.1:{_free_port()}/0"},
    }
    gateway = Gateway(parse_settings(yaml.safe_dump(document)))
    try:
        with pytest.raises(RouterStateUnavailableError) as caught:
            await gateway.generate(ImageRequest.create(prompt="otter", model="img"))
        assert caught.value.code.name == "UNAVAILABLE"
        assert caught.value.facts is not None and caught.value.facts.attempts == 0
    finally:
        await gateway.aclose()
