"""Metrics of a running server: read from an in-memory reader and scraped from the
Prometheus endpoint over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.fakes.openai import OpenAIFake
from tests.telemetry.conftest import Observed, ObserveFactory, openai_config


@pytest.fixture
async def fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as running:
        yield running


async def one_success_one_failure(observed: Observed, fake: OpenAIFake) -> Decimal:
    call = observed.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a fox", model="gpt-image-1", n=2)
    )
    await call
    trailers = dict(await call.trailing_metadata())
    fake.fail_next(400, {"error": {"message": "no", "type": "invalid_request_error", "code": None}})
    with pytest.raises(grpc.aio.AioRpcError):
        await observed.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="a fox", model="gpt-image-1")
        )
    return Decimal(str(trailers["x-imagegen-response-cost"]))


async def test_request_metrics_field_by_field(observe: ObserveFactory, fake: OpenAIFake) -> None:
    observed = await observe(openai_config(fake))
    cost = await one_success_one_failure(observed, fake)
    ok = {"model": "gpt-image-1", "provider": "openai"}

    assert observed.point("imagegen.requests", **ok, status="OK", door="grpc").value == 1
    failed = observed.point("imagegen.requests", **ok, status="INVALID_ARGUMENT", door="grpc")
    assert failed.value == 1
    duration = observed.point("imagegen.request.duration", **ok, status="OK")
    assert duration.count == 1 and 0 < duration.sum < 30
    assert observed.point("imagegen.images", **ok).value == 2
    assert Decimal(str(observed.point("imagegen.cost", **ok).value)) == cost
    assert observed.points("imagegen.cost.unknown") == []
    assert observed.point("imagegen.requests.in_flight", door="grpc").value == 0
    attempts = {
        (dict(p.attributes)["outcome"], p.count)
        for p in observed.points("imagegen.provider.attempt.duration")
    }
    assert attempts == {("ok", 1), ("PROVIDER_INVALID_REQUEST", 1)}
    attempt = observed.point(
        "imagegen.provider.attempt.duration",
        provider="openai",
        deployment="gpt-image-1-deployment",
        outcome="ok",
    )
    assert 0 < attempt.sum <= duration.sum
    tokens = observed.point("gen_ai.client.token.usage", **{"gen_ai.token.type": "output"})
    assert tokens.count == 1 and tokens.sum > 0
    assert dict(tokens.attributes) == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-image-1",
        "gen_ai.token.type": "output",
    }


async def test_in_flight_counts_a_running_request(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    observed = await observe(openai_config(fake))
    # The fake holds a request whose prompt has the word "hang".
    call = observed.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="please hang", model="gpt-image-1")
    )
    task = asyncio.ensure_future(call)
    for _ in range(200):
        if fake.requests:
            break
        await asyncio.sleep(0.01)
    assert observed.point("imagegen.requests.in_flight", door="grpc").value == 1
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if observed.points("imagegen.requests"):
            break
        await asyncio.sleep(0.01)
    assert observed.point("imagegen.requests.in_flight", door="grpc").value == 0
    cancelled = observed.point("imagegen.requests", status="CANCELLED")
    assert cancelled.value == 1
    # Cancelled after the provider was called: it may have billed, so the cost is unknown.
    assert observed.point("imagegen.cost.unknown", model="gpt-image-1").value == 1


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_prometheus_endpoint_serves_the_same_metrics(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    config = openai_config(
        fake, telemetry_settings={"prometheus_port": 0, "prometheus_host": "127.0.0.1"}
    )
    observed = await observe(config)
    cost = await one_success_one_failure(observed, fake)
    port = observed.telemetry.prometheus_port
    assert port is not None and port > 0
    samples = await asyncio.to_thread(scrape, port)

    def value(name: str, **labels: str) -> float:
        matching = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
        assert len(matching) == 1, (name, labels, sorted(k for k in samples if k[0] == name))
        return matching[0]

    ok = {"model": "gpt-image-1", "provider": "openai"}
    assert value("imagegen_requests_total", **ok, status="OK", door="grpc") == 1
    assert value("imagegen_requests_total", **ok, status="INVALID_ARGUMENT", door="grpc") == 1
    assert value("imagegen_request_duration_seconds_count", **ok, status="OK") == 1
    assert value("imagegen_images_total", **ok) == 2
    assert Decimal(str(value("imagegen_cost_USD_total", **ok))) == cost
    assert value("imagegen_requests_in_flight", door="grpc") == 0
    assert (
        value(
            "imagegen_provider_attempt_duration_seconds_count",
            provider="openai",
            deployment="gpt-image-1-deployment",
            outcome="PROVIDER_INVALID_REQUEST",
        )
        == 1
    )
