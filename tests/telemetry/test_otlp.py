"""OTLP export to a real OTLP/HTTP receiver on loopback, configured by the standard
OTEL_EXPORTER_OTLP_ENDPOINT variable, through the server as `imagegen serve` builds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.config import parse_settings
from imagegen.server.app import start_server
from tests.fakes.openai import OpenAIFake
from tests.telemetry.conftest import TRACEPARENT, TRACEPARENT_TRACE_ID, openai_config


class OtlpReceiver:
    """Accepts OTLP/HTTP protobuf exports, as a collector does."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        app = web.Application()
        app.router.add_post("/v1/traces", self.on_traces)
        app.router.add_post("/v1/metrics", self.on_metrics)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        self.endpoint = ""

    async def on_traces(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        self.traces.append(message)
        return web.Response(content_type="application/x-protobuf")

    async def on_metrics(self, request: web.Request) -> web.Response:
        message = ExportMetricsServiceRequest()
        message.ParseFromString(await request.read())
        self.metrics.append(message)
        return web.Response(content_type="application/x-protobuf")

    async def __aenter__(self) -> OtlpReceiver:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.endpoint = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as running:
        yield running


def attributes(items: Any) -> dict[str, Any]:
    return {
        kv["key"]: next(iter(kv["value"].values())) for kv in MessageToDict(items)["attributes"]
    }


async def test_spans_and_metrics_reach_an_otlp_receiver(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    async with OpenAIFake() as fake:
        settings = parse_settings(
            openai_config(fake, telemetry_settings={"service_name": "imagegen-otlp-test"})
        )
        running = await start_server(settings, host="127.0.0.1", port=0, http_port=None)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = pb_grpc.ImageGenerationStub(channel)
                await stub.GenerateImages(
                    pb.GenerateImagesRequest(prompt="a fox", model="gpt-image-1"),
                    metadata=(("traceparent", TRACEPARENT),),
                )
        finally:
            # Shutting down flushes the batch span processor and the metric reader.
            await running.stop(grace=0)

    spans = [
        (resource, span)
        for export in receiver.traces
        for resource in export.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert len(spans) == 2
    resource = attributes(spans[0][0].resource)
    assert resource["service.name"] == "imagegen-otlp-test"
    by_name = {span.name: span for _, span in spans}
    server = by_name["/imagegen.v1.ImageGeneration/GenerateImages"]
    attempt = by_name["generate_content gpt-image-1"]
    assert server.trace_id.hex() == TRACEPARENT_TRACE_ID
    assert attempt.trace_id.hex() == TRACEPARENT_TRACE_ID
    assert attempt.parent_span_id == server.span_id
    assert server.kind == server.SPAN_KIND_SERVER
    assert attempt.kind == attempt.SPAN_KIND_CLIENT
    sent = attributes(attempt)
    assert sent["gen_ai.operation.name"] == "generate_content"
    assert sent["gen_ai.provider.name"] == "openai"
    assert sent["gen_ai.output.type"] == "image"
    assert sent["imagegen.deployment"] == "gpt-image-1-deployment"
    assert int(sent["gen_ai.usage.output_tokens"]) > 0

    names = {
        metric.name: metric
        for export in receiver.metrics
        for resource_metrics in export.resource_metrics
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
    }
    requests = names["imagegen.requests"].sum.data_points
    assert [attributes(p)["status"] for p in requests] == ["OK"]
    assert [p.as_int for p in requests] == [1]
    assert "imagegen.provider.attempt.duration" in names
