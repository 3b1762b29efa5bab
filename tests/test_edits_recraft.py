"""Recraft edits through a real gRPC server and the Recraft fake, which parses each multipart
form strictly and checks it as Recraft's OpenAPI does: the input as an `image` file part
(byte for byte the caller's), the caller's mask (transparent = edit) converted pixel for pixel
to Recraft's pure white-means-edit, `strength` for image to image, the tools without a model.
The cost is the answer's `credits` (1,000 API units = 1 USD); without them, the price table's
row for the operation; vectorize answers an SVG and says so."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
import yaml
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import embedded_settings
from tests.conftest import ServeFactory
from tests.edit_helpers import params, violations
from tests.fakes.images import png_bytes, webp_bytes
from tests.fakes.recraft import RecraftFake

KEY = "recraft-test-key"
MODELS = (
    "recraftv3",
    "recraftv3_vector",
    "recraftv4_1",
    "vectorize",
    "remove-background",
    "crisp-upscale",
    "creative-upscale",
    "erase-region",
)


@pytest.fixture
async def fake() -> AsyncIterator[RecraftFake]:
    async with RecraftFake(api_key=KEY) as recraft:
        yield recraft


def config(fake: RecraftFake) -> str:
    return yaml.safe_dump(
        {
            "model_list": [
                {
                    "model_name": name,
                    "litellm_params": {
                        "model": f"recraft/{name}",
                        "api_base": f"{fake.base_url}/v1",
                        "api_key": KEY,
                    },
                }
                for name in MODELS
            ]
        }
    )


def api_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """A caller's mask: opaque black, with `box` fully transparent (the area to edit), and a
    half-transparent rim around it that must be kept (only alpha 0 means edit)."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    left, top, right, bottom = box
    mask.paste((0, 0, 0, 128), (left - 4, top - 4, right + 4, bottom + 4))
    mask.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def test_image_to_image_sends_the_image_bytes_and_strength_and_costs_the_credits(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    image = webp_bytes(320, 288, 5)

    call = served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="the same street in winter",
            model="recraftv3",
            images=[image],
            n=2,
            response_format=pb.RESPONSE_FORMAT_B64_JSON,
            provider_params=params(strength=0.3, negative_prompt="people"),
        )
    )
    response = await call

    (edit,) = fake.edits
    assert edit.endpoint == "imageToImage"
    assert edit.files == {"image": image}
    assert edit.fields == {
        "prompt": "the same street in winter",
        "model": "recraftv3",
        "n": "2",
        "response_format": "b64_json",
        "strength": "0.3",
        "negative_prompt": "people",
    }
    assert [size_of(i.data) for i in response.images] == [(320, 288), (320, 288)]
    assert [i.mime_type for i in response.images] == ["image/webp", "image/webp"]
    # 2 raster V3 images at 40 API units each: the answer's credits, 80, are $0.08.
    assert fake.credits_charged == 80
    assert response.cost.response_cost == "0.08"
    trailers = dict(await call.trailing_metadata())
    assert trailers["x-imagegen-response-cost"] == "0.08"


async def test_image_to_image_without_strength_is_refused_before_any_call(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="winter", model="recraftv4_1", images=[png_bytes(256, 256, 1)]
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["provider_params.strength"]
    assert fake.requests == []


async def test_inpaint_mask_is_white_exactly_where_the_caller_made_it_transparent(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    image = png_bytes(300, 260, 7)
    box = (40, 50, 180, 200)

    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a bicycle",
            model="recraftv3",
            images=[image],
            mask=api_mask(300, 260, box),
            operation=pb.EDIT_OPERATION_INPAINT,
        )
    )

    (edit,) = fake.edits
    assert edit.endpoint == "inpaint"
    assert edit.files["image"] == image
    with Image.open(io.BytesIO(edit.files["mask"])) as mask:
        assert mask.mode == "L"
        pixels = mask.load()
        assert pixels is not None
        white = {(x, y) for y in range(260) for x in range(300) if pixels[x, y] == 255}
        others = {pixels[x, y] for y in range(260) for x in range(300)} - {0, 255}
    # Exactly the transparent box: the half-transparent rim is kept (black), no grey survives.
    assert white == {(x, y) for y in range(box[1], box[3]) for x in range(box[0], box[2])}
    assert others == set()
    assert response.cost.response_cost == "0.04"


