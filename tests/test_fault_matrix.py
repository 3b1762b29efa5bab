"""The provider fault matrix: every injected fault, by unary and streaming, by with and without a
fallback, through the running server.

Without a fallback each fault ends in its documented status within the call's deadline;
with one, the fallback model serves the call and the attempts record the failed try.
Before and after each case the process's open sockets and asyncio tasks are counted:
nothing may leak (a connection the gateway never closed, a task it never awaited).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import Served, ServeFactory
from tests.fakes.faulty import FAULTS, FaultyUpstream
from tests.fakes.openai import OpenAIFake

# What each fault ends in when nothing can route around it.
DOCUMENTED: dict[str, tuple[grpc.StatusCode, str]] = {
    "429_retry_after": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_RATE_LIMITED"),
    "429": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_RATE_LIMITED"),
    "500": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    "502": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    "503": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    "slow_headers": (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
    "slow_body": (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
    "reset_mid_body": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE"),
    "truncated_json": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_BAD_RESPONSE"),
    "wrong_content_type": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_BAD_RESPONSE"),
    "empty_image": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_BAD_RESPONSE"),
    "malformed_image": (grpc.StatusCode.UNAVAILABLE, "PROVIDER_BAD_RESPONSE"),
    "never_answers": (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
}
# A faulty deployment's own timeout: a stalled attempt ends here, leaving the fallback time.
ATTEMPT_TIMEOUT = 0.5
# The caller's deadline for every call of the matrix.
DEADLINE = 5.0


def config(faulty: str, healthy: OpenAIFake, *, fallback: bool) -> str:
    def entry(name: str, base: str, key: str, **extra: Any) -> dict[str, Any]:
        params = {"model": "openai/gpt-image-1", "api_base": base, "api_key": key, **extra}
        return {"model_name": name, "litellm_params": params, "model_info": {"id": name}}

    router: dict[str, Any] = {"retry_backoff_seconds": 0.01, "retry_backoff_max_seconds": 0.02}
    if fallback:
        router["fallbacks"] = [{"faulty": ["healthy"]}]
    document = {
        "model_list": [
            entry("faulty", f"{faulty}/v1", "sk-faulty", timeout=ATTEMPT_TIMEOUT),
            entry("healthy", f"{healthy.base_url}/v1", healthy.api_key),
        ],
        "router_settings": router,
    }
    return yaml.safe_dump(document)


def open_sockets() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            continue  # closed between listdir and readlink
    return count


async def settled(baseline: tuple[int, int]) -> tuple[int, int]:
    """Sockets and tasks, once they have had up to 3 s to come back to `baseline`."""
    now = (open_sockets(), len(asyncio.all_tasks()))
    for _ in range(150):
        if now[0] <= baseline[0] and now[1] <= baseline[1]:
            break
        await asyncio.sleep(0.02)
        now = (open_sockets(), len(asyncio.all_tasks()))
    return now


async def call(served: Served, streaming: bool) -> tuple[pb.CostRecord, list[pb.Attempt], int]:
    fields: dict[str, Any] = {"prompt": "a fox", "model": "faulty", "size": "1024x1024"}
    if not streaming:
        response = await served.stub.GenerateImages(
            pb.GenerateImagesRequest(**fields, quality="low"), timeout=DEADLINE
        )
        return response.cost, list(response.attempts), len(response.images)
    images = 0
    summary: pb.GenerationSummary | None = None
    request = pb.StreamGenerateImagesRequest(**fields, quality="low")
    async for message in served.stub.StreamGenerateImages(request, timeout=DEADLINE):
        kind = message.WhichOneof("event")
        if kind == "image":
            images += 1
        elif kind == "summary":
            summary = message.summary
    assert summary is not None
    return summary.cost, list(summary.attempts), images


@pytest.fixture
async def healthy() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as fake:
        yield fake


@pytest.mark.parametrize("fallback", [False, True], ids=["no-fallback", "fallback"])
@pytest.mark.parametrize("streaming", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize("fault", FAULTS)
async def test_fault(
    serve: ServeFactory, healthy: OpenAIFake, fault: str, streaming: bool, fallback: bool
) -> None:
    async with FaultyUpstream(fault) as upstream:
        served = await serve(config(upstream.base_url, healthy, fallback=fallback))
        # One healthy call first: pools, channels and caches exist before the baseline.
        await served.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="warm", model="healthy", quality="low"),
            timeout=DEADLINE,
        )
        baseline = (open_sockets(), len(asyncio.all_tasks()))
        started = time.monotonic()
        if fallback:
            cost, attempts, images = await call(served, streaming)
            assert images == 1
            assert [a.model_id for a in attempts] == ["faulty", "healthy"]
            assert attempts[0].outcome == DOCUMENTED[fault][1]
            assert attempts[1].outcome == "ok"
            assert cost.model_id == "healthy"
        else:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(served, streaming)
            code, reason = DOCUMENTED[fault]
            assert caught.value.code() == code, caught.value.details()
            status = rpc_status.from_call(caught.value)
            assert status is not None
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            assert info.reason == reason
        assert time.monotonic() - started < DEADLINE
        assert upstream.requests >= 1
    sockets, tasks = await settled(baseline)
    assert sockets <= baseline[0], f"{sockets - baseline[0]} sockets leaked"
    assert tasks <= baseline[1], f"{tasks - baseline[1]} tasks leaked"
