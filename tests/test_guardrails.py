"""Guardrails through the running server: prompts blocked or masked before the provider is
called, images withheld after, per model group or globally, over gRPC (unary and streaming)
and the HTTP door, with a fake OpenAI-compatible moderation service."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import grpc
import openai
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.assembly import hooks_for
from imagegen.config import parse_settings
from imagegen.gateway import Gateway
from imagegen.guardrails.hook import GuardrailHook
from imagegen.types import ImageRequest
from tests.conftest import ServeFactory
from tests.fakes.images import png_bytes
from tests.fakes.moderation import ModerationFake
from tests.fakes.openai import OpenAIFake
from tests.test_grpc_errors import failure_of

MODELS = ("gpt-image-1", "dall-e-3")


@pytest.fixture
async def moderation_fake() -> AsyncIterator[ModerationFake]:
    async with ModerationFake() as fake:
        yield fake


def config(
    fake: OpenAIFake,
    guardrails: list[dict[str, Any]],
    per_model: dict[str, list[str]] | None = None,
) -> str:
    entries = []
    for model in MODELS:
        info: dict[str, Any] = {"id": f"oai-{model}"}
        if per_model and model in per_model:
            info["guardrails"] = per_model[model]
        entries.append(
            {
                "model_name": model,
                "litellm_params": {
                    "model": f"openai/{model}",
                    "api_key": fake.api_key,
                    "api_base": f"{fake.base_url}/v1",
                },
                "model_info": info,
            }
        )
    return yaml.safe_dump({"model_list": entries, "guardrails": guardrails})


def guardrail(name: str, kind: str, **params: Any) -> dict[str, Any]:
    return {"guardrail_name": name, "litellm_params": {"guardrail": kind, **params}}


def images_body(*images: bytes) -> dict[str, Any]:
    """A 200 answer of OpenAI's GPT image shape carrying exactly these files."""
    return {
        "created": 1_700_000_000,
        "data": [{"b64_json": base64.b64encode(image).decode()} for image in images],
        "usage": {
            "input_tokens": 12,
            "output_tokens": 4160 * len(images),
            "total_tokens": 12 + 4160 * len(images),
            "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
        },
    }


def text_trailers(metadata: Any) -> dict[str, str]:
    return {key: value for key, value in metadata or () if isinstance(value, str)}


async def blocked(served: Any, prompt: str, model: str = "gpt-image-1") -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(pb.GenerateImagesRequest(prompt=prompt, model=model))
    return failure_of(caught.value)


# ----------------------------------------------------------------------------- prompts


async def test_blocklist_refuses_before_any_provider_call(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        config(
            openai_fake,
            [guardrail("no-weapons", "blocklist", default_on=True, keywords=["rifle"])],
        )
    )
    failure = await blocked(served, "an otter holding a RIFLE, watercolour")

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert failure.info.metadata["guardrail"] == "no-weapons"
    assert "rifle" not in failure.details.lower()  # the caller is not told the term
    assert failure.trailers["x-imagegen-response-cost"] == "0"
    assert failure.trailers["x-imagegen-attempts"] == "0"
    assert openai_fake.requests == []

    # Whole words only: "rifles" is not "rifle", and "rifleman" neither.
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a rifleman's hat on an otter", model="gpt-image-1")
    )
    assert len(response.images) == 1
    assert len(openai_fake.requests) == 1


async def test_blocklist_regex_pattern_blocks(serve: ServeFactory, openai_fake: OpenAIFake) -> None:
    served = await serve(
        config(
            openai_fake,
            [guardrail("ids", "blocklist", default_on=True, patterns=[r"\bemp-\d{4}\b"])],
        )
    )
    failure = await blocked(served, "badge photo for EMP-1234")
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert failure.info.metadata["guardrail"] == "ids"
    assert openai_fake.requests == []


async def test_pii_is_masked_before_the_provider_sees_it(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, [guardrail("pii", "pii", default_on=True)]))
    prompt = (
        "poster for jane.doe@example.com, call +44 20 7946 0958, "
        "card 4111 1111 1111 1111, order 4111 1111 1111 1112, 1024x1024"
    )
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt=prompt, model="gpt-image-1")
    )
    assert len(response.images) == 1
    sent = openai_fake.last_request.json["prompt"]
    assert sent == (
        "poster for [EMAIL], call [PHONE], card [CARD], order 4111 1111 1111 1112, 1024x1024"
    )


