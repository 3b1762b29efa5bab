"""Vertex AI edits through a real gRPC server and the Vertex fake (which issues the OAuth token
the gateway's service-account key signs for): Gemini image models take every input image as an
inline part beside the text, in order, and no mask; Imagen capability editing takes a RAW and a
MASK reference with the caller's mask converted to white = edit pixel for pixel, an edit mode
per operation, a canvas and new-area mask built for outpainting. Bodies are compared whole."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
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
from tests.fakes.images import image_bytes, jpeg_bytes, png_bytes, webp_bytes
from tests.fakes.vertex import INPUT_IMAGE_TOKENS, VertexFake
from tests.test_provider_vertex import EMAIL, KEY_ID, PROJECT, key_info, rsa_key

MILLION = Decimal(1_000_000)
CAPABILITY = "imagen-3.0-capability-001"
MODELS = {
    "pro": "gemini-3-pro-image-preview",
    "flash": "gemini-2.5-flash-image",
    "capability": CAPABILITY,
    "imagen": "imagen-4.0-generate-001",
}
PATH = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models"


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT", "VERTEXAI_LOCATION",
                 "VERTEXAI_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


@pytest.fixture
async def fake() -> AsyncIterator[VertexFake]:
    async with VertexFake(projects=(PROJECT,)) as vertex:
        vertex.add_service_account(EMAIL, KEY_ID, rsa_key("gateway").public_key())
        yield vertex


@pytest.fixture
async def served(fake: VertexFake, tmp_path: Path, serve: ServeFactory) -> Served:
    key_file = tmp_path / "vertex-key.json"
    key_file.write_text(json.dumps(key_info(fake, rsa_key("gateway"))))
    entries = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"vertex_ai/{model}",
                "api_base": fake.base_url,
                "vertex_project": PROJECT,
                "vertex_credentials": str(key_file),
            },
        }
        for name, model in MODELS.items()
    ]
    return await serve(yaml.safe_dump({"model_list": entries}))


def api_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """An OpenAI-convention mask: opaque, with the box fully transparent (the area to edit)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return encode(mask)


def encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def white(mask: Image.Image) -> set[tuple[int, int]]:
    width, height = mask.size
    return {(x, y) for y in range(height) for x in range(width) if mask.getpixel((x, y)) == 255}


def box_pixels(box: tuple[int, int, int, int]) -> set[tuple[int, int]]:
    return {(x, y) for y in range(box[1], box[3]) for x in range(box[0], box[2])}


def edit_requests(fake: VertexFake) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith(":predict") or "generateContent" in r.path]


# ----------------------------------------------------------------------------- Gemini models


async def test_gemini_sends_every_image_inline_in_order_and_prices_the_input_images(
    served: Served, fake: VertexFake
) -> None:
    images = [png_bytes(64, 48, 1), jpeg_bytes(32, 32, 2), webp_bytes(16, 16, 3)]

    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="put all three together", model="pro", images=images)
    )

    assert fake.input_images == [
        list(zip(["image/png", "image/jpeg", "image/webp"], images, strict=True))
    ]
    (request,) = edit_requests(fake)
    assert request.path == f"{PATH}/gemini-3-pro-image-preview:generateContent"
    assert request.json == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "put all three together"},
                    {"inlineData": {"mimeType": "image/png", "data": b64(images[0])}},
                    {"inlineData": {"mimeType": "image/jpeg", "data": b64(images[1])}},
                    {"inlineData": {"mimeType": "image/webp", "data": b64(images[2])}},
                ],
            }
        ],
        "generationConfig": {"responseModalities": ["IMAGE"]},
    }
    usage = response.usage
    assert usage.input_tokens_details.image_tokens == 3 * INPUT_IMAGE_TOKENS
    assert usage.input_tokens_details.text_tokens == 4
    # gemini-3-pro-image on Vertex: $2/1M text and image input, $120/1M image output, $12/1M
    # thinking (billed as text output).
    expected = (
        Decimal(4) * 2
        + Decimal(3 * INPUT_IMAGE_TOKENS) * 2
        + Decimal(usage.output_tokens_details.image_tokens) * 120
        + Decimal(usage.output_tokens_details.text_tokens) * 12
    ) / MILLION
    assert Decimal(response.cost.response_cost) == expected
    assert len(response.images) == 1


