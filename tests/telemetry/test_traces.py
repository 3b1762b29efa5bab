"""Spans of a running server, read back from an in-memory exporter field by field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
import yaml
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.errors import InvalidRequestError
from imagegen.events import Decision, RequestState
from imagegen.hooks import RequestHook
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.telemetry.conftest import (
    TRACEPARENT,
    TRACEPARENT_PARENT_ID,
    TRACEPARENT_TRACE_ID,
    ObserveFactory,
    openai_config,
)

GENERATE = "/imagegen.v1.ImageGeneration/GenerateImages"
STREAM = "/imagegen.v1.ImageGeneration/StreamGenerateImages"


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def by_kind(spans: list[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return sorted(
        (s for s in spans if s.kind is kind), key=lambda s: int(attrs(s).get("imagegen.attempt", 0))
    )


def text_trailers(metadata: Any) -> dict[str, str]:
    return {k: v for k, v in metadata if isinstance(v, str)}


@pytest.fixture
async def fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as running:
        yield running


async def test_unary_call_continues_the_callers_trace_with_one_attempt_span(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    observed = await observe(openai_config(fake))
    call = observed.stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt="a red fox", model="gpt-image-1", size="1024x1024", quality="low"
        ),
        metadata=(("traceparent", TRACEPARENT),),
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())

    spans = observed.finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    [attempt] = by_kind(spans, SpanKind.CLIENT)
    assert len(spans) == 2
    # The caller's trace goes on: same trace id, the caller's span is the parent.
    assert server.name == GENERATE
    assert format(server.context.trace_id, "032x") == TRACEPARENT_TRACE_ID
    assert server.parent is not None and server.parent.is_remote
    assert format(server.parent.span_id, "016x") == TRACEPARENT_PARENT_ID
    assert server.status.status_code is StatusCode.UNSET
    assert attrs(server)["imagegen.request_id"] == trailers["x-imagegen-request-id"]
    assert attrs(server)["imagegen.status"] == "OK"
    assert attrs(server)["imagegen.model"] == "gpt-image-1"
    assert attrs(server)["imagegen.deployment"] == "gpt-image-1-deployment"
    assert attrs(server)["imagegen.cost_usd"] == trailers["x-imagegen-response-cost"]
    assert attrs(server)["imagegen.door"] == "grpc"
    assert attrs(server)["imagegen.image_count"] == 1

    assert attempt.name == "generate_content gpt-image-1"
    assert attempt.context.trace_id == server.context.trace_id
    assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id
    assert attempt.status.status_code is StatusCode.UNSET
    usage = response.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert attrs(attempt) == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-image-1",
        "gen_ai.response.model": "gpt-image-1",
        "gen_ai.output.type": "image",
        "gen_ai.request.choice.count": 1,
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "server.address": "127.0.0.1",
        "imagegen.model": "gpt-image-1",
        "imagegen.deployment": "gpt-image-1-deployment",
        "imagegen.attempt": 1,
        "imagegen.request_id": trailers["x-imagegen-request-id"],
        "imagegen.size": "1024x1024",
        "imagegen.quality": "low",
        "imagegen.operation": "generate",
        "imagegen.outcome": "ok",
        "imagegen.image_count": 1,
        # One attempt: its cost is the call's.
        "imagegen.cost_usd": trailers["x-imagegen-response-cost"],
    }
    assert Decimal(trailers["x-imagegen-response-cost"]) > 0
    assert attempt.start_time is not None and server.start_time is not None
    assert attempt.end_time is not None and server.end_time is not None
    assert server.start_time <= attempt.start_time <= attempt.end_time <= server.end_time


async def test_a_provider_failure_marks_the_attempt_and_the_server_span(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    observed = await observe(openai_config(fake))
    fake.fail_next(
        400,
        {"error": {"message": "bad size", "type": "invalid_request_error", "code": None}},
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await observed.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="a fox", model="gpt-image-1")
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    spans = observed.finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    [attempt] = by_kind(spans, SpanKind.CLIENT)
    assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.status.description == "PROVIDER_INVALID_REQUEST"
    assert attrs(attempt)["error.type"] == "PROVIDER_INVALID_REQUEST"
    assert attrs(attempt)["imagegen.outcome"] == "PROVIDER_INVALID_REQUEST"
    assert attrs(attempt)["imagegen.cost_usd"] == "0"
    assert "gen_ai.usage.input_tokens" not in attrs(attempt)
    # INVALID_ARGUMENT is the caller's mistake, not the server's: no error status on a
    # SERVER span (RPC semantic conventions); the code and reason are attributes.
    assert server.status.status_code is StatusCode.UNSET
    assert attrs(server)["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert attrs(server)["imagegen.status"] == "INVALID_ARGUMENT"
    assert attrs(server)["error.type"] == "PROVIDER_INVALID_REQUEST"
    # No trace id from a caller: the server span starts the trace.
    assert server.parent is None


async def test_fan_out_sub_calls_are_sibling_children_of_the_server_span(
    observe: ObserveFactory,
) -> None:
    async with GeminiFake() as gemini:
        entry = {
            "model_name": "flash-image",
            "litellm_params": {
                "model": "gemini/gemini-2.5-flash-image",
                "api_base": gemini.base_url,
                "api_key": gemini.api_key,
            },
        }
        observed = await observe(yaml.safe_dump({"model_list": [entry]}))
        # One image per Gemini call: n=3 is three parallel provider calls in child tasks.
        await observed.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="three owls", model="flash-image", n=3),
            metadata=(("traceparent", TRACEPARENT),),
        )
    spans = observed.finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    attempts = by_kind(spans, SpanKind.CLIENT)
    assert [attrs(a)["imagegen.attempt"] for a in attempts] == [1, 2, 3]
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id
        assert attempt.context.trace_id == int(TRACEPARENT_TRACE_ID, 16)
        assert attrs(attempt)["gen_ai.request.choice.count"] == 1
        assert attrs(attempt)["imagegen.image_count"] == 1
        assert attrs(attempt)["gen_ai.provider.name"] == "gemini"
        assert attrs(attempt)["gen_ai.request.model"] == "gemini-2.5-flash-image"
    assert attrs(server)["imagegen.image_count"] == 3


async def test_streaming_call_has_its_server_span_and_attempt(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    observed = await observe(openai_config(fake))
    messages = [
        m
        async for m in observed.stub.StreamGenerateImages(
            pb.StreamGenerateImagesRequest(prompt="a fox", model="gpt-image-1", partial_images=1),
            metadata=(("traceparent", TRACEPARENT),),
        )
    ]
    assert messages
    spans = observed.finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    [attempt] = by_kind(spans, SpanKind.CLIENT)
    assert server.name == STREAM
    assert format(server.context.trace_id, "032x") == TRACEPARENT_TRACE_ID
    assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id
    assert attrs(attempt)["imagegen.outcome"] == "ok"
    assert attrs(attempt)["gen_ai.usage.output_tokens"] > 0


async def test_http_door_continues_the_trace_from_the_traceparent_header(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    observed = await observe(openai_config(fake))
    async with httpx.AsyncClient(base_url=observed.served.http_base_url) as client:
        response = await client.post(
            "/v1/images/generations",
            json={"prompt": "a fox", "model": "gpt-image-1"},
            headers={"traceparent": TRACEPARENT},
        )
        assert response.status_code == 200
        refused = await client.post(
            "/v1/images/generations", json={"prompt": "a fox", "model": "no-such-model"}
        )
        assert refused.status_code == 404
    spans = observed.finished_spans()
    servers = by_kind(spans, SpanKind.SERVER)
    [attempt] = by_kind(spans, SpanKind.CLIENT)
    ok = next(s for s in servers if attrs(s)["http.response.status_code"] == 200)
    assert ok.name == "POST /v1/images/generations"
    assert attrs(ok)["http.request.method"] == "POST"
    assert attrs(ok)["http.route"] == "/v1/images/generations"
    assert attrs(ok)["imagegen.door"] == "http"
    assert format(ok.context.trace_id, "032x") == TRACEPARENT_TRACE_ID
    assert ok.parent is not None and format(ok.parent.span_id, "016x") == TRACEPARENT_PARENT_ID
    assert attempt.parent is not None and attempt.parent.span_id == ok.context.span_id
    missing = next(s for s in servers if attrs(s)["http.response.status_code"] == 404)
    # A 4xx is the caller's mistake: not an error of the server span (HTTP conventions).
    assert missing.status.status_code is StatusCode.UNSET
    assert attrs(missing)["imagegen.status"] == "NOT_FOUND"
    assert attrs(missing)["error.type"] == "MODEL_NOT_FOUND"


class Deciding(RequestHook):
    """Stands in for guardrails and the router: records decisions, optionally refuses."""

    name = "deciding"

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    async def on_request(self, state: RequestState) -> None:
        state.decisions.append(Decision("router", "fallback", "skip", "no fallback configured"))
        if self.refuse or "blocked" in state.request.prompt:
            state.decisions.append(Decision("guardrail", "blocklist", "block", "matched a term"))
            raise InvalidRequestError("blocked by a guardrail")
        state.decisions.append(Decision("guardrail", "blocklist", "allow"))


async def test_decisions_become_server_span_events(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    observed = await observe(openai_config(fake), hooks=[Deciding(refuse=False)])
    await observed.stub.GenerateImages(pb.GenerateImagesRequest(prompt="fox", model="gpt-image-1"))
    with pytest.raises(grpc.aio.AioRpcError):
        await observed.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="blocked fox", model="gpt-image-1")
        )
    servers = by_kind(observed.finished_spans(), SpanKind.SERVER)
    assert len(by_kind(observed.finished_spans(), SpanKind.CLIENT)) == 1
    allowed, blocked = sorted(servers, key=lambda s: s.start_time or 0)

    def events(span: ReadableSpan) -> list[tuple[str, dict[str, object]]]:
        # (The grpc instrumentation adds an "exception" event for the abort.)
        return [
            (e.name, dict(e.attributes or {}))
            for e in span.events
            if e.name.startswith("imagegen.")
        ]

    assert events(allowed) == [
        (
            "imagegen.router",
            {
                "imagegen.decision.name": "fallback",
                "imagegen.decision.action": "skip",
                "imagegen.decision.detail": "no fallback configured",
            },
        ),
        (
            "imagegen.guardrail",
            {
                "imagegen.decision.name": "blocklist",
                "imagegen.decision.action": "allow",
                "imagegen.decision.detail": "",
            },
        ),
    ]
    assert events(blocked)[-1] == (
        "imagegen.guardrail",
        {
            "imagegen.decision.name": "blocklist",
            "imagegen.decision.action": "block",
            "imagegen.decision.detail": "matched a term",
        },
    )
    assert attrs(blocked)["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert attrs(blocked)["error.type"] == "INVALID_PARAMETER"
    assert (
        observed.point("imagegen.guardrail.outcomes", guardrail="blocklist", action="block").value
        == 1
    )
    assert (
        observed.point("imagegen.guardrail.outcomes", guardrail="blocklist", action="allow").value
        == 1
    )
    assert observed.point("imagegen.router.decisions", step="fallback", action="skip").value == 2