async def test_replace_background_on_the_vector_model_answers_svg_at_the_vector_price(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a beach at dawn",
            model="recraftv3_vector",
            images=[png_bytes(256, 256, 2)],
            operation=pb.EDIT_OPERATION_REPLACE_BACKGROUND,
            response_format=pb.RESPONSE_FORMAT_B64_JSON,
        )
    )
    (edit,) = fake.edits
    assert edit.endpoint == "replaceBackground"
    (image,) = response.images
    assert image.mime_type == "image/svg+xml"
    assert image.data.lstrip().startswith(b"<?xml")
    # An SVG has no pixel size: none is claimed.
    assert (image.width, image.height) == (0, 0)
    assert response.cost.response_cost == "0.08"


@pytest.mark.parametrize(
    ("model", "operation", "endpoint", "cost", "mime", "scale"),
    [
        ("vectorize", pb.EDIT_OPERATION_VECTORIZE, "vectorize", "0.01", "image/svg+xml", 0),
        (
            "remove-background",
            pb.EDIT_OPERATION_REMOVE_BACKGROUND,
            "removeBackground",
            "0.01",
            "image/png",
            1,
        ),
        ("crisp-upscale", pb.EDIT_OPERATION_UPSCALE, "crispUpscale", "0.004", "image/webp", 2),
        ("creative-upscale", pb.EDIT_OPERATION_UPSCALE, "creativeUpscale", "0.25", "image/webp", 2),
    ],
)
async def test_tools_send_the_image_alone_and_cost_their_credits(
    serve: ServeFactory,
    fake: RecraftFake,
    model: str,
    operation: pb.EditOperation.ValueType,
    endpoint: str,
    cost: str,
    mime: str,
    scale: int,
) -> None:
    served = await serve(config(fake))
    image = png_bytes(256, 320, 4)
    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            model=model,
            images=[image],
            operation=operation,
            response_format=pb.RESPONSE_FORMAT_B64_JSON,
        )
    )
    (edit,) = fake.edits
    assert edit.endpoint == endpoint
    # A tool reads no prompt and no model: neither is sent.
    assert edit.fields == {"response_format": "b64_json"}
    assert edit.files == {"image": image}
    (result,) = response.images
    assert result.mime_type == mime
    if scale:
        assert size_of(result.data) == (256 * scale, 320 * scale)
    else:
        assert (result.width, result.height) == (0, 0)
    assert response.cost.response_cost == cost


async def test_erase_region_sends_the_converted_mask_and_costs_two_units(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    box = (10, 10, 100, 60)
    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            model="erase-region",
            images=[png_bytes(256, 256, 9)],
            mask=api_mask(256, 256, box),
            operation=pb.EDIT_OPERATION_ERASE,
        )
    )
    (edit,) = fake.edits
    assert edit.endpoint == "eraseRegion"
    with Image.open(io.BytesIO(edit.files["mask"])) as mask:
        assert mask.getbbox() == box
    assert response.cost.response_cost == "0.002"


async def test_an_answer_without_credits_is_priced_by_the_operations_row_or_unknown(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'

    encoded = base64.b64encode(svg).decode()
    fake.fail_next(200, {"created": 1, "image": {"image_id": "a", "b64_json": encoded}})
    vectorized = await served.stub.EditImages(
        pb.EditImagesRequest(
            model="vectorize",
            images=[png_bytes(256, 256, 1)],
            operation=pb.EDIT_OPERATION_VECTORIZE,
        )
    )
    # The vectorize row: $0.01 a request.
    assert vectorized.cost.response_cost == "0.01"

    png = png_bytes(256, 256, 3)
    fake.fail_next(
        200,
        {"created": 1, "data": [{"image_id": "b", "b64_json": base64.b64encode(png).decode()}]},
    )
    edited = await served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="winter",
            model="recraftv4_1",
            images=[png_bytes(256, 256, 1)],
            provider_params=params(strength=0.5),
        )
    )
    # V4.1 image to image has no published price: unknown, never the generation price.
    assert edited.cost.response_cost == "unknown"


@pytest.mark.parametrize(
    ("model", "operation", "field"),
    [
        ("recraftv4_1", pb.EDIT_OPERATION_INPAINT, "operation"),
        ("vectorize", pb.EDIT_OPERATION_UPSCALE, "operation"),
        ("recraftv3", pb.EDIT_OPERATION_VECTORIZE, "operation"),
    ],
)
async def test_an_operation_the_model_does_not_serve_is_refused_before_any_call(
    serve: ServeFactory,
    fake: RecraftFake,
    model: str,
    operation: pb.EditOperation.ValueType,
    field: str,
) -> None:
    served = await serve(config(fake))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="x",
                model=model,
                images=[png_bytes(256, 256, 1)],
                mask=api_mask(256, 256, (10, 10, 20, 20)),
                operation=operation,
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(caught.value)
    assert fake.requests == []


