"""The gRPC service end to end: trailers, streaming, deadlines, cancellation, health,
reflection, graceful shutdown and large responses, against a real server and the fakes."""

from __future__ import annotations

import asyncio
import base64
import io
import random
import time
from decimal import Decimal
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import descriptor_pool, json_format, message_factory
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import embedded_settings
from tests.conftest import TRAILER_KEYS, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.fakes.xinference import XinferenceFake

SERVICE = "imagegen.v1.ImageGeneration"


def openai_config(fake: OpenAIFake, **server_settings: Any) -> str:
    entries = [
        {
            "model_name": model,
            "litellm_params": {
                "model": f"openai/{model}",
                "api_key": fake.api_key,
                "api_base": f"{fake.base_url}/v1",
            },
            "model_info": {"id": f"oai-{model}"},
        }
        for model in ("gpt-image-1", "dall-e-3")
    ]
    document: dict[str, Any] = {"model_list": entries}
    if server_settings:
        document["server_settings"] = server_settings
    return yaml.safe_dump(document)


def text_trailers(metadata: Any) -> dict[str, str]:
    return {key: value for key, value in metadata or () if isinstance(value, str)}


def assert_png(data: bytes, size: tuple[int, int] | None = None) -> None:
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "PNG"
    if size is not None:
        assert decoded.size == size


def assert_trailers_match(trailers: dict[str, str], cost: pb.CostRecord) -> None:
    assert trailers.keys() >= TRAILER_KEYS
    assert trailers["x-imagegen-response-cost"] == cost.response_cost
    assert trailers["x-imagegen-model-id"] == cost.model_id
    assert trailers["x-imagegen-provider"] == cost.provider
    assert trailers["x-imagegen-api-base"] == cost.api_base
    assert trailers["x-imagegen-attempts"] == str(cost.attempts)
    assert trailers["x-imagegen-request-id"] == cost.request_id
    assert float(trailers["x-imagegen-overhead-ms"]) >= 0


# ----------------------------------------------------------------------------- trailers


async def test_unary_success_sends_every_trailer_matching_the_cost_record(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="an otter", model="gpt-image-1", request_id="req-123")
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())

    assert_trailers_match(trailers, response.cost)
    assert trailers["x-imagegen-model-id"] == "oai-gpt-image-1"
    assert trailers["x-imagegen-provider"] == "openai"
    assert trailers["x-imagegen-api-base"] == f"{openai_fake.base_url}/v1"
    assert trailers["x-imagegen-attempts"] == "1"
    assert trailers["x-imagegen-request-id"] == "req-123"
    # gpt-image-1 is priced per token from the usage the fake returned.
    assert Decimal(trailers["x-imagegen-response-cost"]) > 0
    assert response.cost.provider_model == "gpt-image-1"
    assert response.usage.output_tokens > 0
    (image,) = response.images
    assert_png(image.data)


async def test_model_without_price_reports_unknown_cost_on_success(
    serve: ServeFactory, xinference_fake: XinferenceFake
) -> None:
    served = await serve(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "sd3",
                        "litellm_params": {
                            "model": "xinference/sd3-medium",
                            "api_base": xinference_fake.base_url,
                        },
                    }
                ]
            }
        )
    )
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="an otter", model="sd3", size="64x64")
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())

    assert_trailers_match(trailers, response.cost)
    assert trailers["x-imagegen-response-cost"] == "unknown"
    assert response.cost.response_cost == "unknown"
    assert trailers["x-imagegen-provider"] == "xinference"
    # No request_id was sent: the server makes one up and reports it.
    assert len(trailers["x-imagegen-request-id"]) >= 16
    assert len(response.images) == 1


# ----------------------------------------------------------------------------- streaming


