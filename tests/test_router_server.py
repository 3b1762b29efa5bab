"""The router through the running server: a two-deployment group survives one deployment
failing in each fault class, and answers with the right status when nothing can succeed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import duration_pb2

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import Served, ServeFactory
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.test_grpc_errors import failure_of
from tests.test_grpc_service import text_trailers

KEY = "sk-test-openai"
SERVER_ERROR = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
RATE_LIMITED = {
    "error": {
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


def deployment(
    fake: OpenAIFake | str, model_id: str, *, name: str = "img", **params: Any
) -> dict[str, Any]:
    base = fake if isinstance(fake, str) else fake.base_url + "/v1"
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": base,
            "api_key": KEY,
            **params,
        },
        "model_info": {"id": model_id},
    }


def config(*entries: dict[str, Any], **router: Any) -> str:
    # Fast, deterministic backoff: tests never wait on real retry timing.
    settings = {"retry_backoff_seconds": 0.01, "retry_backoff_max_seconds": 0.02, **router}
    return yaml.safe_dump({"model_list": list(entries), "router_settings": settings})


@pytest.fixture
async def fake_b() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as fake:
        yield fake


async def generate(
    served: Served, **fields: Any
) -> tuple[pb.GenerateImagesResponse, dict[str, str]]:
    fields.setdefault("prompt", "an otter")
    fields.setdefault("model", "img")
    fields.setdefault("size", "1024x1024")
    fields.setdefault("quality", "low")
    call = served.stub.GenerateImages(pb.GenerateImagesRequest(**fields))
    response = await call
    return response, text_trailers(await call.trailing_metadata())


def outcomes(response: pb.GenerateImagesResponse) -> list[tuple[str, str]]:
    return [(a.model_id, a.outcome) for a in response.attempts]


async def two_deployment_group(
    serve: ServeFactory, a: OpenAIFake | str, b: OpenAIFake, *, a_params: Any = None, **router: Any
) -> Served:
    # `order` makes the first pick deterministic: a, then b.
    return await serve(
        config(
            deployment(a, "a", order=1, **(a_params or {})),
            deployment(b, "b", order=2),
            num_retries=router.pop("num_retries", 1),
            **router,
        )
    )


@pytest.mark.parametrize(
    ("status", "body", "headers", "reason", "failed_cost"),
    [
        (429, RATE_LIMITED, {"retry-after": "0.05"}, "PROVIDER_RATE_LIMITED", "0"),
        (500, SERVER_ERROR, {}, "PROVIDER_UNAVAILABLE", "0"),
        (503, SERVER_ERROR, {}, "PROVIDER_UNAVAILABLE", "0"),
        # A success status with an unusable body may have been billed: unknown, never 0.
        (200, "{not json", {}, "PROVIDER_BAD_RESPONSE", "unknown"),
    ],
    ids=["429-retry-after", "500", "503", "garbage-body"],
)
async def test_one_failing_deployment_is_routed_around(
    serve: ServeFactory,
    openai_fake: OpenAIFake,
    fake_b: OpenAIFake,
    status: int,
    body: Any,
    headers: dict[str, str],
    reason: str,
    failed_cost: str,
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b)
    openai_fake.fail_next(status, body, headers=headers)
    response, trailers = await generate(served)
    assert len(response.images) == 1
    assert outcomes(response) == [("a", reason), ("b", "ok")]
    assert trailers["x-imagegen-attempts"] == "2"
    assert trailers["x-imagegen-model-id"] == "b"
    assert "x-imagegen-fallback-model" not in trailers  # same group: a retry, not a fallback
    assert response.cost.model_id == "b"
    assert all(a.duration_ms > 0 for a in response.attempts)
    # A failed call answered with an error status bills nothing; the served one is priced.
    assert response.attempts[0].cost == failed_cost
    assert Decimal(response.attempts[1].cost) > 0
    if failed_cost == "0":
        assert Decimal(response.cost.response_cost) == Decimal(response.attempts[1].cost)
    else:
        assert response.cost.response_cost == "unknown"
    assert (len(openai_fake.requests), len(fake_b.requests)) == (1, 1)


async def test_a_rate_limited_deployment_cools_down_for_later_requests(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b, cooldown_time=60)
    openai_fake.fail_next(429, RATE_LIMITED, headers={"retry-after": "1"})
    await generate(served)
    response, _ = await generate(served)
    # a is first in order, but cooling down: the second request goes straight to b.
    assert outcomes(response) == [("b", "ok")]
    assert len(openai_fake.requests) == 1


async def test_a_timed_out_deployment_is_retried_elsewhere(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b, a_params={"timeout": 0.3})
    openai_fake.delay = 30.0  # only a is slow (the "hang" prompt would stall b too)
    response, _ = await generate(served)
    assert outcomes(response)[0][0] == "a"
    assert outcomes(response)[0][1] in {"DEADLINE_EXCEEDED", "PROVIDER_TIMEOUT"}
    assert outcomes(response)[1] == ("b", "ok")
    # The timed-out call may have been billed: its cost, and so the request's, is unknown.
    assert response.attempts[0].cost == "unknown"
    assert response.cost.response_cost == "unknown"
    await asyncio.wait_for(openai_fake.disconnected.wait(), 5)


@contextlib.asynccontextmanager
async def resetting_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and resets them at once."""

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.transport.abort()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_connection_reset_is_routed_around(serve: ServeFactory, fake_b: OpenAIFake) -> None:
    async with resetting_server() as base:
        served = await two_deployment_group(serve, base, fake_b)
        response, trailers = await generate(served)
    assert outcomes(response) == [("a", "PROVIDER_UNAVAILABLE"), ("b", "ok")]
    assert trailers["x-imagegen-attempts"] == "2"


