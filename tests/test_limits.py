"""Bounds on concurrent work: past a bound the answer is RESOURCE_EXHAUSTED with RetryInfo,
at once and before any provider call; once a slot frees, calls are served again."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake


def config(fake: OpenAIFake, **server: int) -> str:
    entry = {
        "model_name": "gpt-image-1",
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": f"{fake.base_url}/v1",
            "api_key": fake.api_key,
        },
    }
    return yaml.safe_dump({"model_list": [entry], "server_settings": server})


REQUEST: dict[str, Any] = {
    "prompt": "a fox",
    "model": "gpt-image-1",
    "size": "1024x1024",
    "quality": "low",
}


async def wait_for_requests(fake: OpenAIFake, count: int) -> None:
    for _ in range(500):
        if len(fake.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the fake saw {len(fake.requests)} requests, not {count}")


async def first_event(call: Any) -> str | None:
    message = await call.read()
    assert isinstance(message, pb.StreamGenerateImagesResponse)
    return message.WhichOneof("event")


def assert_limit_error(error: grpc.aio.AioRpcError, limit: str) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error)
    assert status is not None
    found: dict[str, object] = {}
    for detail in status.details:
        info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            found["info"] = info
        elif detail.Unpack(retry):
            found["retry"] = retry
    info = found["info"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "SERVER_LIMIT_REACHED" and info.metadata["limit"] == limit
    retry = found["retry"]
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert retry.retry_delay.seconds >= 1


async def test_requests_past_the_in_flight_bound_are_refused_until_a_slot_frees(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, max_in_flight_requests=2))
    openai_fake.delay = 0.5
    slow = [
        asyncio.ensure_future(served.stub.GenerateImages(pb.GenerateImagesRequest(**REQUEST)))
        for _ in range(2)
    ]
    await wait_for_requests(openai_fake, 2)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await served.stub.GenerateImages(pb.GenerateImagesRequest(**REQUEST))
    assert_limit_error(refused.value, "max_in_flight_requests")
    assert len(openai_fake.requests) == 2  # the refused call never reached the provider
    assert all(len(r.images) == 1 for r in await asyncio.gather(*slow))
    openai_fake.delay = 0
    # Both slots are free again (failures release theirs too).
    for _ in range(3):
        response = await served.stub.GenerateImages(pb.GenerateImagesRequest(**REQUEST))
        assert len(response.images) == 1


async def test_a_second_stream_of_one_caller_is_refused_but_unary_calls_go_on(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, max_streams_per_key=1))
    openai_fake.delay = 0.5
    first = served.stub.StreamGenerateImages(pb.StreamGenerateImagesRequest(**REQUEST))
    assert await first_event(first) == "accepted"
    second = served.stub.StreamGenerateImages(pb.StreamGenerateImagesRequest(**REQUEST))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await second.read()
    assert_limit_error(refused.value, "max_streams_per_key")
    unary = await served.stub.GenerateImages(pb.GenerateImagesRequest(**REQUEST))
    assert len(unary.images) == 1
    kinds = []
    while (message := await first.read()) is not grpc.aio.EOF:
        assert isinstance(message, pb.StreamGenerateImagesResponse)
        kinds.append(message.WhichOneof("event"))
    assert kinds[-1] == "summary"
    openai_fake.delay = 0
    # The stream ended: its slot is free.
    again = [
        m.WhichOneof("event")
        async for m in served.stub.StreamGenerateImages(pb.StreamGenerateImagesRequest(**REQUEST))
    ]
    assert again[-1] == "summary"


async def test_a_cancelled_stream_frees_its_slot(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, max_streams_per_key=1))
    openai_fake.delay = 5
    first = served.stub.StreamGenerateImages(pb.StreamGenerateImagesRequest(**REQUEST))
    assert await first_event(first) == "accepted"
    first.cancel()
    openai_fake.delay = 0
    for _ in range(100):
        try:
            events = [
                m.WhichOneof("event")
                async for m in served.stub.StreamGenerateImages(
                    pb.StreamGenerateImagesRequest(**REQUEST)
                )
            ]
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(0.02)  # the server learns of the cancellation asynchronously
            continue
        assert events[-1] == "summary"
        return
    raise AssertionError("the cancelled stream's slot was never freed")


async def test_operator_bounds_on_prompt_length_and_n_name_the_field(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, max_prompt_chars=20, max_images_per_request=2))
    for fields, field in (({"prompt": "x" * 21}, "prompt"), ({"n": 3}, "n")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await served.stub.GenerateImages(pb.GenerateImagesRequest(**{**REQUEST, **fields}))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(refused.value)
        assert status is not None
        bad = error_details_pb2.BadRequest()
        assert any(detail.Unpack(bad) for detail in status.details)
        assert bad.field_violations[0].field == field
    assert openai_fake.requests == []
    ok = await served.stub.GenerateImages(pb.GenerateImagesRequest(**{**REQUEST, "n": 2}))
    assert len(ok.images) == 2
