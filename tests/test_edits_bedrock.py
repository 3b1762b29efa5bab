"""Bedrock edits through a real gRPC server and the Bedrock fake (which authenticates every call,
parses the body against the task's schema and decodes every image and mask):

- Titan Image Generator v1/v2 and Nova Canvas: INPAINTING (mask converted to black = edit, or
  maskPrompt), OUTPAINTING (a canvas grown by the requested sides, its new area white), the
  background swap as OUTPAINTING around the subject, IMAGE_VARIATION with every image in order,
  BACKGROUND_REMOVAL with no image settings; priced per image by the output's size;
- the Stability image services: one tool per model id, Stability's own mask convention
  (white = edit), each tool's fields; cost unknown.

Bodies are compared whole; refusals are asserted to reach no provider."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import Served, ServeFactory
from tests.edit_helpers import violations
from tests.fakes.bedrock import (
    ACCESS_KEY_ID,
    API_KEY,
    REGION,
    SECRET_ACCESS_KEY,
    BedrockFake,
    _picture_seed,
)
from tests.fakes.images import image_bytes, jpeg_bytes, png_bytes
from tests.test_provider_bedrock import AWS_ENV

MODELS = {
    "titan1": "amazon.titan-image-generator-v1",
    "titan2": "amazon.titan-image-generator-v2:0",
    "nova": "us.amazon.nova-canvas-v1:0",
    "inpaint": "us.stability.stable-image-inpaint-v1:0",
    "outpaint": "us.stability.stable-outpaint-v1:0",
    "search-replace": "us.stability.stable-image-search-replace-v1:0",
    "erase": "us.stability.stable-image-erase-object-v1:0",
    "remove-bg": "us.stability.stable-image-remove-background-v1:0",
    "conservative": "us.stability.stable-conservative-upscale-v1:0",
    "fast": "us.stability.stable-fast-upscale-v1:0",
    "style-transfer": "us.stability.stable-style-transfer-v1:0",
    "sd35": "stability.sd3-5-large-v1:0",
}


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield


@pytest.fixture
async def fake() -> AsyncIterator[BedrockFake]:
    async with BedrockFake() as bedrock:
        yield bedrock


def config(fake: BedrockFake, **params: Any) -> str:
    entries = [
        {
            "model_name": name,
            "litellm_params": {"model": f"bedrock/{model}", "api_base": fake.base_url, **params},
        }
        for name, model in MODELS.items()
    ]
    return yaml.safe_dump({"model_list": entries})


@pytest.fixture
async def served(fake: BedrockFake, serve: ServeFactory) -> Served:
    # A Bedrock API key: the calls go to the fake as `Authorization: Bearer`.
    return await serve(config(fake, api_key=API_KEY))


def api_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """An OpenAI-convention mask: opaque, with the box fully transparent (the area to edit)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pixels(mask: Image.Image, value: int) -> set[tuple[int, int]]:
    width, height = mask.size
    return {(x, y) for y in range(height) for x in range(width) if mask.getpixel((x, y)) == value}


def box_pixels(box: tuple[int, int, int, int]) -> set[tuple[int, int]]:
    return {(x, y) for y in range(box[1], box[3]) for x in range(box[0], box[2])}


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def edit_request(**fields: Any) -> pb.EditImagesRequest:
    params = fields.pop("provider_params", None)
    request = pb.EditImagesRequest(**fields)
    if params:
        request.provider_params.update(params)
    return request