async def test_pii_in_block_mode_refuses(serve: ServeFactory, openai_fake: OpenAIFake) -> None:
    served = await serve(
        config(openai_fake, [guardrail("pii", "pii", mode="block", default_on=True)])
    )
    failure = await blocked(served, "a birthday card for (555) 123-4567")
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert openai_fake.requests == []


async def test_prompt_length_limit(serve: ServeFactory, openai_fake: OpenAIFake) -> None:
    served = await serve(
        config(openai_fake, [guardrail("short", "prompt_length", default_on=True, max_chars=20)])
    )
    failure = await blocked(served, "an otter " * 5)
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert failure.info.metadata["guardrail"] == "short"
    assert openai_fake.requests == []
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="an otter", model="gpt-image-1")
    )
    assert len(response.images) == 1


def moderation(fake: ModerationFake, **options: Any) -> dict[str, Any]:
    return guardrail(
        "moderation",
        "moderation",
        default_on=True,
        api_base=fake.base_url,
        api_key=fake.api_key,
        **options,
    )


async def test_moderation_flagged_blocks_and_clean_passes(
    serve: ServeFactory, openai_fake: OpenAIFake, moderation_fake: ModerationFake
) -> None:
    served = await serve(config(openai_fake, [moderation(moderation_fake)]))
    failure = await blocked(served, "a massacre at the otter pond")
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert failure.info.metadata["guardrail"] == "moderation"
    assert openai_fake.requests == []
    sent = moderation_fake.last_request
    assert sent.path == "/v1/moderations"
    assert sent.headers["authorization"] == f"Bearer {moderation_fake.api_key}"
    assert sent.json == {"model": "omni-moderation-latest", "input": "a massacre at the otter pond"}

    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="an otter at the pond", model="gpt-image-1")
    )
    assert len(response.images) == 1
    assert len(moderation_fake.requests) == 2
    assert openai_fake.last_request.json["prompt"] == "an otter at the pond"


async def test_moderation_only_blocks_the_listed_categories(
    serve: ServeFactory, openai_fake: OpenAIFake, moderation_fake: ModerationFake
) -> None:
    served = await serve(
        config(openai_fake, [moderation(moderation_fake, categories=["harassment"])])
    )
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a massacre of chess pieces", model="gpt-image-1")
    )
    assert len(response.images) == 1
    failure = await blocked(served, "otters threaten the ducks")
    assert failure.info.reason == "GUARDRAIL_BLOCKED"


async def test_moderation_down_fails_closed_by_default(
    serve: ServeFactory, openai_fake: OpenAIFake, moderation_fake: ModerationFake
) -> None:
    served = await serve(config(openai_fake, [moderation(moderation_fake)]))
    moderation_fake.fail_next(500, {"error": {"message": "The server had an error"}})
    failure = await blocked(served, "an otter")
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert failure.info.reason == "GUARDRAIL_UNAVAILABLE"
    assert failure.info.metadata["guardrail"] == "moderation"
    assert openai_fake.requests == []


async def test_moderation_timeout_fails_closed_and_on_error_allow_fails_open(
    serve: ServeFactory, openai_fake: OpenAIFake, moderation_fake: ModerationFake
) -> None:
    moderation_fake.delay = 1.0
    closed = await serve(config(openai_fake, [moderation(moderation_fake, timeout=0.1)]))
    failure = await blocked(closed, "an otter")
    assert failure.info.reason == "GUARDRAIL_UNAVAILABLE"
    assert openai_fake.requests == []

    open_ = await serve(
        config(openai_fake, [moderation(moderation_fake, timeout=0.1, on_error="allow")])
    )
    response = await open_.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="an otter", model="gpt-image-1")
    )
    assert len(response.images) == 1
    assert len(openai_fake.requests) == 1


