"""Guardrails on edits: the prompt before any call, each input image before any call (a refusal
names `images[i]`), and the edited images after it; on both doors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import openai
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests import guardrail_examples
from tests.conftest import ServeFactory
from tests.fakes.images import png_bytes
from tests.fakes.openai import OpenAIFake
from tests.test_grpc_errors import failure_of

WIDE, TINY = png_bytes(48, 32, 1), png_bytes(16, 16, 2)

# (name, kind, options) of one guardrails: entry, default_on.
Guardrail = tuple[str, str, dict[str, Any]]


def config(fake: OpenAIFake, *guardrails: Guardrail) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "gpt-image-1",
                    "litellm_params": {
                        "model": "openai/gpt-image-1",
                        "api_key": fake.api_key,
                        "api_base": f"{fake.base_url}/v1",
                    },
                },
                {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}},
            ],
            "guardrails": [
                {
                    "guardrail_name": name,
                    "litellm_params": {"guardrail": kind, "default_on": True, **options},
                }
                for name, kind, options in guardrails
            ],
        }
    )


NO_TINY: Guardrail = ("no-tiny", "python:tests.guardrail_examples:NoTinyImages", {})
SEEN: Guardrail = ("seen", "python:tests.guardrail_examples:SeenImages", {})


@pytest.fixture
def seen_images() -> Iterator[list[tuple[str | None, int | None, int | None]]]:
    guardrail_examples.SEEN_IMAGES.clear()
    yield guardrail_examples.SEEN_IMAGES
    guardrail_examples.SEEN_IMAGES.clear()


async def test_an_input_image_a_guardrail_refuses_is_named_and_no_provider_is_called(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, NO_TINY))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(
            pb.EditImagesRequest(prompt="combine", model="gpt-image-1", images=[WIDE, TINY])
        )

    failure = failure_of(caught.value)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert failure.info.metadata["guardrail"] == "no-tiny"
    assert failure.bad_request is not None
    assert [v.field for v in failure.bad_request.field_violations] == ["images[1]"]
    assert failure.trailers["x-imagegen-attempts"] == "0"
    assert openai_fake.requests == []


async def test_the_http_door_answers_an_input_refusal_in_openais_envelope(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, NO_TINY))
    async with openai.AsyncOpenAI(
        api_key="unused", base_url=f"{served.http_base_url}/v1", max_retries=0
    ) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.edit(
                model="gpt-image-1",
                image=[("a.png", WIDE, "image/png"), ("b.png", TINY, "image/png")],
                prompt="combine",
            )
    body: Any = caught.value.body
    assert (body["param"], body["code"]) == ("images[1]", "guardrail_blocked")
    assert openai_fake.requests == []


async def test_image_guardrails_see_every_input_and_then_the_edited_image(
    serve: ServeFactory,
    openai_fake: OpenAIFake,
    seen_images: list[tuple[str | None, int | None, int | None]],
) -> None:
    served = await serve(config(openai_fake, SEEN))

    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="combine", model="placeholder", images=[WIDE, TINY])
    )

    assert len(response.images) == 1
    inputs, outputs = seen_images[:2], seen_images[2:]
    assert inputs == [("images[0]", 48, 32), ("images[1]", 16, 16)]
    assert [field for field, _, _ in outputs] == [None]


async def test_a_refused_prompt_is_refused_before_the_inputs_are_checked(
    serve: ServeFactory,
    openai_fake: OpenAIFake,
    seen_images: list[tuple[str | None, int | None, int | None]],
) -> None:
    served = await serve(config(openai_fake, ("no-hats", "blocklist", {"keywords": ["hat"]}), SEEN))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(
            pb.EditImagesRequest(prompt="add a hat", model="gpt-image-1", images=[WIDE])
        )

    failure = failure_of(caught.value)
    assert (failure.info.reason, failure.info.metadata["guardrail"]) == (
        "GUARDRAIL_BLOCKED",
        "no-hats",
    )
    assert seen_images == []
    assert openai_fake.requests == []


async def test_image_check_judges_the_answer_not_the_callers_inputs(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    # A 16-pixel-wide input is not "the size asked for"; that is not image_check's business.
    served = await serve(config(openai_fake, ("check", "image_check", {"max_bytes": 10_000_000})))

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="combine", model="gpt-image-1", images=[TINY, WIDE], size="1024x1024"
        )
    )

    assert len(response.images) == 1
    assert len(openai_fake.edit_requests) == 1


async def test_a_streamed_edit_is_refused_the_same_way_before_any_event(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, NO_TINY))

    events = served.stub.StreamEditImages(
        pb.StreamEditImagesRequest(prompt="combine", model="gpt-image-1", images=[WIDE, TINY])
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in events:
            raise AssertionError("no event before the refusal")

    failure = failure_of(caught.value)
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert failure.bad_request is not None
    assert [v.field for v in failure.bad_request.field_violations] == ["images[1]"]
    assert openai_fake.requests == []