async def refused_fields(served: Served, request: pb.EditImagesRequest) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await served.stub.EditImages(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return violations(error.value)


# ----------------------------------------------------------------------------- Titan, Nova


async def test_nova_inpaint_sends_the_mask_black_exactly_where_the_caller_marked_it(
    served: Served, fake: BedrockFake
) -> None:
    image = png_bytes(512, 512, 3)
    box = (100, 120, 300, 260)

    call = served.stub.EditImages(
        edit_request(
            prompt="a red armchair",
            model="nova",
            images=[image],
            mask=api_mask(512, 512, box),
            operation=pb.EDIT_OPERATION_INPAINT,
            n=2,
            provider_params={"negativeText": "blur", "cfgScale": 6.5, "seed": 3},
        )
    )
    response = await call

    (edit,) = fake.amazon_edits
    assert edit.mask is not None
    assert pixels(edit.mask, 0) == box_pixels(box)
    assert pixels(edit.mask, 255) | pixels(edit.mask, 0) == box_pixels((0, 0, 512, 512))
    (sent,) = fake.requests
    assert fake.last_invocation.raw_path == "/model/us.amazon.nova-canvas-v1%3A0/invoke"
    assert sent.json == {
        "taskType": "INPAINTING",
        "inPaintingParams": {
            "image": b64(image),
            "text": "a red armchair",
            "maskImage": sent.json["inPaintingParams"]["maskImage"],
            "negativeText": "blur",
        },
        "imageGenerationConfig": {
            "numberOfImages": 2,
            "quality": "standard",
            "cfgScale": 6.5,
            "seed": 3,
        },
    }
    # The fake's own pictures come back, byte for byte.
    assert [i.data for i in response.images] == [
        image_bytes("png", 512, 512, _picture_seed("a red armchair", 3) + index)
        for index in range(2)
    ]
    # Nova Canvas, standard, up to 1024x1024: $0.04 an image, in the trailers too.
    assert Decimal(response.cost.response_cost) == Decimal("0.08")
    trailers = dict(await call.trailing_metadata())
    assert trailers["x-imagegen-response-cost"] == response.cost.response_cost


async def test_titan_edit_by_words_sends_a_mask_prompt(served: Served, fake: BedrockFake) -> None:
    image = jpeg_bytes(512, 512, 4)
    await served.stub.EditImages(
        edit_request(
            prompt="a wooden table",
            model="titan2",
            images=[image],
            provider_params={"maskPrompt": "the glass table"},
        )
    )
    (sent,) = fake.requests
    assert sent.json == {
        "taskType": "INPAINTING",
        "inPaintingParams": {
            "image": b64(image),
            "text": "a wooden table",
            "maskPrompt": "the glass table",
        },
        "imageGenerationConfig": {"numberOfImages": 1, "quality": "standard"},
    }


async def test_nova_outpaint_grows_the_canvas_and_marks_its_new_area_white(
    served: Served, fake: BedrockFake
) -> None:
    image = png_bytes(320, 320, 5)

    response = await served.stub.EditImages(
        edit_request(
            prompt="a market street",
            model="nova",
            images=[image],
            operation=pb.EDIT_OPERATION_OUTPAINT,
            outpaint=pb.OutpaintExtension(left=96, top=64, right=96, bottom=128),
            provider_params={"outPaintingMode": "PRECISE"},
        )
    )

    (edit,) = fake.amazon_edits
    assert edit.task_type == "OUTPAINTING"
    assert edit.params == {"text": "a market street", "outPaintingMode": "PRECISE"}
    (canvas,) = edit.images
    with Image.open(io.BytesIO(canvas)) as grown, Image.open(io.BytesIO(image)) as source:
        assert grown.size == (512, 512)
        original = grown.convert("RGB").crop((96, 64, 416, 384))
        assert list(original.get_flattened_data()) == list(source.get_flattened_data())
    assert edit.mask is not None
    assert pixels(edit.mask, 0) == box_pixels((96, 64, 416, 384))
    assert pixels(edit.mask, 255) == box_pixels((0, 0, 512, 512)) - box_pixels((96, 64, 416, 384))
    assert size_of(response.images[0].data) == (512, 512)
    assert Decimal(response.cost.response_cost) == Decimal("0.04")


async def test_nova_background_swap_repaints_the_callers_background(
    served: Served, fake: BedrockFake
) -> None:
    box = (0, 0, 512, 200)
    await served.stub.EditImages(
        edit_request(
            prompt="a beach at sunset",
            model="nova",
            images=[png_bytes(512, 512)],
            mask=api_mask(512, 512, box),
            operation=pb.EDIT_OPERATION_REPLACE_BACKGROUND,
        )
    )
    (edit,) = fake.amazon_edits
    assert edit.task_type == "OUTPAINTING"
    assert edit.mask is not None
    # Outpainting changes the white outside of the mask: the caller's marked area.
    assert pixels(edit.mask, 255) == box_pixels(box)


async def test_titan_variation_sends_every_image_in_order_and_no_stand_in_text(
    served: Served, fake: BedrockFake
) -> None:
    images = [png_bytes(512, 512, seed) for seed in (1, 2, 3)]

    response = await served.stub.EditImages(
        edit_request(
            model="titan2",
            images=images,
            operation=pb.EDIT_OPERATION_VARIATION,
            size="512x512",
            n=3,
            provider_params={"similarityStrength": 0.8},
        )
    )

    (sent,) = fake.requests
    assert sent.json == {
        "taskType": "IMAGE_VARIATION",
        "imageVariationParams": {
            "images": [b64(image) for image in images],
            "similarityStrength": 0.8,
        },
        "imageGenerationConfig": {
            "numberOfImages": 3,
            "quality": "standard",
            "width": 512,
            "height": 512,
        },
    }
    assert fake.amazon_edits[0].images == images
    # Titan, standard, 512x512: $0.008 an image.
    assert Decimal(response.cost.response_cost) == Decimal("0.024")


async def test_titan_variation_sends_a_prompt_the_caller_wrote_even_if_it_names_the_operation(
    served: Served, fake: BedrockFake
) -> None:
    # The stand-in for a missing prompt is marked on the request, not recognised by its text:
    # a caller who writes "variation" is sent "variation".
    await served.stub.EditImages(
        edit_request(
            model="titan2",
            prompt="variation",
            images=[png_bytes(512, 512, 1)],
            operation=pb.EDIT_OPERATION_VARIATION,
            size="512x512",
        )
    )

    (sent,) = fake.requests
    assert sent.json["imageVariationParams"]["text"] == "variation"


async def test_background_removal_sends_the_image_alone_on_titan_v2_and_nova_only(
    served: Served, fake: BedrockFake
) -> None:
    image = png_bytes(400, 400, 6)
    response = await served.stub.EditImages(
        edit_request(model="titan2", images=[image], operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND)
    )
    (sent,) = fake.requests
    assert sent.json == {
        "taskType": "BACKGROUND_REMOVAL",
        "backgroundRemovalParams": {"image": b64(image)},
    }
    with Image.open(io.BytesIO(response.images[0].data)) as cut:
        assert cut.mode == "RGBA"

    titan_v1 = edit_request(
        model="titan1", images=[image], operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND
    )
    assert await refused_fields(served, titan_v1) == ["operation"]
    assert len(fake.requests) == 1


async def test_titan_and_nova_refuse_what_the_task_cannot_take_before_calling(
    served: Served, fake: BedrockFake
) -> None:
    image = png_bytes(512, 512)
    mask = api_mask(512, 512, (0, 0, 64, 64))
    cases = {
        # Nova reads no (semi-)transparent pixel.
        "images[0]": edit_request(
            prompt="x", model="nova", images=[png_bytes(512, 512, transparent=True)], mask=mask
        ),
        "images": edit_request(
            model="nova", images=[image] * 6, operation=pb.EDIT_OPERATION_VARIATION
        ),
        "mask": edit_request(
            model="nova", images=[image], mask=mask, operation=pb.EDIT_OPERATION_VARIATION
        ),
        "size": edit_request(
            prompt="x",
            model="nova",
            images=[image],
            mask=mask,
            operation=pb.EDIT_OPERATION_INPAINT,
            size="1024x1024",
        ),
        "provider_params.maskPrompt": edit_request(prompt="x", model="titan2", images=[image]),
        "provider_params.similarityStrength": edit_request(
            prompt="x",
            model="nova",
            images=[image],
            mask=mask,
            operation=pb.EDIT_OPERATION_INPAINT,
            provider_params={"similarityStrength": 0.5},
        ),
        "outpaint": edit_request(
            prompt="x",
            model="titan2",
            images=[png_bytes(1400, 64)],
            operation=pb.EDIT_OPERATION_OUTPAINT,
            outpaint=pb.OutpaintExtension(right=100),
        ),
    }
    for field, request in cases.items():
        assert field in await refused_fields(served, request), field
    two_images = edit_request(
        prompt="x", model="titan2", images=[image, image], mask=mask,
        operation=pb.EDIT_OPERATION_INPAINT,
    )  # fmt: skip
    assert await refused_fields(served, two_images) == ["images"]
    assert fake.requests == []


async def test_a_sigv4_signed_edit_is_accepted(
    fake: BedrockFake, serve: ServeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The signature covers the whole body, base64 images included.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    served = await serve(config(fake))
    await served.stub.EditImages(
        edit_request(
            model="nova", images=[png_bytes(512, 512)], operation=pb.EDIT_OPERATION_VARIATION
        )
    )
    assert fake.last_invocation.auth == "sigv4"
    assert fake.amazon_edits[0].task_type == "IMAGE_VARIATION"


async def test_nova_streams_a_variation_and_its_cost(served: Served, fake: BedrockFake) -> None:
    events = [
        event
        async for event in served.stub.StreamEditImages(
            pb.StreamEditImagesRequest(
                prompt="in watercolour",
                model="nova",
                images=[png_bytes(512, 512)],
                operation=pb.EDIT_OPERATION_VARIATION,
                n=2,
            )
        )
    ]
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert len([kind for kind in kinds if kind == "image"]) == 2
    assert events[-1].summary.image_count == 2
    assert Decimal(events[-1].summary.cost.response_cost) == Decimal("0.08")
    assert fake.amazon_edits[0].params == {"text": "in watercolour"}


# ----------------------------------------------------------------------------- Stability services


@pytest.mark.parametrize(
    ("model", "operation", "prompt", "model_id"),
    [
        ("inpaint", pb.EDIT_OPERATION_INPAINT, "a cat", "us.stability.stable-image-inpaint-v1:0"),
        ("erase", pb.EDIT_OPERATION_ERASE, "", "us.stability.stable-image-erase-object-v1:0"),
    ],
)
async def test_masked_services_send_the_mask_white_exactly_where_the_caller_marked_it(
    served: Served,
    fake: BedrockFake,
    model: str,
    operation: pb.EditOperation.ValueType,
    prompt: str,
    model_id: str,
) -> None:
    image = png_bytes(96, 80, 3)
    box = (10, 20, 50, 64)

    response = await served.stub.EditImages(
        edit_request(
            prompt=prompt,
            model=model,
            images=[image],
            mask=api_mask(96, 80, box),
            operation=operation,
            provider_params={"grow_mask": 3, "output_format": "png"},
        )
    )

    (edit,) = fake.service_edits
    assert edit.model_id == model_id
    assert edit.images == {"image": image}
    assert edit.mask is not None and pixels(edit.mask, 255) == box_pixels(box)
    (sent,) = fake.requests
    expected: dict[str, Any] = {
        "image": b64(image),
        "mask": sent.json["mask"],
        "grow_mask": 3,
        "output_format": "png",
    }
    if prompt:
        expected["prompt"] = prompt
    assert sent.json == expected
    assert size_of(response.images[0].data) == (96, 80)
    # No first-party price for the image services: unknown, never invented.
    assert response.cost.response_cost == "unknown"


async def test_outpaint_service_sends_the_sides_in_stabilitys_names(
    served: Served, fake: BedrockFake
) -> None:
    image = jpeg_bytes(64, 64, 4)
    response = await served.stub.EditImages(
        edit_request(
            prompt="a beach",
            model="outpaint",
            images=[image],
            operation=pb.EDIT_OPERATION_OUTPAINT,
            outpaint=pb.OutpaintExtension(left=10, top=20, right=30, bottom=40),
            provider_params={"creativity": 0.5},
        )
    )
    (sent,) = fake.requests
    assert sent.json == {
        "prompt": "a beach",
        "image": b64(image),
        "left": 10,
        "right": 30,
        "up": 20,
        "down": 40,
        "creativity": 0.5,
    }
    assert size_of(response.images[0].data) == (104, 124)


async def test_search_replace_style_transfer_and_upscales_send_their_own_fields(
    served: Served, fake: BedrockFake
) -> None:
    photo, style = png_bytes(128, 96, 1), jpeg_bytes(80, 80, 2)
    await served.stub.EditImages(
        edit_request(
            prompt="a golden retriever",
            model="search-replace",
            images=[photo],
            provider_params={"search_prompt": "cat"},
        )
    )
    await served.stub.EditImages(
        edit_request(
            prompt="statue",
            model="style-transfer",
            images=[photo, style],
            provider_params={"style_strength": 0.9, "change_strength": 0.5},
        )
    )
    fast = await served.stub.EditImages(
        edit_request(model="fast", images=[photo], operation=pb.EDIT_OPERATION_UPSCALE)
    )
    await served.stub.EditImages(
        edit_request(
            prompt="Big Ben at dusk",
            model="conservative",
            images=[photo],
            operation=pb.EDIT_OPERATION_UPSCALE,
        )
    )
    removed = await served.stub.EditImages(
        edit_request(
            model="remove-bg", images=[photo], operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND
        )
    )

    bodies = [request.json for request in fake.requests]
    assert bodies == [
        {"prompt": "a golden retriever", "image": b64(photo), "search_prompt": "cat"},
        {
            "prompt": "statue",
            "init_image": b64(photo),
            "style_image": b64(style),
            "style_strength": 0.9,
            "change_strength": 0.5,
        },
        {"image": b64(photo)},
        {"prompt": "Big Ben at dusk", "image": b64(photo)},
        {"image": b64(photo)},
    ]
    assert size_of(fast.images[0].data) == (512, 384)
    assert size_of(removed.images[0].data) == (128, 96)


async def test_services_refuse_what_the_tool_cannot_take_before_calling(
    served: Served, fake: BedrockFake
) -> None:
    photo = png_bytes(96, 96)
    cases = {
        "provider_params.search_prompt": edit_request(
            prompt="a dog", model="search-replace", images=[photo]
        ),
        "images": edit_request(prompt="statue", model="style-transfer", images=[photo]),
        "prompt": edit_request(
            model="conservative", images=[photo], operation=pb.EDIT_OPERATION_UPSCALE
        ),
        "operation": edit_request(prompt="a cat", model="inpaint", images=[photo]),
        "images[0]": edit_request(
            model="remove-bg",
            images=[png_bytes(32, 32)],
            operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND,
        ),
        "provider_params.grow_mask": edit_request(
            prompt="a cat",
            model="inpaint",
            images=[photo],
            mask=api_mask(96, 96, (0, 0, 8, 8)),
            operation=pb.EDIT_OPERATION_INPAINT,
            provider_params={"grow_mask": 101},
        ),
        "model": edit_request(prompt="a cat", model="sd35", images=[photo]),
        "mask": edit_request(
            model="remove-bg",
            images=[photo],
            mask=api_mask(96, 96, (0, 0, 8, 8)),
            operation=pb.EDIT_OPERATION_REMOVE_BACKGROUND,
        ),
    }
    for field, request in cases.items():
        assert field in await refused_fields(served, request), field
    assert fake.requests == []


async def test_list_models_reports_bedrock_edits(served: Served) -> None:
    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    amazon = {
        pb.EDIT_OPERATION_EDIT,
        pb.EDIT_OPERATION_INPAINT,
        pb.EDIT_OPERATION_OUTPAINT,
        pb.EDIT_OPERATION_REPLACE_BACKGROUND,
        pb.EDIT_OPERATION_VARIATION,
    }
    assert set(models["titan1"].edit_operations) == amazon
    assert set(models["titan2"].edit_operations) == amazon | {pb.EDIT_OPERATION_REMOVE_BACKGROUND}
    assert set(models["nova"].edit_operations) == amazon | {pb.EDIT_OPERATION_REMOVE_BACKGROUND}
    assert list(models["erase"].edit_operations) == [pb.EDIT_OPERATION_ERASE]
    assert list(models["fast"].edit_operations) == [pb.EDIT_OPERATION_UPSCALE]
    assert list(models["style-transfer"].edit_operations) == [pb.EDIT_OPERATION_EDIT]
    assert list(models["sd35"].edit_operations) == []