async def test_gemini_without_an_input_image_rate_costs_unknown(
    served: Served, fake: VertexFake
) -> None:
    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="make it dusk", model="flash", images=[png_bytes(16, 16)])
    )
    assert len(fake.input_images[0]) == 1
    # No confirmed input-image rate for gemini-2.5-flash-image: unknown, never a silent 0.
    assert response.cost.response_cost == "unknown"


async def test_gemini_refuses_a_mask_and_too_many_images_before_calling(
    served: Served, fake: VertexFake
) -> None:
    masked = pb.EditImagesRequest(
        prompt="edit", model="pro", images=[png_bytes(8, 8)], mask=api_mask(8, 8, (0, 0, 4, 4))
    )
    crowded = pb.EditImagesRequest(prompt="edit", model="pro", images=[png_bytes(8, 8)] * 15)
    generator = pb.EditImagesRequest(prompt="edit", model="imagen", images=[png_bytes(8, 8)])

    found = {}
    for name, request in (("mask", masked), ("images", crowded), ("model", generator)):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await served.stub.EditImages(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        found[name] = violations(error.value)

    assert found == {"mask": ["mask"], "images": ["images"], "model": ["model"]}
    assert fake.requests == []


# ----------------------------------------------------------------------------- Imagen capability


async def test_capability_inpaint_sends_raw_and_mask_references_exactly(
    served: Served, fake: VertexFake
) -> None:
    image = png_bytes(96, 80, 3)
    box = (10, 20, 50, 64)
    params: dict[str, float | str] = {
        "base_steps": 12,
        "mask_dilation": 0.03,
        "negative_prompt": "blur",
        "seed": 7,
    }
    request = pb.EditImagesRequest(
        prompt="a red cat",
        model="capability",
        images=[image],
        mask=api_mask(96, 80, box),
        operation=pb.EDIT_OPERATION_INPAINT,
        n=2,
    )
    request.provider_params.update(params)

    response = await served.stub.EditImages(request)

    (edit,) = fake.edits
    assert edit.mask is not None
    assert white(edit.mask) == box_pixels(box)
    assert set(edit.mask.get_flattened_data()) == {0, 255}
    (sent,) = edit_requests(fake)
    assert sent.path == f"{PATH}/{CAPABILITY}:predict"
    mask_b64 = sent.json["instances"][0]["referenceImages"][1]["referenceImage"]
    assert sent.json == {
        "instances": [
            {
                "prompt": "a red cat",
                "referenceImages": [
                    {
                        "referenceType": "REFERENCE_TYPE_RAW",
                        "referenceId": 1,
                        "referenceImage": {
                            "bytesBase64Encoded": b64(image),
                            "mimeType": "image/png",
                        },
                    },
                    {
                        "referenceType": "REFERENCE_TYPE_MASK",
                        "referenceId": 2,
                        "maskImageConfig": {
                            "maskMode": "MASK_MODE_USER_PROVIDED",
                            "dilation": 0.03,
                        },
                        "referenceImage": mask_b64,
                    },
                ],
            }
        ],
        "parameters": {
            "sampleCount": 2,
            "negativePrompt": "blur",
            "seed": 7,
            "includeRaiReason": True,
            "editMode": "EDIT_MODE_INPAINT_INSERTION",
            "editConfig": {"baseSteps": 12},
        },
    }
    # The fake's own pictures come back, byte for byte.
    assert [i.data for i in response.images] == [
        image_bytes("png", 96, 80, seed=index + len("a red cat")) for index in range(2)
    ]
    # No first-party price for the capability model: unknown, never invented.
    assert response.cost.response_cost == "unknown"


async def test_capability_erase_sends_no_stand_in_prompt(served: Served, fake: VertexFake) -> None:
    box = (4, 4, 12, 12)
    await served.stub.EditImages(
        pb.EditImagesRequest(
            model="capability",
            images=[jpeg_bytes(32, 32, 1)],
            mask=api_mask(32, 32, box),
            operation=pb.EDIT_OPERATION_ERASE,
        )
    )
    (edit,) = fake.edits
    assert (edit.edit_mode, edit.prompt) == ("EDIT_MODE_INPAINT_REMOVAL", "")
    assert edit.mask is not None and white(edit.mask) == box_pixels(box)


async def test_capability_outpaint_sends_the_grown_canvas_and_its_new_area(
    served: Served, fake: VertexFake
) -> None:
    image = png_bytes(40, 30, 5)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a wide beach",
            model="capability",
            images=[image],
            operation=pb.EDIT_OPERATION_OUTPAINT,
            outpaint=pb.OutpaintExtension(left=10, top=5, right=20, bottom=0),
        )
    )

    (edit,) = fake.edits
    assert edit.edit_mode == "EDIT_MODE_OUTPAINT"
    assert edit.mask_mode == "MASK_MODE_USER_PROVIDED"
    with Image.open(io.BytesIO(edit.raw)) as canvas, Image.open(io.BytesIO(image)) as source:
        assert canvas.size == (70, 35)
        pasted = canvas.convert("RGB").crop((10, 5, 50, 35))
        assert list(pasted.get_flattened_data()) == list(source.convert("RGB").get_flattened_data())
    assert edit.mask is not None
    everything = {(x, y) for y in range(35) for x in range(70)}
    assert white(edit.mask) == everything - box_pixels((10, 5, 50, 35))
    assert (response.images[0].width, response.images[0].height) == (70, 35)


