"""Gemini image model edits through a real gRPC server and the Gemini fake: every input image
sent as an inline part, in order, beside the prompt; no masks; Imagen models do not edit."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.edit_helpers import violations
from tests.fakes.gemini import INPUT_IMAGE_TOKENS, GeminiFake
from tests.fakes.images import jpeg_bytes, png_bytes, webp_bytes

KEY = "gemini-test-key"


@pytest.fixture
async def gemini_fake() -> AsyncIterator[GeminiFake]:
    async with GeminiFake(api_key=KEY) as fake:
        yield fake


def config(fake: GeminiFake) -> str:
    models = {
        "flash-image": "gemini-2.5-flash-image",
        "pro-image": "gemini-3-pro-image-preview",
        "imagen-4": "imagen-4.0-generate-001",
    }
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": name,
                    "litellm_params": {
                        "model": f"gemini/{model}",
                        "api_base": fake.base_url,
                        "api_key": KEY,
                    },
                }
                for name, model in models.items()
            ]
        }
    )


async def test_every_input_image_goes_inline_in_order(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(config(gemini_fake))
    images = [png_bytes(64, 48, 1), jpeg_bytes(32, 32, 2), webp_bytes(16, 16, 3)]

    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="put all three together", model="flash-image", images=images)
    )

    (sent,) = gemini_fake.input_images
    assert sent == list(zip(["image/png", "image/jpeg", "image/webp"], images, strict=True))
    (request,) = gemini_fake.requests
    parts = request.json["contents"][0]["parts"]
    assert parts[0] == {"text": "put all three together"}
    assert base64.b64decode(parts[1]["inlineData"]["data"]) == images[0]
    assert len(response.images) == 1
    assert response.usage.input_tokens_details.image_tokens == 3 * INPUT_IMAGE_TOKENS
    # The price table has no input-image rate for Gemini yet: unknown, never a silent 0.
    assert response.cost.response_cost == "unknown"


async def test_gemini_3_pro_image_prices_its_input_images_at_the_input_rate(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(config(gemini_fake))
    images = [png_bytes(32, 32, 1), jpeg_bytes(32, 32, 2)]

    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="blend them", model="pro-image", images=images)
    )

    usage = response.usage
    assert usage.input_tokens_details.image_tokens == 2 * INPUT_IMAGE_TOKENS
    # $2/1M text and image input, $120/1M image output, $12/1M thinking (text output).
    million = Decimal(1_000_000)
    expected = (
        Decimal(usage.input_tokens_details.text_tokens) * 2
        + Decimal(2 * INPUT_IMAGE_TOKENS) * 2
        + Decimal(usage.output_tokens_details.image_tokens) * 120
        + Decimal(usage.output_tokens_details.text_tokens) * 12
    ) / million
    assert Decimal(response.cost.response_cost) == expected


async def test_gemini_takes_no_mask_and_imagen_does_not_edit(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(config(gemini_fake))
    mask_request = pb.EditImagesRequest(
        prompt="edit", model="flash-image", images=[png_bytes(8, 8)], mask=png_bytes(8, 8)
    )
    imagen_request = pb.EditImagesRequest(prompt="edit", model="imagen-4", images=[png_bytes(8, 8)])

    with pytest.raises(grpc.aio.AioRpcError) as masked:
        await served.stub.EditImages(mask_request)
    with pytest.raises(grpc.aio.AioRpcError) as imagen:
        await served.stub.EditImages(imagen_request)

    assert masked.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(masked.value) == ["mask"]
    assert imagen.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(imagen.value) == ["model"]
    assert gemini_fake.requests == []


async def test_list_models_reports_gemini_edits(
    serve: ServeFactory, gemini_fake: GeminiFake
) -> None:
    served = await serve(config(gemini_fake))
    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    assert list(models["flash-image"].edit_operations) == [pb.EDIT_OPERATION_EDIT]
    assert list(models["imagen-4"].edit_operations) == []