async def test_a_safety_refusal_is_not_retried(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b, num_retries=3)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served, prompt="something forbidden")
    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "CONTENT_POLICY_VIOLATION"
    assert failure.trailers["x-imagegen-attempts"] == "1"
    assert fake_b.requests == []


async def test_a_safety_refusal_goes_to_the_content_policy_fallback(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        config(
            deployment(openai_fake, "strict"),
            {"model_name": "lenient", "litellm_params": {"model": "local/placeholder"}},
            content_policy_fallbacks=[{"img": ["lenient"]}],
        )
    )
    response, trailers = await generate(served, prompt="something forbidden", quality="")
    assert len(response.images) == 1
    assert [(a.model_name, a.outcome) for a in response.attempts] == [
        ("img", "CONTENT_POLICY_VIOLATION"),
        ("lenient", "ok"),
    ]
    assert response.fallback_model == "lenient"
    assert trailers["x-imagegen-fallback-model"] == "lenient"
    assert trailers["x-imagegen-provider"] == "local"


async def test_when_nothing_succeeds_the_error_says_what_was_tried(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b)
    openai_fake.fail_next(500, SERVER_ERROR)
    fake_b.fail_next(503, SERVER_ERROR)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.info.reason == "PROVIDER_UNAVAILABLE"
    assert "tried: a PROVIDER_UNAVAILABLE, b PROVIDER_UNAVAILABLE" in failure.details
    assert failure.info.metadata["tried"] == "a PROVIDER_UNAVAILABLE,b PROVIDER_UNAVAILABLE"
    assert failure.trailers["x-imagegen-attempts"] == "2"
    assert failure.trailers["x-imagegen-response-cost"] == "0"


async def test_every_deployment_cooling_down_is_unavailable_with_retry_info(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b, cooldown_time=30)
    openai_fake.fail_next(429, RATE_LIMITED, headers={"retry-after": "0"})
    fake_b.fail_next(429, RATE_LIMITED, headers={"retry-after": "0"})
    with pytest.raises(grpc.aio.AioRpcError):
        await generate(served)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.info.reason == "NO_HEALTHY_DEPLOYMENT"
    assert failure.retry_seconds is not None and 25 < failure.retry_seconds <= 30
    assert "cooling down" in failure.details
    assert failure.trailers["x-imagegen-attempts"] == "0"
    assert (len(openai_fake.requests), len(fake_b.requests)) == (1, 1)


