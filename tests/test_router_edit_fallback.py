"""Routing edits: a fallback or a load-balanced pick only goes to a deployment whose model
serves the operation and takes the inputs (count, mask); when none is left, the answer is
FAILED_PRECONDITION naming every deployment passed over and why. Real gRPC server, the OpenAI
and fal fakes on loopback."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.fakes.fal import FalFake
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.fakes.openai import OpenAIFake

W, H = 48, 32
FAL_KEY = "fal-test-key"
DOWN = {"error": {"message": "down", "type": "server_error", "param": None, "code": None}}


@pytest.fixture
async def fal_fake() -> AsyncIterator[FalFake]:
    async with FalFake(api_key=FAL_KEY, queue_polls=1, progress_polls=1) as fake:
        yield fake


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 12, 12))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def edit_request(model: str = "gpt-image-1") -> pb.EditImagesRequest:
    """Two images and a mask: what a one-image, maskless editor cannot take."""
    return pb.EditImagesRequest(
        prompt="put them together",
        model=model,
        images=[png_bytes(W, H, 1), jpeg_bytes(16, 16, 2)],
        mask=api_mask(),
    )


def config(
    openai: OpenAIFake,
    fal: FalFake,
    *,
    fallbacks: list[str] | None = None,
    extra: tuple[dict[str, Any], ...] = (),
) -> str:
    def openai_entry(name: str, model: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{model}",
                "api_key": openai.api_key,
                "api_base": f"{openai.base_url}/v1",
            },
            "model_info": {"id": f"oai-{model}"},
        }

    document: dict[str, Any] = {
        "model_list": [
            openai_entry("gpt-image-1", "gpt-image-1"),
            openai_entry("dall-e-3", "dall-e-3"),
            {
                "model_name": "kontext",
                "litellm_params": {
                    "model": "fal_ai/fal-ai/flux-pro/kontext",
                    "api_base": fal.base_url,
                    "api_key": FAL_KEY,
                    "poll_interval": 0.02,
                },
                "model_info": {"id": "fal-kontext"},
            },
            {
                "model_name": "placeholder",
                "litellm_params": {"model": "local/placeholder"},
                "model_info": {"id": "local-placeholder"},
            },
            *extra,
        ],
        "router_settings": {"num_retries": 0},
    }
    if fallbacks is not None:
        document["router_settings"]["fallbacks"] = [{"gpt-image-1": fallbacks}]
    return yaml.safe_dump(document)


async def test_fallbacks_skip_models_that_cannot_edit_and_reach_one_that_can(
    serve: ServeFactory, openai_fake: OpenAIFake, fal_fake: FalFake
) -> None:
    served = await serve(
        config(openai_fake, fal_fake, fallbacks=["dall-e-3", "kontext", "placeholder"])
    )
    openai_fake.fail_next(500, DOWN)

    call = served.stub.EditImages(edit_request())
    response = await call
    trailers = dict(await call.trailing_metadata() or ())

    assert trailers["x-imagegen-model-id"] == "local-placeholder"
    assert len(response.images) == 1
    # gpt-image-1 was tried once and failed; dall-e-3 (no edits) and kontext (one image, no
    # mask) were never called.
    assert [r.path for r in openai_fake.requests] == ["/v1/images/edits"]
    assert fal_fake.requests == []


async def test_when_no_fallback_can_take_the_edit_it_is_failed_precondition_naming_each(
    serve: ServeFactory, openai_fake: OpenAIFake, fal_fake: FalFake
) -> None:
    served = await serve(config(openai_fake, fal_fake, fallbacks=["dall-e-3", "kontext"]))
    openai_fake.fail_next(500, DOWN)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(edit_request())

    error = caught.value
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = error.details() or ""
    assert "oai-dall-e-3: unfit (model 'dall-e-3' does not serve the edit operation)" in details
    assert "fal-kontext: unfit (model 'kontext' takes at most 1 input images)" in details
    assert details.startswith("gpt-image-1 failed (oai-gpt-image-1 ")
    assert len(openai_fake.requests) == 1
    assert fal_fake.requests == []


async def test_a_mask_rules_out_a_fallback_that_takes_none(
    serve: ServeFactory, openai_fake: OpenAIFake, fal_fake: FalFake
) -> None:
    served = await serve(config(openai_fake, fal_fake, fallbacks=["kontext"]))
    openai_fake.fail_next(500, DOWN)
    request = edit_request()
    del request.images[1:]  # one image: only the mask is in the way

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(request)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "fal-kontext: unfit (model 'kontext' takes no mask)" in (caught.value.details() or "")
    assert fal_fake.requests == []


async def test_a_load_balanced_group_picks_only_deployments_that_can_edit(
    serve: ServeFactory, openai_fake: OpenAIFake, fal_fake: FalFake
) -> None:
    editor = [
        {
            "model_name": "editor",
            "litellm_params": {
                "model": "openai/dall-e-3",
                "api_key": openai_fake.api_key,
                "api_base": f"{openai_fake.base_url}/v1",
            },
            "model_info": {"id": "editor-dall-e-3"},
        },
        {
            "model_name": "editor",
            "litellm_params": {"model": "local/placeholder"},
            "model_info": {"id": "editor-placeholder"},
        },
    ]
    served = await serve(config(openai_fake, fal_fake, extra=tuple(editor)))

    served_by = set()
    for _ in range(6):
        call = served.stub.EditImages(edit_request("editor"))
        await call
        served_by.add(dict(await call.trailing_metadata() or ())["x-imagegen-model-id"])

    assert served_by == {"editor-placeholder"}
    assert openai_fake.requests == []


async def test_the_failed_precondition_details_name_each_deployment_passed_over(
    serve: ServeFactory, openai_fake: OpenAIFake, fal_fake: FalFake
) -> None:
    served = await serve(config(openai_fake, fal_fake, fallbacks=["dall-e-3", "kontext"]))
    openai_fake.fail_next(500, DOWN)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(edit_request())

    status = rpc_status.from_call(caught.value)
    assert status is not None
    failures = []
    for detail in status.details:
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(failure):
            failures += [(v.type, v.subject, v.description) for v in failure.violations]
    assert failures == [
        (
            "DEPLOYMENT_SKIPPED",
            "deployment:oai-dall-e-3",
            "unfit (model 'dall-e-3' does not serve the edit operation)",
        ),
        (
            "DEPLOYMENT_SKIPPED",
            "deployment:fal-kontext",
            "unfit (model 'kontext' takes at most 1 input images)",
        ),
    ]
