"""StreamGenerateImages: accepted → progress / partial previews → images (chunked when large)
→ summary, with cancellation reaching the provider."""

from __future__ import annotations

import asyncio
import base64
import io
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
import pytest
import yaml
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.client import AsyncImageGenClient, ImageGenClient
from imagegen.config import embedded_settings
from imagegen.errors import UnsupportedParameterError
from tests.conftest import TRAILER_KEYS, ServeFactory
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake


@pytest.fixture
async def gemini_fake() -> AsyncIterator[GeminiFake]:
    async with GeminiFake() as fake:
        yield fake


def openai_config(fake: OpenAIFake, **server: Any) -> str:
    entry = {
        "model_name": "gpt-image-1",
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": f"{fake.base_url}/v1",
            "api_key": fake.api_key,
        },
    }
    return yaml.safe_dump({"model_list": [entry], "server_settings": server})


def kinds(events: list[pb.StreamGenerateImagesResponse]) -> list[str | None]:
    return [event.WhichOneof("event") for event in events]


async def test_partial_previews_are_relayed_before_the_finished_image(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(
            prompt="a fox", model="gpt-image-1", size="1024x1024", quality="low", partial_images=2
        )
    )
    events = [event async for event in call]
    trailers = dict(await call.trailing_metadata())

    sent = openai_fake.last_request.json
    assert sent["stream"] is True
    assert sent["partial_images"] == 2
    assert kinds(events) == ["accepted", "partial_image", "partial_image", "image", "summary"]
    previews = [event.partial_image for event in events[1:3]]
    assert [(p.index, p.partial_index) for p in previews] == [(0, 0), (0, 1)]
    for preview in previews:
        assert Image.open(io.BytesIO(preview.data)).format == "PNG"
    assert Image.open(io.BytesIO(events[3].image.data)).size == (1024, 1024)
    summary = events[4].summary
    assert summary.image_count == 1
    assert summary.usage.output_tokens > 0
    # Priced from the streamed usage, like a unary call.
    assert Decimal(summary.cost.response_cost) > 0
    assert trailers["x-imagegen-response-cost"] == summary.cost.response_cost
    assert trailers.keys() >= TRAILER_KEYS


async def test_partial_images_on_a_model_that_streams_none_is_unsupported(
    serve: ServeFactory,
) -> None:
    served = await serve(embedded_settings())
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="otter", size="64x64", partial_images=1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call:
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    assert "partial_images" in status.message


async def test_mid_stream_provider_error_ends_the_stream_with_a_status(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(
            prompt="a streamerror fox", model="gpt-image-1", partial_images=1
        )
    )
    events: list[pb.StreamGenerateImagesResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for event in call:
            events.append(event)
    assert kinds(events)[0] == "accepted"
    assert caught.value.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    trailers = dict(caught.value.trailing_metadata() or ())
    # The stream broke off after the request was sent: the provider may have billed.
    assert trailers["x-imagegen-response-cost"] == "unknown"


async def test_keepalive_progress_events_while_the_provider_works(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    openai_fake.delay = 0.5
    served = await serve(openai_config(openai_fake, stream_keepalive_seconds=0.1))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="a fox", model="gpt-image-1", quality="low")
    )
    events = [event async for event in call]

    assert kinds(events)[0] == "accepted"
    progress = [event.progress for event in events if event.WhichOneof("event") == "progress"]
    assert len(progress) >= 2
    elapsed = [p.elapsed.ToTimedelta().total_seconds() for p in progress]
    assert elapsed == sorted(elapsed)
    assert all(p.images_done == 0 for p in progress)
    assert kinds(events)[-2:] == ["image", "summary"]