async def test_inputs_outside_recrafts_bounds_and_nested_fields_are_refused_before_any_call(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    with pytest.raises(grpc.aio.AioRpcError) as small:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                model="vectorize",
                images=[png_bytes(200, 256, 1)],
                operation=pb.EDIT_OPERATION_VECTORIZE,
            )
        )
    assert small.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(small.value) == ["images[0]"]

    with pytest.raises(grpc.aio.AioRpcError) as nested:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="winter",
                model="recraftv3",
                images=[png_bytes(256, 256, 1)],
                provider_params=params(strength=0.5, controls={"no_text": True}),
            )
        )
    assert nested.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(nested.value) == ["provider_params.controls"]

    with pytest.raises(grpc.aio.AioRpcError) as two:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="winter",
                model="recraftv3",
                images=[png_bytes(256, 256, 1), png_bytes(256, 256, 2)],
                provider_params=params(strength=0.5),
            )
        )
    assert two.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(two.value) == ["images"]
    assert fake.requests == []


async def test_a_tool_model_refuses_to_generate_without_calling_recraft(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="a fox", model="vectorize")
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == ["model"]
    assert fake.requests == []


async def test_recrafts_errors_on_an_edit_map_as_for_a_generation(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="nocredits",
                model="recraftv3",
                images=[png_bytes(256, 256, 1)],
                provider_params=params(strength=0.5),
            )
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    (request,) = fake.requests
    assert request.path == "/v1/images/imageToImage"


async def test_vectorize_on_the_http_door_is_labelled_svg_not_a_raster_format(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    form = aiohttp.FormData()
    form.add_field("model", "vectorize")
    form.add_field("operation", "vectorize")
    form.add_field("response_format", "b64_json")
    form.add_field("image", png_bytes(256, 256, 6), filename="a.png", content_type="image/png")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.http_base_url}/v1/images/edits", data=form) as answer,
    ):
        assert answer.status == 200
        body = await answer.json()
    assert body["output_format"] == "svg"
    assert base64.b64decode(body["data"][0]["b64_json"]).lstrip().startswith(b"<?xml")


async def test_a_stored_svg_is_served_as_svg_and_may_run_nothing(serve: ServeFactory) -> None:
    # The result store (response_format=url) keeps an SVG as .svg, served as image/svg+xml
    # under a policy that lets no script in it run on the gateway's origin.
    served = await serve(embedded_settings())
    response = await served.stub.EditImages(
        pb.EditImagesRequest(
            model="placeholder",
            images=[png_bytes(64, 48, 3)],
            operation=pb.EDIT_OPERATION_VECTORIZE,
            response_format=pb.RESPONSE_FORMAT_URL,
        )
    )
    (image,) = response.images
    assert image.url.endswith(".svg") or ".svg?" in image.url
    async with aiohttp.ClientSession() as session, session.get(image.url) as got:
        assert got.status == 200
        assert got.headers["Content-Type"] == "image/svg+xml"
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert (await got.read()).startswith(b"<svg")


async def test_list_models_says_which_operations_each_recraft_model_serves(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    listed = await served.stub.ListModels(pb.ListModelsRequest())
    models = {m.name: m for m in listed.models}
    assert set(models["recraftv3"].edit_operations) == {
        pb.EDIT_OPERATION_EDIT,
        pb.EDIT_OPERATION_INPAINT,
        pb.EDIT_OPERATION_REPLACE_BACKGROUND,
    }
    assert list(models["recraftv4_1"].edit_operations) == [pb.EDIT_OPERATION_EDIT]
    assert list(models["vectorize"].edit_operations) == [pb.EDIT_OPERATION_VECTORIZE]
    assert list(models["crisp-upscale"].edit_operations) == [pb.EDIT_OPERATION_UPSCALE]
    assert models["recraftv3"].max_input_images == 1
    assert models["vectorize"].price_basis == "per_image"


async def test_a_streamed_vectorize_ends_with_the_svg_and_its_credits(
    serve: ServeFactory, fake: RecraftFake
) -> None:
    served = await serve(config(fake))
    events = [
        message
        async for message in served.stub.StreamEditImages(
            pb.StreamEditImagesRequest(
                model="vectorize",
                images=[png_bytes(256, 256, 8)],
                operation=pb.EDIT_OPERATION_VECTORIZE,
                response_format=pb.RESPONSE_FORMAT_B64_JSON,
            )
        )
    ]
    kinds = [m.WhichOneof("event") for m in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    (image,) = [m.image for m in events if m.WhichOneof("event") == "image"]
    assert image.mime_type == "image/svg+xml"
    assert image.data.lstrip().startswith(b"<?xml")
    assert events[-1].summary.cost.response_cost == "0.01"
