"""BFL edits through a real gRPC server and the BFL fake (which decodes every input): Kontext
takes every image as base64 in `input_image`, `input_image_2`, ... in the caller's order and
no mask; Fill inpaints with the caller's mask converted pixel for pixel to BFL's black/white
(white = inpaint); Expand outpaints with the sides; other BFL models do not edit. A job whose
submit answer states its `cost` (FLUX.2, billed per megapixel) is priced at that."""

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
from tests.fakes.bfl import BflFake
from tests.fakes.images import jpeg_bytes, png_bytes, webp_bytes

KEY = "bfl-test-key"


@pytest.fixture
async def bfl_fake() -> AsyncIterator[BflFake]:
    async with BflFake(api_key=KEY, pending_polls=1) as fake:
        yield fake


def config(fake: BflFake) -> str:
    models = {
        "kontext": "flux-kontext-pro",
        "flux": "flux-pro-1.1",
        "fill": "flux-pro-1.0-fill",
        "expand": "flux-pro-1.0-expand",
    }
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": name,
                    "litellm_params": {
                        "model": f"black_forest_labs/{model}",
                        "api_base": fake.base_url,
                        "api_key": KEY,
                    },
                }
                for name, model in models.items()
            ]
        }
    )


async def test_kontext_gets_every_input_image_in_its_numbered_field(
    serve: ServeFactory, bfl_fake: BflFake
) -> None:
    served = await serve(config(bfl_fake))
    images = [png_bytes(64, 48, 1), jpeg_bytes(32, 32, 2), webp_bytes(16, 16, 3)]

    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="make it dusk", model="kontext", images=images)
    )

    assert bfl_fake.input_images == [images]
    (submit,) = [r for r in bfl_fake.requests if r.method == "POST"]
    assert submit.path == "/v1/flux-kontext-pro"
    assert submit.json["prompt"] == "make it dusk"
    assert sorted(k for k in submit.json if k.startswith("input_image")) == [
        "input_image",
        "input_image_2",
        "input_image_3",
    ]
    assert len(response.images) == 1
    assert response.images[0].data
    # Kontext [pro] is a flat 4 credits an image, edits included.
    assert response.cost.response_cost == "0.04"


async def test_kontext_refuses_masks_other_operations_and_a_fifth_image(
    serve: ServeFactory, bfl_fake: BflFake
) -> None:
    served = await serve(config(bfl_fake))
    image = png_bytes(16, 16)
    requests = {
        "mask": pb.EditImagesRequest(prompt="x", model="kontext", images=[image], mask=image),
        "operation": pb.EditImagesRequest(
            prompt="x", model="kontext", images=[image], operation=pb.EDIT_OPERATION_INPAINT
        ),
        "model": pb.EditImagesRequest(prompt="x", model="flux", images=[image]),
    }

    for field, request in requests.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await served.stub.EditImages(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in violations(refused.value), field
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await served.stub.EditImages(
            pb.EditImagesRequest(prompt="x", model="kontext", images=[image] * 5)
        )
    assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bfl_fake.requests == []


async def test_list_models_reports_kontext_edits(serve: ServeFactory, bfl_fake: BflFake) -> None:
    served = await serve(config(bfl_fake))
    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    assert list(models["kontext"].edit_operations) == [pb.EDIT_OPERATION_EDIT]
    assert list(models["flux"].edit_operations) == []
    assert list(models["fill"].edit_operations) == [pb.EDIT_OPERATION_INPAINT]
    assert list(models["expand"].edit_operations) == [pb.EDIT_OPERATION_OUTPAINT]


def api_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """An OpenAI-convention mask: opaque, with the box fully transparent (the area to edit)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


async def test_fill_gets_the_mask_white_exactly_where_the_caller_marked_it(
    serve: ServeFactory, bfl_fake: BflFake
) -> None:
    served = await serve(config(bfl_fake))
    image = png_bytes(40, 24, 5)
    box = (4, 6, 13, 19)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a red door",
            model="fill",
            images=[image],
            mask=api_mask(40, 24, box),
            operation=pb.EDIT_OPERATION_INPAINT,
        )
    )

    assert bfl_fake.input_images == [[image]]
    (mask,) = bfl_fake.masks
    white = {(x, y) for y in range(24) for x in range(40) if mask.getpixel((x, y)) == 255}
    assert white == {(x, y) for y in range(box[1], box[3]) for x in range(box[0], box[2])}
    (submit,) = [r for r in bfl_fake.requests if r.method == "POST"]
    assert submit.path == "/v1/flux-pro-1.0-fill"
    assert "width" not in submit.json and "height" not in submit.json
    assert Image.open(io.BytesIO(response.images[0].data)).size == (40, 24)
    assert response.cost.response_cost == "0.05"


async def test_expand_sends_the_sides_and_answers_at_the_grown_size(
    serve: ServeFactory, bfl_fake: BflFake
) -> None:
    served = await serve(config(bfl_fake))
    image = jpeg_bytes(64, 32, 7)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="more sky",
            model="expand",
            images=[image],
            operation=pb.EDIT_OPERATION_OUTPAINT,
            outpaint=pb.OutpaintExtension(top=16, left=8),
        )
    )

    (submit,) = [r for r in bfl_fake.requests if r.method == "POST"]
    assert submit.path == "/v1/flux-pro-1.0-expand"
    assert {k: submit.json[k] for k in ("top", "bottom", "left", "right")} == {
        "top": 16,
        "bottom": 0,
        "left": 8,
        "right": 0,
    }
    assert bfl_fake.input_images == [[image]]
    assert Image.open(io.BytesIO(response.images[0].data)).size == (72, 48)
    # Expand is not on BFL's pricing page: unknown, never a silent 0.
    assert response.cost.response_cost == "unknown"


async def test_fill_and_expand_serve_only_their_own_operation(
    serve: ServeFactory, bfl_fake: BflFake
) -> None:
    served = await serve(config(bfl_fake))
    image = png_bytes(16, 16)
    for model in ("fill", "expand"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await served.stub.EditImages(
                pb.EditImagesRequest(prompt="x", model=model, images=[image])
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(refused.value) == ["operation"]
    assert bfl_fake.requests == []


async def test_a_flux2_job_is_priced_at_the_cost_its_submit_answer_states(
    serve: ServeFactory, bfl_fake: BflFake
) -> None:
    served = await serve(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "flux2",
                        "litellm_params": {
                            "model": "black_forest_labs/flux-2-pro",
                            "api_base": bfl_fake.base_url,
                            "api_key": KEY,
                        },
                    }
                ]
            }
        )
    )

    response = await served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a fox", model="flux2", size="1536x1024", n=2)
    )

    # 1.57 MP: 3 credits for the first megapixel, 1.5 for each further one, as BFL states it;
    # two images are two jobs (BFL makes one per call), each stating its cost.
    assert len(response.images) == 2
    assert response.cost.response_cost == "0.0771"