async def test_a_custom_guardrail_that_raises_fails_closed_without_logging_the_prompt(
    serve: ServeFactory, openai_fake: OpenAIFake, caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve(
        config(
            openai_fake,
            [guardrail("broken", "python:tests.guardrail_examples:Broken", default_on=True)],
        )
    )
    with caplog.at_level(logging.DEBUG):
        failure = await blocked(served, "a very private otter")
    assert failure.info.reason == "GUARDRAIL_UNAVAILABLE"
    assert openai_fake.requests == []
    assert "private otter" not in caplog.text


# ----------------------------------------------------------------------------- scoping


async def test_model_group_guardrails_apply_only_to_that_group_and_global_ones_to_all(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        config(
            openai_fake,
            [
                guardrail("kids", "blocklist", keywords=["skull"]),
                guardrail("everyone", "blocklist", default_on=True, keywords=["rifle"]),
            ],
            per_model={"gpt-image-1": ["kids"]},
        )
    )
    failure = await blocked(served, "a skull-shaped cake", model="gpt-image-1")
    assert failure.info.metadata["guardrail"] == "kids"
    assert openai_fake.requests == []

    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a skull-shaped cake", model="dall-e-3")
    )
    assert len(response.images) == 1
    assert len(openai_fake.requests) == 1

    for model in MODELS:
        failure = await blocked(served, "a rifle", model=model)
        assert failure.info.metadata["guardrail"] == "everyone"
    assert len(openai_fake.requests) == 1


async def test_custom_guardrail_by_import_path_masks(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        config(
            openai_fake,
            [
                guardrail(
                    "calm",
                    "python:tests.guardrail_examples:NoShouting",
                    mode="mask",
                    default_on=True,
                    max_upper_ratio=0.3,
                )
            ],
        )
    )
    await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="AN OTTER, NOW", model="gpt-image-1")
    )
    await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="An Otter at dusk", model="gpt-image-1")
    )
    assert [r.json["prompt"] for r in openai_fake.requests] == ["an otter, now", "An Otter at dusk"]


async def test_guardrails_run_in_config_order_on_the_masked_prompt(
    openai_fake: OpenAIFake,
) -> None:
    # PII masks first, so the blocklist (which would block on the address) sees "[EMAIL]".
    settings = parse_settings(
        config(
            openai_fake,
            [
                guardrail("pii", "pii", default_on=True),
                guardrail("no-mail", "blocklist", default_on=True, patterns=[r"@example\.com"]),
            ],
        )
    )
    gateway = Gateway(settings, hooks=hooks_for(settings))
    await gateway.start()
    try:
        request = ImageRequest.create(prompt="otter for me@example.com", model="gpt-image-1")
        state = gateway.new_state(request)
        await gateway.generate(request, state=state)
    finally:
        await gateway.aclose()
    assert openai_fake.last_request.json["prompt"] == "otter for [EMAIL]"
    decisions = [(d.kind, d.name, d.action, d.detail) for d in state.decisions]
    assert decisions == [
        ("guardrail", "pii", "mask", "masked 1 email"),
        ("guardrail", "no-mail", "allow", ""),
    ]


# ----------------------------------------------------------------------------- images


def image_check(**options: Any) -> dict[str, Any]:
    return guardrail("image-check", "image_check", default_on=True, **options)


async def test_an_image_of_the_wrong_size_is_withheld_and_counted(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, [image_check()]))
    good, wrong = png_bytes(1024, 1536, 1), png_bytes(512, 512, 2)
    openai_fake.fail_next(200, images_body(wrong, good))
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="two otters", model="gpt-image-1", n=2, size="1024x1536")
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())

    assert [image.data for image in response.images] == [good]
    assert response.filtered_count == 1
    assert trailers["x-imagegen-filtered-count"] == "1"
    assert trailers["x-imagegen-withheld"] == "image-check: image is 512x512, expected 1024x1536"
    # Both images were generated and billed: the cost covers both.
    assert Decimal(response.cost.response_cost) > 0