async def test_stream_yields_one_event_per_image_then_summary_then_trailers(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="three otters", model="gpt-image-1", n=3)
    )
    events = [event async for event in call]
    trailers = text_trailers(await call.trailing_metadata())

    kinds = [event.WhichOneof("event") for event in events]
    assert kinds == ["accepted"] + ["image"] * 3 + ["summary"]
    accepted = events[0].accepted
    assert (accepted.model, accepted.model_id, accepted.provider, accepted.n) == (
        "gpt-image-1",
        "oai-gpt-image-1",
        "openai",
        3,
    )
    assert [event.image.index for event in events[1:4]] == [0, 1, 2]
    for event in events[1:4]:
        assert event.image.mime_type == "image/png"
        assert_png(event.image.data)
    summary = events[4].summary
    assert summary.image_count == 3
    assert summary.usage.total_tokens > 0
    assert summary.usage.output_tokens > 0
    assert Decimal(summary.cost.response_cost) > 0
    assert_trailers_match(trailers, summary.cost)
    assert trailers["x-imagegen-model-id"] == "oai-gpt-image-1"
    assert await call.code() == grpc.StatusCode.OK


async def test_stream_error_before_any_image_ends_with_status_and_trailers(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="something forbidden", model="gpt-image-1")
    )
    events: list[pb.StreamGenerateImagesResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for event in call:
            events.append(event)

    # The request was valid and routed, so the stream was accepted; then the provider refused.
    assert [event.WhichOneof("event") for event in events] == ["accepted"]
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    trailers = text_trailers(error.trailing_metadata())
    assert trailers.keys() >= TRAILER_KEYS
    assert trailers["x-imagegen-response-cost"] == "0"
    assert trailers["x-imagegen-provider"] == "openai"
    assert trailers["x-imagegen-model-id"] == "oai-gpt-image-1"
    assert trailers["x-imagegen-attempts"] == "1"


# ----------------------------------------------------------------------------- deadlines


async def test_grpc_deadline_ends_call_and_aborts_upstream(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="hang", model="gpt-image-1"), timeout=1
        )
    elapsed = time.monotonic() - started

    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.9 <= elapsed < 2.5
    await asyncio.wait_for(openai_fake.disconnected.wait(), 5)


async def test_request_timeout_applies_without_grpc_deadline(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    request = pb.GenerateImagesRequest(prompt="hang", model="gpt-image-1")
    request.timeout.seconds = 1
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(request)
    elapsed = time.monotonic() - started

    error = caught.value
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.9 <= elapsed < 2.5
    # A rich status means the server, not the client library, ended the call.
    status = rpc_status.from_call(error)
    assert status is not None
    assert status.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "DEADLINE_EXCEEDED"
    assert info.domain == "imagegen"
    trailers = text_trailers(error.trailing_metadata())
    assert trailers.keys() >= TRAILER_KEYS
    # The provider may have started generating (and billing) before the call broke off.
    assert trailers["x-imagegen-response-cost"] == "unknown"
    assert trailers["x-imagegen-provider"] == "openai"
    await asyncio.wait_for(openai_fake.disconnected.wait(), 5)


# ----------------------------------------------------------------------------- cancellation


async def test_cancelled_unary_call_aborts_upstream_request(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="hang", model="gpt-image-1"))
    await asyncio.wait_for(openai_fake.received.wait(), 5)
    assert not openai_fake.disconnected.is_set()

    assert call.cancel()
    await asyncio.wait_for(openai_fake.disconnected.wait(), 5)
    assert call.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_cancelled_stream_aborts_upstream_request(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="hang", model="gpt-image-1")
    )
    await asyncio.wait_for(openai_fake.received.wait(), 5)
    assert not openai_fake.disconnected.is_set()

    assert call.cancel()
    await asyncio.wait_for(openai_fake.disconnected.wait(), 5)
    assert call.cancelled()


# ----------------------------------------------------------------------------- health


