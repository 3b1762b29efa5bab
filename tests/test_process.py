"""The `imagegen serve` process: serves its config, and shuts down gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from tests.fakes.openai import OpenAIFake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _start(
    args: list[str], cwd: Path | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegen.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # The HTTP door on a free port too: never the default 4000 a `make run` may hold.
        "--http-port",
        "0",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "OPENAI_API_KEY": ""},
        cwd=cwd,
    )
    return process, f"127.0.0.1:{port}"


@pytest.fixture
async def channel_factory() -> AsyncIterator[list[grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []
    yield channels
    for channel in channels:
        await channel.close()


async def _ready_channel(address: str, channels: list[grpc.aio.Channel]) -> grpc.aio.Channel:
    channel = grpc.aio.insecure_channel(address)
    channels.append(channel)
    await asyncio.wait_for(channel.channel_ready(), timeout=30)
    return channel


async def test_serve_without_config_serves_placeholder(
    channel_factory: list[grpc.aio.Channel],
) -> None:
    process, address = await _start([])
    try:
        channel = await _ready_channel(address, channel_factory)
        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        stub = pb_grpc.ImageGenerationStub(channel)
        response = await stub.GenerateImages(pb.GenerateImagesRequest(prompt="otter", size="32x32"))
        assert response.images[0].data.startswith(b"\x89PNG")
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_sigterm_lets_in_flight_call_finish_then_refuses_new_calls(
    tmp_path: Path, channel_factory: list[grpc.aio.Channel]
) -> None:
    async with OpenAIFake() as fake:
        fake.delay = 1.5
        config = tmp_path / "config.yaml"
        config.write_text(
            f"""
model_list:
  - model_name: slow
    litellm_params:
      model: openai/gpt-image-1
      api_base: {fake.base_url}/v1
      api_key: sk-test-openai
server_settings:
  grace_period_seconds: 20
"""
        )
        process, address = await _start(["--config", str(config)])
        channel = await _ready_channel(address, channel_factory)
        stub = pb_grpc.ImageGenerationStub(channel)
        in_flight = asyncio.ensure_future(
            stub.GenerateImages(
                pb.GenerateImagesRequest(
                    prompt="a fox", model="slow", size="1024x1024", quality="low"
                ),
                timeout=30,
            )
        )
        await asyncio.wait_for(fake.received.wait(), timeout=10)
        process.send_signal(signal.SIGTERM)

        response = await in_flight
        assert len(response.images) == 1
        assert response.cost.provider == "openai"
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GenerateImages(
                pb.GenerateImagesRequest(prompt="late", model="slow"), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_bad_config_fails_at_start_naming_file_key_and_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        """
model_list:
  - model_name: x
    litellm_params:
      model: openai/gpt-image-1
      api_key: os.environ/IMAGEGEN_TEST_MISSING_KEY
"""
    )
    process, _ = await _start(["--config", str(config)])
    assert process.stderr is not None
    stderr = (await asyncio.wait_for(process.stderr.read(), timeout=30)).decode()
    assert await process.wait() == 2
    assert str(config) in stderr
    assert "model_list[0].litellm_params.api_key" in stderr
    assert "IMAGEGEN_TEST_MISSING_KEY" in stderr


async def test_sigterm_drains_then_finishes_unary_and_stream_and_refuses_new_calls(
    tmp_path: Path, channel_factory: list[grpc.aio.Channel]
) -> None:
    async with OpenAIFake() as fake:
        fake.delay = 3.0
        config = tmp_path / "config.yaml"
        config.write_text(
            f"""
model_list:
  - model_name: slow
    litellm_params:
      model: openai/gpt-image-1
      api_base: {fake.base_url}/v1
      api_key: sk-test-openai
server_settings:
  grace_period_seconds: 20
  drain_seconds: 1
"""
        )
        process, address = await _start(["--config", str(config)])
        channel = await _ready_channel(address, channel_factory)
        stub = pb_grpc.ImageGenerationStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        fields: dict[str, Any] = {
            "prompt": "a fox",
            "model": "slow",
            "size": "1024x1024",
            "quality": "low",
        }
        unary = asyncio.ensure_future(
            stub.GenerateImages(pb.GenerateImagesRequest(**fields), timeout=30)
        )
        stream = stub.StreamGenerateImages(pb.StreamGenerateImagesRequest(**fields), timeout=30)

        async def stream_kinds() -> list[str | None]:
            return [message.WhichOneof("event") async for message in stream]

        streamed = asyncio.ensure_future(stream_kinds())
        for _ in range(500):  # the fake has no event for "n requests arrived"
            if len(fake.requests) >= 2:
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGTERM)

        # Draining: health says NOT_SERVING first, while calls are still taken.
        for _ in range(100):
            status = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            if status.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                break
            await asyncio.sleep(0.01)
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        # After the drain, and while the two calls are still running: new calls are refused.
        await asyncio.sleep(1.2)
        assert not unary.done()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GenerateImages(
                pb.GenerateImagesRequest(prompt="late", model="slow"), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

        response = await unary
        assert len(response.images) == 1
        kinds = await streamed
        assert kinds[0] == "accepted" and kinds[-1] == "summary" and "image" in kinds
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_default_spend_log_goes_to_the_data_dir_not_the_working_directory(
    tmp_path: Path, channel_factory: list[grpc.aio.Channel]
) -> None:
    # Keys turn the spend log on; with no spend_log_path it must not land in a checkout.
    key = "ig-data-dir-test-key-0001"
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: placeholder\n"
        "    litellm_params: {model: local/placeholder}\n"
        f"keys:\n  - alias: team\n    key: {key}\n"
    )
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    data = tmp_path / "data"
    process, address = await _start(
        ["--config", str(config), "--data-dir", str(data)], cwd=checkout
    )
    try:
        channel = await _ready_channel(address, channel_factory)
        stub = pb_grpc.ImageGenerationStub(channel)
        response = await stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="otter", model="placeholder", size="32x32"),
            metadata=(("authorization", f"Bearer {key}"),),
        )
        assert response.images[0].data.startswith(b"\x89PNG")
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    assert list(checkout.iterdir()) == []
    assert (data / "spend.sqlite3").stat().st_size > 0