async def test_capability_background_swap_without_a_mask_lets_vertex_find_it(
    served: Served, fake: VertexFake
) -> None:
    await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a snowy forest",
            model="capability",
            images=[png_bytes(24, 24)],
            operation=pb.EDIT_OPERATION_REPLACE_BACKGROUND,
        )
    )
    (sent,) = edit_requests(fake)
    assert sent.json["instances"][0]["referenceImages"][1] == {
        "referenceType": "REFERENCE_TYPE_MASK",
        "referenceId": 2,
        "maskImageConfig": {"maskMode": "MASK_MODE_BACKGROUND"},
    }
    assert fake.edits[0].edit_mode == "EDIT_MODE_BGSWAP"


async def test_capability_refuses_what_it_does_not_serve_before_calling(
    served: Served, fake: VertexFake
) -> None:
    image = png_bytes(16, 16)
    refused = {
        "operation": pb.EditImagesRequest(prompt="x", model="capability", images=[image]),
        "images": pb.EditImagesRequest(
            prompt="x",
            model="capability",
            images=[image, image],
            mask=api_mask(16, 16, (0, 0, 8, 8)),
            operation=pb.EDIT_OPERATION_INPAINT,
        ),
        "images[0]": pb.EditImagesRequest(
            prompt="x",
            model="capability",
            images=[webp_bytes(16, 16)],
            mask=api_mask(16, 16, (0, 0, 8, 8)),
            operation=pb.EDIT_OPERATION_INPAINT,
        ),
        "mask": pb.EditImagesRequest(
            prompt="x", model="capability", images=[image], operation=pb.EDIT_OPERATION_INPAINT
        ),
    }
    for field, request in refused.items():
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await served.stub.EditImages(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in violations(error.value), field

    with pytest.raises(grpc.aio.AioRpcError) as generation:
        await served.stub.GenerateImages(pb.GenerateImagesRequest(prompt="x", model="capability"))
    assert generation.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fake.requests == []


async def test_capability_streams_its_edit_and_summary(served: Served, fake: VertexFake) -> None:
    events = [
        event
        async for event in served.stub.StreamEditImages(
            pb.StreamEditImagesRequest(
                prompt="a hat",
                model="capability",
                images=[png_bytes(32, 32)],
                mask=api_mask(32, 32, (8, 8, 24, 24)),
                operation=pb.EDIT_OPERATION_INPAINT,
            )
        )
    ]
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    (image,) = [event.image for event in events if event.WhichOneof("event") == "image"]
    assert (image.width, image.height) == (32, 32)
    assert events[-1].summary.image_count == 1
    assert events[-1].summary.cost.response_cost == "unknown"
    assert len(fake.edits) == 1


async def test_list_models_reports_vertex_edits(served: Served) -> None:
    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    assert set(models["capability"].edit_operations) == {
        pb.EDIT_OPERATION_INPAINT,
        pb.EDIT_OPERATION_ERASE,
        pb.EDIT_OPERATION_OUTPAINT,
        pb.EDIT_OPERATION_REPLACE_BACKGROUND,
    }
    assert list(models["pro"].edit_operations) == [pb.EDIT_OPERATION_EDIT]
    assert list(models["imagen"].edit_operations) == []
