"""A deployment's `tpm` (LiteLLM's tokens per minute): counted from each call's reported
usage (input + output tokens) in the same per-minute windows as rpm/ipm, in memory and in
Redis for a fleet; a deployment over it is passed over, and when every deployment is,
the answer is RESOURCE_EXHAUSTED with RetryInfo and a QuotaFailure naming each limit. A
model that reports no tokens cannot carry a tpm: the config is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.cli import main
from imagegen.client import AsyncImageGenClient
from imagegen.config import settings_from_mapping
from imagegen.errors import Code, ConfigError, DeploymentLimitError, NoDeploymentAvailableError
from imagegen.router.state import Limits, seconds_to_next_window
from imagegen.router.state_memory import MemoryStore
from imagegen.router.state_redis import RedisStore
from tests.conftest import Served, ServeFactory
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.test_grpc_errors import failure_of
from tests.test_router_redis import redis_url
from tests.test_router_server import config, deployment, flash_image, generate

__all__ = ["redis_url"]  # a fixture, imported to be used here

# What the fake reports for one "an otter" call at low quality, 1024x1024, on gpt-image-1:
# 2 input tokens (the prompt's words) + 272 output tokens (OpenAI's table for that size).
TOKENS_PER_CALL = 2 + 272
# a admits calls while its minute is under 600 tokens: at 0, 274 and 548, so three calls.
A_TPM = 600
A_CALLS = 3
# b admits one call (at 0 tokens), then is over.
B_TPM = 1


@pytest.fixture
async def fake_b() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as fake:
        yield fake


@pytest.fixture(autouse=True)
async def whole_window() -> None:
    """Counts live in wall-clock minutes: start each test early in one, so that none of its
    counts are cut by the minute ending."""
    if seconds_to_next_window() < 15:
        await asyncio.sleep(seconds_to_next_window() + 0.05)


def tpm_group(a: OpenAIFake, b: OpenAIFake, **router: Any) -> str:
    # `order` makes the pick deterministic: a while it has tokens left, then b.
    return config(
        deployment(a, "a", order=1, tpm=A_TPM),
        deployment(b, "b", order=2, tpm=B_TPM),
        **router,
    )


async def served_by(served: Served) -> str:
    response, trailers = await generate(served)
    assert response.usage.input_tokens + response.usage.output_tokens == TOKENS_PER_CALL
    assert trailers["x-imagegen-model-id"] == response.cost.model_id
    return response.cost.model_id


def assert_every_deployment_over(caught: grpc.aio.AioRpcError) -> None:
    failure = failure_of(caught)
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.info.reason == "DEPLOYMENT_LIMIT_REACHED"
    assert failure.info.metadata["limit"] == "tpm"
    # Until the current minute ends, not a fixed guess.
    assert failure.retry_seconds is not None and 0 < failure.retry_seconds <= 60
    assert abs(failure.retry_seconds - seconds_to_next_window()) < 5
    assert failure.quota is not None
    assert sorted(v.subject for v in failure.quota.violations) == [
        "deployment:a:tpm",
        "deployment:b:tpm",
    ]
    assert "tpm limit reached" in failure.details


async def test_tokens_reported_by_calls_move_traffic_then_exhaust_the_group(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await serve(tpm_group(openai_fake, fake_b))
    picks = [await served_by(served) for _ in range(A_CALLS + 1)]
    # a took calls until its reported tokens reached its tpm (not a count of requests).
    assert picks == ["a"] * A_CALLS + ["b"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    assert_every_deployment_over(caught.value)
    # The client SDK rebuilds the same error, every limit named.
    async with AsyncImageGenClient(served.address) as sdk:
        with pytest.raises(DeploymentLimitError) as rebuilt:
            await sdk.generate_images("an otter", model="img", size="1024x1024", quality="low")
    assert isinstance(rebuilt.value, NoDeploymentAvailableError)
    assert rebuilt.value.code is Code.RESOURCE_EXHAUSTED
    assert {rebuilt.value.subject, *rebuilt.value.other_subjects} == {
        "deployment:a:tpm",
        "deployment:b:tpm",
    }
    # The HTTP door: OpenAI's 429 envelope, with Retry-After (worth retrying then).
    async with httpx.AsyncClient(base_url=served.http_base_url, timeout=30) as http:
        answer = await http.post(
            "/v1/images/generations",
            json={"model": "img", "prompt": "an otter", "size": "1024x1024", "quality": "low"},
        )
    assert answer.status_code == 429
    assert answer.json()["error"]["type"] == "rate_limit_error"
    assert answer.json()["error"]["code"] == "deployment_limit_reached"
    assert 0 < int(answer.headers["retry-after"]) <= 60
    assert "x-should-retry" not in answer.headers
    # The refusals came before any provider call.
    assert (len(openai_fake.requests), len(fake_b.requests)) == (A_CALLS, 1)


async def test_two_gateways_on_one_redis_share_the_token_count(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake, redis_url: str
) -> None:
    document = tpm_group(
        openai_fake, fake_b, redis_url=redis_url, redis_namespace=f"test:{uuid.uuid4().hex}"
    )
    replicas = [await serve(document), await serve(document)]
    # Alternating replicas: each sees the tokens the other's calls reported.
    picks = [await served_by(replicas[i % 2]) for i in range(A_CALLS + 1)]
    assert picks == ["a"] * A_CALLS + ["b"]
    for replica in replicas:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await generate(replica)
        assert_every_deployment_over(caught.value)
    assert (len(openai_fake.requests), len(fake_b.requests)) == (A_CALLS, 1)


async def test_a_deployment_without_tpm_keeps_serving_beside_one_over_it(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await serve(
        config(deployment(openai_fake, "a", order=1, tpm=1), deployment(fake_b, "b", order=2))
    )
    picks = [await served_by(served) for _ in range(3)]
    assert picks == ["a", "b", "b"]


@pytest.mark.parametrize("make_store", ["memory", "redis"])
async def test_the_stores_refuse_once_the_window_holds_the_tpm(
    make_store: str, request: pytest.FixtureRequest
) -> None:
    store: MemoryStore | RedisStore
    if make_store == "memory":
        store = MemoryStore()
    else:
        store = RedisStore(request.getfixturevalue("redis_url"), f"test:{uuid.uuid4().hex}")
    try:
        limits = Limits(tpm=500)
        assert await store.try_acquire("d", limits, 1) is None
        await store.release("d")
        await store.record_tokens("d", 499)
        assert await store.try_acquire("d", limits, 1) is None
        await store.release("d")
        await store.record_tokens("d", 1)
        assert await store.try_acquire("d", limits, 1) == "tpm"
        # Another deployment's window is its own.
        assert await store.try_acquire("e", limits, 1) is None
        loads = await store.loads(["d", "e"])
        assert (loads["d"].tokens, loads["d"].requests, loads["e"].tokens) == (500, 2, 0)
    finally:
        await store.aclose()


def entry(model: str, **params: Any) -> dict[str, Any]:
    return {"model_name": "img", "litellm_params": {"model": model, **params}}


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("openai/dall-e-2", {"api_key": "sk-test"}),
        ("openai/dall-e-3", {"api_key": "sk-test"}),
        ("gemini/imagen-4.0-generate-001", {"api_key": "g-test"}),
        ("recraft/recraftv3", {"api_key": "r-test"}),
        (
            "bedrock/amazon.nova-canvas-v1:0",
            {
                "aws_access_key_id": "AKIATEST",
                "aws_secret_access_key": "secret",
                "aws_region_name": "us-east-1",
            },
        ),
        ("local/placeholder", {}),
    ],
)
def test_a_tpm_on_a_model_that_reports_no_tokens_is_refused(
    model: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping({"model_list": [entry(model, tpm=1000, **params)]}, source="c.yaml")
    message = str(refused.value)
    assert message.startswith("c.yaml: model_list[0].litellm_params.tpm: ")
    assert f"{model} reports no tokens" in message and "use rpm or ipm" in message


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("openai/gpt-image-1", {"api_key": "sk-test"}),
        ("openai/gpt-image-1-mini", {"api_key": "sk-test"}),
        ("gemini/gemini-2.5-flash-image", {"api_key": "g-test"}),
        ("openrouter/google/gemini-2.5-flash-image", {"api_key": "or-test"}),
        (
            "azure/my-images",
            {
                "api_key": "az-test",
                "api_base": "https://example.openai.azure.com",
                "api_version": "2025-04-01-preview",
                "base_model": "gpt-image-1",
            },
        ),
    ],
)
def test_a_tpm_on_a_model_that_reports_tokens_is_honoured(
    model: str, params: dict[str, Any]
) -> None:
    settings = settings_from_mapping(
        {"model_list": [entry(model, tpm=1000, **params)]}, source="c.yaml"
    )
    assert settings.deployments[0].tpm == 1000
    assert "tpm" not in settings.deployments[0].router_options


def test_tpm_elsewhere_than_litellm_params_is_refused_with_where_to_put_it() -> None:
    gpt = entry("openai/gpt-image-1", api_key="sk-test")
    with pytest.raises(ConfigError, match=r"model_info\.tpm: .*litellm_params\.tpm"):
        settings_from_mapping({"model_list": [{**gpt, "model_info": {"tpm": 1000}}]})
    with pytest.raises(ConfigError, match=r"router_settings\.tpm: .*litellm_params\.tpm"):
        settings_from_mapping({"model_list": [gpt], "router_settings": {"tpm": 1000}})
    with pytest.raises(ConfigError, match=r"litellm_params\.tpm: must be a non-negative integer"):
        settings_from_mapping(
            {"model_list": [entry("openai/gpt-image-1", api_key="k", tpm="lots")]}
        )


def test_check_config_serves_a_tpm_that_binds_and_names_one_that_could_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {
        "model_list": [
            entry("openai/gpt-image-1", api_key="sk-test", tpm=100_000),
            entry("openai/dall-e-3", api_key="sk-test", tpm=100_000),
        ]
    }
    path = tmp_path / "litellm.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr().out
    (served,) = [line.strip() for line in out.splitlines() if " model_list[0] img:" in line]
    assert served.startswith("served")
    (refused,) = [line.strip() for line in out.splitlines() if " model_list[1] img:" in line]
    assert refused.startswith("not served") and "model_list[1].litellm_params.tpm" in refused
    assert "openai/dall-e-3 reports no tokens" in refused and "use rpm or ipm" in refused


def with_params(entry: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {**entry, "litellm_params": {**entry["litellm_params"], **params}}


async def test_gemini_usage_counts_per_fan_out_sub_call(serve: ServeFactory) -> None:
    # gemini-2.5-flash-image makes one image per call: n=3 is three routed sub-calls, each
    # counted with the tokens its own answer reports (1290 image tokens and the prompt's).
    async with GeminiFake() as a, GeminiFake() as b:
        served = await serve(
            config(
                with_params(flash_image(a, "a"), order=1, tpm=2000),
                with_params(flash_image(b, "b"), order=2),
                fan_out_concurrency=1,
            )
        )
        call = served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="owls", model="img", n=3))
        response = await call
    assert len(response.images) == 3
    # a took calls at 0 and ~1,300 tokens, then was over 2,000: the third went to b.
    assert [attempt.model_id for attempt in response.attempts] == ["a", "a", "b"]
    assert (len(a.requests), len(b.requests)) == (2, 1)
    assert response.usage.output_tokens >= 3 * 1290
