"""Xinference image to image and inpainting through a real gRPC server and the Xinference fake,
which parses the multipart form strictly: every input as an `image` file part, in order and
byte for byte; for inpainting the caller's mask (transparent = edit) converted pixel for pixel
to the diffusers convention (white repainted) as `mask_image`; provider parameters as the
`kwargs` JSON string; the answer read as b64_json. Self-hosted: no price, cost unknown."""

from __future__ import annotations

import io
import json

import grpc
import pytest
import yaml
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.edit_helpers import params, violations
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.fakes.xinference import XinferenceFake

UID = "sd3-medium"


def config(fake: XinferenceFake) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": "sd",
                    "litellm_params": {
                        "model": f"xinference/{UID}",
                        "api_base": f"{fake.base_url}/v1",
                    },
                }
            ]
        }
    )


def api_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    mask = Image.new("RGBA", (width, height), (20, 20, 20, 255))
    mask.paste((0, 0, 0, 1), (box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2))
    mask.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


async def test_image_to_image_sends_every_input_in_order_with_kwargs(
    serve: ServeFactory, xinference_fake: XinferenceFake
) -> None:
    served = await serve(config(xinference_fake))
    first, second = png_bytes(96, 64, 1), jpeg_bytes(40, 40, 2)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="the cat in the style of the second",
            model="sd",
            images=[first, second],
            n=2,
            provider_params=params(strength=0.6, num_inference_steps=20),
        )
    )

    ((route, fields, files),) = xinference_fake.edit_calls
    assert route == "variations"
    assert files == [("image", first), ("image", second)]
    assert fields["model"] == UID
    assert fields["prompt"] == "the cat in the style of the second"
    assert (fields["n"], fields["response_format"]) == ("2", "b64_json")
    assert "size" not in fields
    assert json.loads(fields["kwargs"]) == {"strength": 0.6, "num_inference_steps": 20}
    # Without a size, the pipeline answers at the first input's.
    assert [(i.width, i.height) for i in response.images] == [(96, 64), (96, 64)]
    assert {i.mime_type for i in response.images} == {"image/jpeg"}
    assert response.cost.response_cost == "unknown"


async def test_a_size_is_sent_in_xinferences_spelling(
    serve: ServeFactory, xinference_fake: XinferenceFake
) -> None:
    served = await serve(config(xinference_fake))
    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="wider", model="sd", images=[png_bytes(64, 64, 3)], size="128x64"
        )
    )
    ((_, fields, _),) = xinference_fake.edit_calls
    assert fields["size"] == "128*64"
    assert (response.images[0].width, response.images[0].height) == (128, 64)


async def test_inpainting_sends_the_mask_white_exactly_where_the_caller_made_it_transparent(
    serve: ServeFactory, xinference_fake: XinferenceFake
) -> None:
    served = await serve(config(xinference_fake))
    image = png_bytes(80, 72, 4)
    box = (10, 12, 50, 40)

    await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a red door",
            model="sd",
            images=[image],
            mask=api_mask(80, 72, box),
            operation=pb.EDIT_OPERATION_INPAINT,
        )
    )

    ((route, _, files),) = xinference_fake.edit_calls
    assert route == "inpainting"
    assert [name for name, _ in files] == ["image", "mask_image"]
    assert files[0][1] == image
    with Image.open(io.BytesIO(files[1][1])) as mask:
        pixels = mask.convert("L").load()
        assert pixels is not None
        white = {(x, y) for y in range(72) for x in range(80) if pixels[x, y] == 255}
        values = {pixels[x, y] for y in range(72) for x in range(80)}
    # Alpha 1 (almost transparent) is kept: only fully transparent pixels are repainted.
    assert white == {(x, y) for y in range(box[1], box[3]) for x in range(box[0], box[2])}
    assert values == {0, 255}


async def test_operations_xinference_does_not_serve_are_refused_before_any_call(
    serve: ServeFactory, xinference_fake: XinferenceFake
) -> None:
    served = await serve(config(xinference_fake))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                model="sd",
                images=[png_bytes(32, 32, 1)],
                operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND,
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["operation"]
    with pytest.raises(grpc.aio.AioRpcError) as nine:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="x", model="sd", images=[png_bytes(16, 16, i) for i in range(9)]
            )
        )
    assert violations(nine.value) == ["images"]
    assert xinference_fake.requests == []


async def test_an_unknown_model_uid_on_an_edit_is_not_found(
    serve: ServeFactory, xinference_fake: XinferenceFake
) -> None:
    settings = config(xinference_fake).replace(f"xinference/{UID}", "xinference/not-launched")
    served = await serve(settings)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(
            pb.EditImagesRequest(prompt="x", model="sd", images=[png_bytes(32, 32, 1)])
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    (request,) = xinference_fake.requests
    assert request.path == "/v1/images/variations"
