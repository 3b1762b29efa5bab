"""Stability v2beta edits through a real gRPC server and the Stability fake (which parses the
multipart form and decodes its files): the image as a file part; inpaint and erase with the
caller's mask converted pixel for pixel to Stability's black/white (white = edit); outpaint
with its sides as left/right/up/down; remove-background with the image alone. Each edit model
serves its one operation, and the generate models none."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import grpc
import pytest
import yaml
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.edit_helpers import violations
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.fakes.stability import StabilityFake

KEY = "sk-stability-test"
MODELS = ("inpaint", "outpaint", "erase", "remove-background", "stable-image-ultra")


@pytest.fixture
async def fake() -> AsyncIterator[StabilityFake]:
    async with StabilityFake(api_key=KEY) as stability:
        yield stability


def config(fake: StabilityFake) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": name,
                    "litellm_params": {
                        "model": f"stability/{name}",
                        "api_base": fake.base_url,
                        "api_key": KEY,
                    },
                }
                for name in MODELS
            ]
        }
    )


def api_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """An OpenAI-convention mask: opaque, with the box fully transparent (the area to edit)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize(
    ("model", "operation", "prompt"),
    [("inpaint", pb.EDIT_OPERATION_INPAINT, "a cat"), ("erase", pb.EDIT_OPERATION_ERASE, "")],
)
async def test_masked_edits_send_the_mask_white_exactly_where_the_caller_marked_it(
    serve: ServeFactory,
    fake: StabilityFake,
    model: str,
    operation: pb.EditOperation.ValueType,
    prompt: str,
) -> None:
    served = await serve(config(fake))
    image = png_bytes(96, 80, 3)
    box = (10, 20, 50, 64)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt=prompt,
            model=model,
            images=[image],
            mask=api_mask(96, 80, box),
            operation=operation,
        )
    )

    ((route, sent, mask),) = fake.edits
    assert (route, sent) == (model, image)
    assert mask is not None
    white = {(x, y) for y in range(80) for x in range(96) if mask.getpixel((x, y)) == 255}
    assert white == {(x, y) for y in range(box[1], box[3]) for x in range(box[0], box[2])}
    (request,) = fake.requests
    assert request.path == f"/v2beta/stable-image/edit/{model}"
    assert ("prompt" in fake.forms[0]) == bool(prompt)
    assert size_of(response.images[0].data) == (96, 80)
    # No first-party price for the edit endpoints was at hand: unknown, never a silent 0.
    assert response.cost.response_cost == "unknown"


async def test_outpaint_sends_the_sides_in_stabilitys_names(
    serve: ServeFactory, fake: StabilityFake
) -> None:
    served = await serve(config(fake))
    image = jpeg_bytes(64, 64, 4)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a beach",
            model="outpaint",
            images=[image],
            operation=pb.EDIT_OPERATION_OUTPAINT,
            outpaint=pb.OutpaintExtension(left=10, top=20, right=30, bottom=40),
        )
    )

    (form,) = fake.forms
    assert {k: form[k] for k in ("left", "right", "up", "down")} == {
        "left": "10",
        "right": "30",
        "up": "20",
        "down": "40",
    }
    assert fake.edits[0][:2] == ("outpaint", image)
    assert size_of(response.images[0].data) == (104, 124)


async def test_remove_background_sends_the_image_alone(
    serve: ServeFactory, fake: StabilityFake
) -> None:
    served = await serve(config(fake))
    image = png_bytes(72, 72, 5)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            model="remove-background", images=[image], operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND
        )
    )

    assert fake.edits[0][:2] == ("remove-background", image)
    assert fake.forms == [{}]
    assert size_of(response.images[0].data) == (72, 72)


async def test_each_model_serves_only_its_operation_and_inputs_are_bounded(
    serve: ServeFactory, fake: StabilityFake
) -> None:
    served = await serve(config(fake))
    image = png_bytes(96, 96)
    refused = {
        "operation": pb.EditImagesRequest(prompt="x", model="inpaint", images=[image]),
        "model": pb.EditImagesRequest(prompt="x", model="stable-image-ultra", images=[image]),
        "images[0]": pb.EditImagesRequest(
            model="remove-background",
            images=[png_bytes(32, 32)],
            operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND,
        ),
    }
    for field, request in refused.items():
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await served.stub.EditImages(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in violations(error.value), field
    assert fake.requests == []


async def test_list_models_reports_each_edit_endpoint(
    serve: ServeFactory, fake: StabilityFake
) -> None:
    served = await serve(config(fake))
    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    assert list(models["inpaint"].edit_operations) == [pb.EDIT_OPERATION_INPAINT]
    assert list(models["outpaint"].edit_operations) == [pb.EDIT_OPERATION_OUTPAINT]
    assert list(models["erase"].edit_operations) == [pb.EDIT_OPERATION_ERASE]
    assert list(models["remove-background"].edit_operations) == [
        pb.EDIT_OPERATION_REMOVE_BACKGROUND
    ]
    assert list(models["stable-image-ultra"].edit_operations) == []