async def test_health_serving_then_not_serving_in_graceful_shutdown(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    health = health_pb2_grpc.HealthStub(served.channel)
    for name in ("", SERVICE):
        response = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING

    await served.running.health.enter_graceful_shutdown()
    for name in ("", SERVICE):
        response = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING


# ----------------------------------------------------------------------------- reflection


def _reflect(address: str) -> tuple[list[str], Any]:
    """Service names and the GenerateImages method descriptor, from reflection alone."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = list(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName(SERVICE)
        # Resolve every type the call needs while the channel is open.
        request_type = pool.FindMessageTypeByName("imagegen.v1.GenerateImagesRequest")
        method = service.methods_by_name["GenerateImages"]
        assert method.input_type is request_type
        return services, method


async def test_reflection_lists_services_and_resolves_types_by_name(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    services, method = await asyncio.to_thread(_reflect, served.address)

    assert set(services) >= {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert method.containing_service.full_name == SERVICE
    assert method.output_type.full_name == "imagegen.v1.GenerateImagesResponse"
    assert method.input_type.fields_by_name["prompt"].number == 1
    assert method.input_type.fields_by_name["provider_params"].message_type.full_name == (
        "google.protobuf.Struct"
    )
    # Built from the server's answers, not from the generated module imported here.
    assert method.input_type.file.pool is not descriptor_pool.Default()


async def test_call_built_from_reflection_alone_returns_png_with_trailers(
    serve: ServeFactory,
) -> None:
    served = await serve(embedded_settings())
    _, method = await asyncio.to_thread(_reflect, served.address)
    # Built from the reflected descriptor: typed as Any, its fields are known only at run time.
    request_class: Any = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    generate = served.channel.unary_unary(
        f"/{SERVICE}/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )

    # A class made from a descriptor has no typed fields: fill it the way grpcurl does, from JSON.
    request = json_format.ParseDict(
        {"prompt": "a reflected otter", "model": "placeholder", "size": "96x64"}, request_class()
    )
    call = generate(request)
    response: Any = await call
    trailers = text_trailers(await call.trailing_metadata())

    assert not isinstance(response, pb.GenerateImagesResponse)
    (image,) = response.images
    assert image.mime_type == "image/png"
    assert_png(image.data, (96, 64))
    assert trailers.keys() >= TRAILER_KEYS
    assert all(trailers[key] for key in TRAILER_KEYS)
    assert trailers["x-imagegen-response-cost"] == "0"
    assert trailers["x-imagegen-model-id"] == "local/placeholder"
    assert trailers["x-imagegen-provider"] == "local"
    assert trailers["x-imagegen-attempts"] == "1"
    assert response.cost.response_cost == "0"


# ----------------------------------------------------------------------------- shutdown


async def test_graceful_shutdown_finishes_in_flight_call_and_refuses_new_ones(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    openai_fake.delay = 1.0
    request = pb.GenerateImagesRequest(prompt="a slow otter", model="gpt-image-1")
    call = served.stub.GenerateImages(request)
    await asyncio.wait_for(openai_fake.received.wait(), 5)

    stopping = asyncio.create_task(served.running.stop(grace=5))
    response = await call
    await stopping

    assert len(response.images) == 1
    assert await call.code() == grpc.StatusCode.OK
    assert not openai_fake.disconnected.is_set()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


# ----------------------------------------------------------------------------- large responses


def _noise_png(width: int, height: int) -> bytes:
    # Random pixels do not compress: each image is about width * height * 3 bytes.
    pixels = random.Random(0).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


async def test_multi_megabyte_unary_response_needs_and_gets_raised_receive_limit(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    png = _noise_png(1024, 1024)
    encoded = base64.b64encode(png).decode("ascii")
    body = {
        "created": 1,
        "data": [{"b64_json": encoded} for _ in range(3)],
        "usage": {"input_tokens": 10, "output_tokens": 3 * 4160, "total_tokens": 3 * 4160 + 10},
    }
    request = pb.GenerateImagesRequest(prompt="three noisy otters", model="gpt-image-1", n=3)

    openai_fake.fail_next(200, body)
    response = await served.stub.GenerateImages(request)
    assert response.ByteSize() > 3 * len(png) > 8 * 1024 * 1024
    assert [image.data == png for image in response.images] == [True] * 3

    # The same answer does not fit grpc's default 4 MiB receive limit.
    openai_fake.fail_next(200, body)
    async with grpc.aio.insecure_channel(served.address) as default_channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await default_channel.unary_unary(
                f"/{SERVICE}/GenerateImages",
                request_serializer=pb.GenerateImagesRequest.SerializeToString,
                response_deserializer=pb.GenerateImagesResponse.FromString,
            )(request)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