async def test_large_images_arrive_in_chunks_a_default_client_can_receive(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    big = os.urandom(8 * 1024 * 1024)
    openai_fake.fail_next(
        200,
        {
            "created": 1,
            "data": [{"b64_json": base64.b64encode(big).decode()}],
            "usage": {"input_tokens": 3, "output_tokens": 272, "total_tokens": 275},
        },
    )
    served = await serve(openai_config(openai_fake))
    # A channel with gRPC's default 4 MiB receive limit.
    async with grpc.aio.insecure_channel(served.address) as channel:
        stub = pb_grpc.ImageGenerationStub(channel)
        call = stub.StreamGenerateImages(
            pb.StreamGenerateImagesRequest(prompt="a big fox", model="gpt-image-1")
        )
        events = [event async for event in call]

    chunks = [event.image_chunk for event in events if event.WhichOneof("event") == "image_chunk"]
    assert len(chunks) == 4  # 8 MiB in 2 MiB pieces
    assert max(len(event.SerializeToString()) for event in events) < 4 * 1024 * 1024
    assert chunks[0].total_bytes == len(big)
    assert chunks[0].mime_type == "image/png"
    assert [c.last for c in chunks] == [False, False, False, True]
    assert {c.index for c in chunks} == {0}
    assert b"".join(c.data for c in chunks) == big
    assert kinds(events)[-1] == "summary"


async def test_cancelling_a_stream_aborts_the_provider_request(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="hang on", model="gpt-image-1", partial_images=1)
    )
    first = await call.read()
    assert isinstance(first, pb.StreamGenerateImagesResponse)
    assert first.WhichOneof("event") == "accepted"
    await asyncio.wait_for(openai_fake.received.wait(), 5)
    call.cancel()
    await asyncio.wait_for(openai_fake.disconnected.wait(), 5)
    assert openai_fake.disconnects == 1


async def test_async_client_reassembles_chunks_and_sync_client_streams_too(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    big = os.urandom(5 * 1024 * 1024)
    openai_fake.fail_next(
        200, {"created": 1, "data": [{"b64_json": base64.b64encode(big).decode()}]}
    )
    served = await serve(openai_config(openai_fake))
    async with AsyncImageGenClient(served.address, max_message_bytes=4 * 1024 * 1024) as client:
        events = [
            event async for event in client.stream_generate_images("a big fox", model="gpt-image-1")
        ]
    assert kinds(events) == ["accepted", "image", "summary"]
    assert events[1].image.data == big

    def sync_stream() -> list[pb.StreamGenerateImagesResponse]:
        with ImageGenClient(served.address) as client:
            return list(
                client.stream_generate_images(
                    "a fox", model="gpt-image-1", quality="low", partial_images=1
                )
            )

    streamed = await asyncio.to_thread(sync_stream)
    assert kinds(streamed) == ["accepted", "partial_image", "image", "summary"]


async def test_leaving_the_client_loop_early_cancels_the_provider_request(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    async with AsyncImageGenClient(served.address) as client:
        stream = client.stream_generate_images("hang on", model="gpt-image-1")
        async for event in stream:
            assert event.WhichOneof("event") == "accepted"
            break
        await stream.aclose()
        await asyncio.wait_for(openai_fake.disconnected.wait(), 5)


async def test_stream_errors_raise_the_servers_error_class(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    async with AsyncImageGenClient(served.address) as client:
        with pytest.raises(UnsupportedParameterError) as caught:
            async for _ in client.stream_generate_images("otter", quality="hd"):
                pass
    assert caught.value.facts is not None
    assert caught.value.facts.response_cost_text == "0"


def gemini_config(fake: GeminiFake) -> str:
    entry = {
        "model_name": "nano-banana",
        "litellm_params": {
            "model": "gemini/gemini-2.5-flash-image",
            "api_base": fake.base_url,
            "api_key": fake.api_key,
        },
    }
    return yaml.safe_dump({"model_list": [entry]})


async def test_fan_out_images_stream_as_each_sub_call_finishes(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(gemini_config(gemini_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="three foxes", model="nano-banana", n=3)
    )
    events = [event async for event in call]

    assert kinds(events) == ["accepted", "image", "image", "image", "summary"]
    assert events[0].accepted.n == 3
    assert [event.image.index for event in events[1:4]] == [0, 1, 2]
    assert len(gemini_fake.requests) == 3  # one image per call: three parallel calls
    assert events[4].summary.cost.attempts == 3
    assert events[4].summary.image_count == 3


async def test_cancelling_a_fan_out_stream_aborts_every_sub_call(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(gemini_config(gemini_fake))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="hang on", model="nano-banana", n=3)
    )
    first = await call.read()
    assert isinstance(first, pb.StreamGenerateImagesResponse)
    assert first.WhichOneof("event") == "accepted"
    while len(gemini_fake.requests) < 3:
        gemini_fake.received.clear()
        if len(gemini_fake.requests) >= 3:
            break
        await asyncio.wait_for(gemini_fake.received.wait(), 5)
    call.cancel()
    while gemini_fake.disconnects < 3:
        gemini_fake.disconnected.clear()
        if gemini_fake.disconnects >= 3:
            break
        await asyncio.wait_for(gemini_fake.disconnected.wait(), 5)
    assert gemini_fake.disconnects == 3
