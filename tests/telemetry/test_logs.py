"""The request log line, field by field, and a scan of everything telemetry emits for a
run with multi-megabyte images: no base64, no image bytes, no keys, no prompts."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.fakes.openai import OpenAIFake
from tests.telemetry.conftest import (
    TRACEPARENT,
    TRACEPARENT_TRACE_ID,
    ObserveFactory,
    openai_config,
    request_lines,
)

BEARER = "sk-caller-virtual-key-5f2b9c"
PROMPT = "a lighthouse on a cliff, secret-prompt-marker"
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [self.format(r) for r in self.records]


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Every record of every logger, at DEBUG."""
    handler = Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
async def fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as running:
        yield running


async def test_the_log_line_field_by_field(
    observe: ObserveFactory, fake: OpenAIFake, captured: Capture
) -> None:
    observed = await observe(openai_config(fake))
    call = observed.stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt=PROMPT, model="gpt-image-1", n=2, size="1024x1536", quality="low"
        ),
        metadata=(("traceparent", TRACEPARENT), ("authorization", f"Bearer {BEARER}")),
    )
    response = await call
    trailers = dict(await call.trailing_metadata())
    [line] = request_lines(captured.records)
    assert isinstance(line.pop("time"), float)
    assert 0 < line.pop("latency_ms") < 30_000
    overhead = line.pop("overhead_ms")
    # The line is written when the gateway is done; the trailer adds the door's own encoding.
    assert 0 < overhead <= float(str(trailers["x-imagegen-overhead-ms"]))
    [attempt] = line.pop("attempt_log")
    assert attempt.pop("duration_ms") > 0
    assert attempt == {
        "number": 1,
        "model": "gpt-image-1",
        "deployment": "gpt-image-1-deployment",
        "provider": "openai",
        "outcome": "ok",
        # One attempt: it cost what the call cost.
        "cost_usd": line["cost_usd"],
    }
    assert Decimal(line["cost_usd"]) > 0
    assert line == {
        "event": "imagegen.request",
        "request_id": trailers["x-imagegen-request-id"],
        "trace_id": TRACEPARENT_TRACE_ID,
        "door": "grpc",
        "key_alias": None,
        "model": "gpt-image-1",
        "deployment": "gpt-image-1-deployment",
        "provider": "openai",
        "provider_model": "gpt-image-1",
        "n": 2,
        "size": "1024x1536",
        "quality": "low",
        "status": "OK",
        "error_reason": None,
        "cost_usd": trailers["x-imagegen-response-cost"],
        "usage": {
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
        },
        "images": 2,
        "filtered": 0,
        "attempts": 1,
        "decisions": [],
        "dropped_params": [],
        "tags": [],
    }
    # The callbacks got the same payload.
    await observed.drain_callbacks()
    [payload] = observed.collected.payloads
    assert payload["request_id"] == trailers["x-imagegen-request-id"]
    assert observed.collected.successes == 1


async def test_failures_and_refusals_before_the_gateway_are_logged(
    observe: ObserveFactory, fake: OpenAIFake, captured: Capture
) -> None:
    observed = await observe(openai_config(fake))
    # An empty prompt does not even parse: the gateway never sees it.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await observed.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="", model="gpt-image-1", request_id="bad-prompt-1")
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fake.fail_next(429, {"error": {"message": "slow down", "type": "rate_limit", "code": None}})
    with pytest.raises(grpc.aio.AioRpcError):
        await observed.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="a fox", model="gpt-image-1")
        )
    async with httpx.AsyncClient(base_url=observed.served.http_base_url) as client:
        broken = await client.post("/v1/images/generations", content=b"{not json")
        assert broken.status_code == 400
    rejected, limited, http_rejected = request_lines(captured.records)
    assert rejected["request_id"] == "bad-prompt-1"
    assert (rejected["door"], rejected["status"], rejected["error_reason"]) == (
        "grpc",
        "INVALID_ARGUMENT",
        "INVALID_PARAMETER",
    )
    assert (rejected["attempts"], rejected["cost_usd"], rejected["deployment"]) == (0, "0", None)
    assert (limited["status"], limited["error_reason"]) == (
        "UNAVAILABLE",
        "PROVIDER_RATE_LIMITED",
    )
    assert limited["attempts"] == 1 and limited["cost_usd"] == "0"
    assert limited["attempt_log"][0]["outcome"] == "PROVIDER_RATE_LIMITED"
    assert (http_rejected["door"], http_rejected["status"]) == ("http", "INVALID_ARGUMENT")
    assert observed.point("imagegen.requests", status="INVALID_ARGUMENT", door="http").value == 1
    await observed.drain_callbacks()
    assert observed.collected.failures == 3