async def test_allowed_fails_then_cooldown(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(
        serve, openai_fake, fake_b, allowed_fails=1, cooldown_time=60
    )
    for _ in range(2):
        openai_fake.fail_next(500, SERVER_ERROR)
        response, _ = await generate(served)
        assert outcomes(response) == [("a", "PROVIDER_UNAVAILABLE"), ("b", "ok")]
    # Two failures in the minute exceed allowed_fails=1: a is skipped now.
    response, _ = await generate(served)
    assert outcomes(response) == [("b", "ok")]
    assert len(openai_fake.requests) == 2


async def test_fallbacks_in_order_and_per_request(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await serve(
        config(
            deployment(openai_fake, "primary"),
            deployment(fake_b, "second", name="second", model="openai/dall-e-2"),
            {"model_name": "third", "litellm_params": {"model": "local/placeholder"}},
            fallbacks=[{"img": ["second", "third"]}],
        )
    )
    openai_fake.fail_next(500, SERVER_ERROR)
    response, trailers = await generate(served, size="1536x1024", quality="")
    # second (dall-e-2) cannot make 1536x1024: skipped with its reason, never called.
    assert [(a.model_name, a.outcome) for a in response.attempts] == [
        ("img", "PROVIDER_UNAVAILABLE"),
        ("third", "ok"),
    ]
    assert trailers["x-imagegen-fallback-model"] == "third"
    assert fake_b.requests == []

    openai_fake.fail_next(500, SERVER_ERROR)
    response, trailers = await generate(served, fallbacks=["second"], quality="")
    assert [(a.model_name, a.outcome) for a in response.attempts] == [
        ("img", "PROVIDER_UNAVAILABLE"),
        ("second", "ok"),
    ]
    assert response.fallback_model == "second"

    openai_fake.fail_next(500, SERVER_ERROR)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served, disable_fallbacks=True)
    failure = failure_of(caught.value)
    assert failure.info.reason == "PROVIDER_UNAVAILABLE"
    assert failure.trailers["x-imagegen-attempts"] == "1"


async def test_an_unknown_per_request_fallback_is_invalid(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(deployment(openai_fake, "a")))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served, fallbacks=["nowhere"])
    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.fields == ["fallbacks"]
    assert openai_fake.requests == []


async def test_a_constraint_skip_is_reported_when_no_fallback_fits(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await serve(
        config(
            deployment(openai_fake, "primary"),
            deployment(fake_b, "second", name="second", model="openai/dall-e-2"),
            fallbacks=[{"img": ["second"]}],
        )
    )
    openai_fake.fail_next(500, SERVER_ERROR)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served, size="1536x1024")
    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert "second" in failure.details and "constraint" in failure.details
    assert fake_b.requests == []


async def test_rpm_limits_spread_then_refuse(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await serve(
        config(deployment(openai_fake, "a", rpm=1), deployment(fake_b, "b", rpm=1))
    )
    first, _ = await generate(served)
    second, _ = await generate(served)
    assert {first.cost.model_id, second.cost.model_id} == {"a", "b"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.info.reason == "DEPLOYMENT_LIMIT_REACHED"
    assert "rpm limit reached" in failure.details
    assert failure.retry_seconds is not None and 0 < failure.retry_seconds <= 60
    assert failure.quota is not None
    assert sorted(v.subject for v in failure.quota.violations) == [
        "deployment:a:rpm",
        "deployment:b:rpm",
    ]


async def test_a_deployment_too_slow_for_the_deadline_is_skipped(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b)
    openai_fake.delay = 1.0
    await generate(served)  # a is measured: ~1 s for this size
    response, _ = await generate(served, timeout=duration_pb2.Duration(nanos=500_000_000))
    assert outcomes(response) == [("b", "ok")]
    assert len(openai_fake.requests) == 1


async def test_no_deployment_fast_enough_is_deadline_exceeded(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(deployment(openai_fake, "slow")))
    openai_fake.delay = 1.0
    await generate(served)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served, timeout=duration_pb2.Duration(nanos=300_000_000))
    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "slow: deadline" in failure.details
    assert len(openai_fake.requests) == 1


async def test_a_stream_retries_before_its_first_image(
    serve: ServeFactory, openai_fake: OpenAIFake, fake_b: OpenAIFake
) -> None:
    served = await two_deployment_group(serve, openai_fake, fake_b)
    openai_fake.fail_next(500, SERVER_ERROR)
    request = pb.StreamGenerateImagesRequest(
        prompt="an otter", model="img", size="1024x1024", quality="low", partial_images=1
    )
    events = [event async for event in served.stub.StreamGenerateImages(request)]
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert "image" in kinds or "image_chunk" in kinds
    summary = events[-1].summary
    assert [(a.model_id, a.outcome) for a in summary.attempts] == [
        ("a", "PROVIDER_UNAVAILABLE"),
        ("b", "ok"),
    ]


async def test_the_http_door_takes_fallbacks_and_reports_the_fallback_model(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    import httpx

    served = await serve(
        config(
            deployment(openai_fake, "a"),
            {"model_name": "backup", "litellm_params": {"model": "local/placeholder"}},
        )
    )
    url = served.http_base_url + "/v1/images/generations"
    async with httpx.AsyncClient() as client:
        openai_fake.fail_next(500, SERVER_ERROR)
        answer = await client.post(
            url, json={"prompt": "an otter", "model": "img", "fallbacks": ["backup"]}
        )
        assert answer.status_code == 200
        assert answer.headers["x-imagegen-fallback-model"] == "backup"
        assert answer.headers["x-imagegen-attempts"] == "2"
        openai_fake.fail_next(500, SERVER_ERROR)
        refused = await client.post(
            url,
            json={
                "prompt": "an otter",
                "model": "img",
                "fallbacks": ["backup"],
                "disable_fallbacks": True,
            },
        )
        assert refused.status_code == 503
        assert refused.headers["x-imagegen-attempts"] == "1"


GOOGLE_500 = {"error": {"code": 500, "message": "An internal error.", "status": "INTERNAL"}}


def flash_image(fake: GeminiFake, model_id: str) -> dict[str, Any]:
    # gemini-2.5-flash-image makes one image per call: n fans out over sub-calls.
    return {
        "model_name": "img",
        "litellm_params": {
            "model": "gemini/gemini-2.5-flash-image",
            "api_base": fake.base_url,
            "api_key": fake.api_key,
        },
        "model_info": {"id": model_id},
    }


@pytest.fixture
async def gemini_pair() -> AsyncIterator[tuple[GeminiFake, GeminiFake]]:
    async with GeminiFake() as first, GeminiFake() as second:
        yield first, second


async def fan_out(served: Served, n: int) -> tuple[pb.GenerateImagesResponse, dict[str, str]]:
    call = served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="owls", model="img", n=n))
    response = await call
    return response, text_trailers(await call.trailing_metadata())


