"""Traces and metrics of edits: the server span and each provider-attempt span carry the
operation, the input count and the input bytes, and never the inputs themselves, the prompt or
their base64; the request counter counts edits by operation."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.fakes.openai import OpenAIFake
from tests.telemetry.conftest import ObserveFactory, openai_config
from tests.telemetry.test_edit_logs import mask_png, noisy_png

EDIT = "/imagegen.v1.ImageGeneration/EditImages"
PROMPT = "a lighthouse at dusk, painted in gouache"


@pytest.fixture
async def fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as running:
        yield running


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def every_value(span: ReadableSpan) -> list[str]:
    values = [str(v) for v in attrs(span).values()]
    for event in span.events:
        values += [str(v) for v in (event.attributes or {}).values()]
    return values


async def test_edit_spans_carry_operation_count_and_bytes_never_content(
    observe: ObserveFactory, fake: OpenAIFake
) -> None:
    observed = await observe(openai_config(fake))
    first, second, mask = noisy_png(64, 48, 1), noisy_png(32, 32, 2), mask_png(64, 48)

    await observed.stub.EditImages(
        pb.EditImagesRequest(
            prompt=PROMPT,
            model="gpt-image-1",
            images=[first, second],
            mask=mask,
            operation=pb.EDIT_OPERATION_INPAINT,
        )
    )

    spans = observed.finished_spans()
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    [attempt] = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert server.name == EDIT
    expected = {
        "imagegen.operation": "inpaint",
        "imagegen.input_images": 2,
        "imagegen.input_bytes": len(first) + len(second) + len(mask),
    }
    for span in (server, attempt):
        assert attrs(span).items() >= expected.items(), span.name
        values = every_value(span)
        assert not any(PROMPT in value or "lighthouse" in value for value in values)
        for data in (first, second, mask):
            encoded = base64.b64encode(data).decode()
            assert not any(encoded[:48] in value for value in values)
            assert not any(data[:48].hex() in value for value in values)


async def test_requests_are_counted_by_operation(observe: ObserveFactory, fake: OpenAIFake) -> None:
    observed = await observe(openai_config(fake))
    image = noisy_png(32, 32, 3)

    await observed.stub.GenerateImages(pb.GenerateImagesRequest(prompt="x", model="gpt-image-1"))
    for _ in range(2):
        await observed.stub.EditImages(
            pb.EditImagesRequest(prompt="x", model="gpt-image-1", images=[image])
        )

    ok = {"model": "gpt-image-1", "status": "OK", "door": "grpc"}
    assert observed.point("imagegen.requests", **ok, operation="generate").value == 1
    assert observed.point("imagegen.requests", **ok, operation="edit").value == 2
    # Spans finish in call order: the first attempt span is the generation's.
    generation = next(s for s in observed.finished_spans() if s.kind is SpanKind.CLIENT)
    assert attrs(generation)["imagegen.operation"] == "generate"
    assert "imagegen.input_images" not in attrs(generation)