async def test_prompts_and_text_format_when_configured(
    observe: ObserveFactory, fake: OpenAIFake, captured: Capture
) -> None:
    config = openai_config(fake, telemetry_settings={"log_prompts": True, "log_format": "text"})
    observed = await observe(config)
    await observed.stub.GenerateImages(pb.GenerateImagesRequest(prompt=PROMPT, model="gpt-image-1"))
    [text] = [r.getMessage() for r in captured.records if r.name == "imagegen.requests"]
    assert text.startswith("event=imagegen.request ")
    assert " status=OK " in text and " model=gpt-image-1 " in text
    assert f"prompt={json.dumps(PROMPT)}" in text


def noisy_png(size: int) -> bytes:
    """A PNG that does not compress: a few MB for `size`x`size`."""
    image = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def big_answer(png: bytes) -> dict[str, Any]:
    encoded = base64.b64encode(png).decode()
    return {
        "created": int(time.time()),
        "data": [{"b64_json": encoded}, {"b64_json": encoded}],
        "usage": {
            "input_tokens": 12,
            "output_tokens": 8000,
            "total_tokens": 8012,
            "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
        },
        "size": "1024x1024",
        "quality": "high",
        "output_format": "png",
        "background": "opaque",
    }


async def test_no_image_data_or_secret_in_any_log_span_or_payload(
    observe: ObserveFactory, fake: OpenAIFake, captured: Capture
) -> None:
    observed = await observe(openai_config(fake))
    png = noisy_png(1024)
    assert len(png) > 2_000_000
    auth = (("authorization", f"Bearer {BEARER}"), ("traceparent", TRACEPARENT))
    request: dict[str, Any] = {"prompt": PROMPT, "model": "gpt-image-1", "n": 2, "quality": "high"}

    fake.fail_next(200, big_answer(png))
    unary = await observed.stub.GenerateImages(pb.GenerateImagesRequest(**request), metadata=auth)
    assert [image.data for image in unary.images] == [png, png]

    fake.fail_next(200, big_answer(png))
    streamed = b""
    async for message in observed.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(**request), metadata=auth
    ):
        if message.HasField("image_chunk"):
            streamed += message.image_chunk.data
        elif message.HasField("image"):
            streamed += message.image.data
    assert len(streamed) >= len(png)

    # Streaming with previews (the fake's own stream), and a failing call with the key.
    partial: dict[str, Any] = {**request, "n": 1, "partial_images": 2}
    async for _ in observed.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(**partial), metadata=auth
    ):
        pass
    fake.fail_next(401, {"error": {"message": f"Incorrect API key provided: {fake.api_key}"}})
    with pytest.raises(grpc.aio.AioRpcError):
        await observed.stub.GenerateImages(pb.GenerateImagesRequest(**request), metadata=auth)

    fake.fail_next(200, big_answer(png))
    async with httpx.AsyncClient(base_url=observed.served.http_base_url, timeout=30) as client:
        answer = await client.post(
            "/v1/images/generations",
            json={**request, "response_format": "b64_json"},
            headers={"Authorization": f"Bearer {BEARER}", "traceparent": TRACEPARENT},
        )
        assert answer.status_code == 200
        assert answer.json()["data"][0]["b64_json"] == base64.b64encode(png).decode()
        fake.fail_next(200, big_answer(png))
        async with client.stream(
            "POST",
            "/v1/images/generations",
            json={**request, "stream": True},
            headers={"Authorization": f"Bearer {BEARER}"},
        ) as events:
            body = b"".join([chunk async for chunk in events.aiter_bytes()])
        assert base64.b64encode(png)[:1000] in body

    await observed.drain_callbacks()
    lines = request_lines(captured.records)
    assert [line["status"] for line in lines] == [
        "OK",
        "OK",
        "OK",
        "FAILED_PRECONDITION",
        "OK",
        "OK",
    ]
    spans = observed.finished_spans()
    assert len(spans) >= 12
    emitted = {
        "log records": captured.texts(),
        "spans": [span.to_json() for span in spans],
        "callback payloads": [json.dumps(p) for p in observed.collected.payloads],
    }
    assert len(emitted["callback payloads"]) == 6
    for where, texts in emitted.items():
        for text in texts:
            assert not BASE64_RUN.search(text), (where, text[:300])
            assert fake.api_key not in text, where
            assert BEARER not in text, where
            assert "secret-prompt-marker" not in text, where