async def test_fan_out_sub_calls_spread_over_the_group_and_a_failed_one_is_retried(
    serve: ServeFactory, gemini_pair: tuple[GeminiFake, GeminiFake]
) -> None:
    a, b = gemini_pair
    served = await serve(
        config(
            flash_image(a, "a"),
            flash_image(b, "b"),
            num_retries=1,
            routing_strategy="least-busy",
            fan_out_concurrency=4,
        )
    )
    a.delay = b.delay = 0.2  # all four in flight at once: least-busy spreads them
    a.fail_next(500, GOOGLE_500)
    response, trailers = await fan_out(served, 4)
    assert len(response.images) == 4
    assert len(a.requests) >= 2 and len(b.requests) >= 2
    results = sorted(attempt.outcome for attempt in response.attempts)
    assert results == ["PROVIDER_UNAVAILABLE", "ok", "ok", "ok", "ok"]
    assert {attempt.model_id for attempt in response.attempts} == {"a", "b"}
    assert trailers["x-imagegen-attempts"] == "5"
    assert "x-imagegen-failed-count" not in trailers


async def test_fan_out_partial_policy_returns_what_succeeded_and_says_so(
    serve: ServeFactory, gemini_pair: tuple[GeminiFake, GeminiFake]
) -> None:
    a, _ = gemini_pair
    served = await serve(config(flash_image(a, "a"), fan_out_on_failure="partial"))
    a.fail_next(500, GOOGLE_500)
    response, trailers = await fan_out(served, 3)
    assert len(response.images) == 2
    assert response.failed_count == 1
    assert trailers["x-imagegen-failed-count"] == "1"
    # The two finished sub-calls are billed; the one answered with a 500 is not.
    billed = [Decimal(x.cost) for x in response.attempts if x.outcome == "ok"]
    assert len(billed) == 2
    assert Decimal(response.cost.response_cost) == sum(billed) > 0


async def test_fan_out_fail_policy_fails_the_call_and_reports_the_billed_cost(
    serve: ServeFactory, gemini_pair: tuple[GeminiFake, GeminiFake]
) -> None:
    a, _ = gemini_pair
    served = await serve(config(flash_image(a, "a"), fan_out_on_failure="fail"))
    a.fail_next(500, GOOGLE_500)
    call = served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="owls", model="img", n=3))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    trailers = text_trailers(await call.trailing_metadata())
    assert trailers["x-imagegen-attempts"] == "3"
    assert Decimal(trailers["x-imagegen-response-cost"]) > 0  # the two finished sub-calls