async def test_every_image_withheld_is_guardrail_blocked_with_the_billed_cost(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    body = images_body(b"\x89PNG\r\n\x1a\nnot really a png")
    plain = await serve(config(openai_fake, []))
    openai_fake.fail_next(200, body)
    call = plain.stub.GenerateImages(pb.GenerateImagesRequest(prompt="x", model="gpt-image-1"))
    await call
    billed = text_trailers(await call.trailing_metadata())["x-imagegen-response-cost"]

    served = await serve(config(openai_fake, [image_check()]))
    openai_fake.fail_next(200, body)
    failure = await blocked(served, "an otter")
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.info.reason == "GUARDRAIL_BLOCKED"
    assert failure.info.metadata["guardrail"] == "image-check"
    assert failure.trailers["x-imagegen-response-cost"] == billed != "0"
    assert failure.trailers["x-imagegen-withheld"] == "image-check: image does not decode"


async def test_oversized_images_are_withheld(serve: ServeFactory, openai_fake: OpenAIFake) -> None:
    small, large = png_bytes(64, 64, 1), png_bytes(1024, 1024, 3) + b"\0" * 4096
    served = await serve(config(openai_fake, [image_check(max_bytes=len(large) - 1)]))
    openai_fake.fail_next(200, images_body(small, large))
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="otters", model="gpt-image-1", n=2)
    )
    assert [image.data for image in response.images] == [small]
    assert response.filtered_count == 1


async def test_a_stream_never_sends_a_withheld_image(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, [image_check()]))
    good = png_bytes(1024, 1024, 5)
    openai_fake.fail_next(200, images_body(b"garbage", good, png_bytes(1024, 1536, 6)))
    call = served.stub.StreamGenerateImages(
        pb.StreamGenerateImagesRequest(prompt="otters", model="gpt-image-1", n=3, size="1024x1024")
    )
    events = [event async for event in call]
    trailers = text_trailers(await call.trailing_metadata())

    assert [event.WhichOneof("event") for event in events] == ["accepted", "image", "summary"]
    assert events[1].image.index == 0
    assert events[1].image.data == good
    assert events[2].summary.image_count == 1
    assert events[2].summary.filtered_count == 2
    assert trailers["x-imagegen-filtered-count"] == "2"
    assert trailers["x-imagegen-withheld"] == (
        "image-check: image does not decode; image-check: image is 1024x1536, expected 1024x1024"
    )


async def test_a_custom_image_guardrail_by_import_path(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        config(
            openai_fake,
            [
                guardrail(
                    "square", "python:tests.guardrail_examples:OnlySquareImages", default_on=True
                )
            ],
        )
    )
    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="an otter", model="gpt-image-1", size="1024x1024")
    )
    assert len(response.images) == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="a tall otter", model="gpt-image-1", size="1024x1536")
        )
    assert failure_of(caught.value).info.metadata["guardrail"] == "square"


# ----------------------------------------------------------------------------- HTTP door


async def test_http_door_answers_a_block_with_openais_400_envelope(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(
        config(
            openai_fake,
            [guardrail("no-weapons", "blocklist", default_on=True, keywords=["rifle"])],
        )
    )
    client = openai.AsyncOpenAI(
        base_url=f"{served.http_base_url}/v1", api_key="unused", max_retries=0
    )
    try:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(model="gpt-image-1", prompt="a rifle")
    finally:
        await client.close()
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    assert body["code"] == "guardrail_blocked"
    assert "no-weapons" in body["message"]
    assert openai_fake.requests == []


async def test_no_guardrails_configured_adds_no_hook(openai_fake: OpenAIFake) -> None:
    hooks = hooks_for(parse_settings(config(openai_fake, [])))
    assert not any(isinstance(hook, GuardrailHook) for hook in hooks)


async def test_http_door_reports_withheld_images_in_its_headers(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, [image_check()]))
    good = png_bytes(1024, 1024, 7)
    openai_fake.fail_next(200, images_body(good, b"garbage"))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{served.http_base_url}/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "otters", "n": 2, "size": "1024x1024"},
        ) as response,
    ):
        body = await response.json()
        headers = response.headers
    assert response.status == 200
    assert [base64.b64decode(item["b64_json"]) for item in body["data"]] == [good]
    assert headers["x-imagegen-filtered-count"] == "1"
    assert headers["x-imagegen-withheld"] == "image-check: image does not decode"
