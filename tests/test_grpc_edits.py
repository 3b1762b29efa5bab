"""EditImages and StreamEditImages end to end on a real grpc.aio server on 127.0.0.1:0: the
offline placeholder and OpenAI (through its fake), inputs refused before any provider call,
unsupported operations named, and ListModels reporting what each model edits."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import embedded_settings
from tests.conftest import TRAILER_KEYS, ServeFactory
from tests.fakes.images import jpeg_bytes, png_bytes
from tests.fakes.openai import OpenAIFake
from tests.fakes.recraft import RecraftFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config

W, H = 48, 32
MASK_BOX = (0, 0, 16, 12)


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def photo() -> bytes:
    image = Image.new("RGB", (W, H), (240, 240, 240))
    image.paste((30, 60, 200), (16, 8, 32, 24))
    return encode(image)


def api_mask(width: int = W, height: int = H) -> bytes:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), MASK_BOX)
    return encode(mask)


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def openai_config(fake: OpenAIFake) -> str:
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
                    "model_info": {"id": "oai-gpt-image-1"},
                }
            ]
        }
    )


def bad_request(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The ErrorInfo reason and the BadRequest violations of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None
    reason, violations = "", {}
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad):
            violations = {v.field: v.description for v in bad.field_violations}
    return reason, violations


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


# ----------------------------------------------------------------------------- placeholder


async def test_placeholder_inpaint_changes_only_the_masked_pixels(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    call = served.stub.EditImages(
        pb.EditImagesRequest(
            prompt="a red square",
            model="placeholder",
            images=[photo()],
            mask=api_mask(),
            operation=pb.EDIT_OPERATION_INPAINT,
            request_id="edit-1",
        )
    )
    response = await call
    trailers = dict(await call.trailing_metadata())

    (image,) = response.images
    assert (image.mime_type, image.width, image.height) == ("image/png", W, H)
    before, after = decode(photo()), decode(image.data)
    changed = {
        (x, y)
        for x in range(W)
        for y in range(H)
        if before.getpixel((x, y)) != after.getpixel((x, y))
    }
    assert changed == {(x, y) for x in range(16) for y in range(12)}
    assert trailers.keys() >= TRAILER_KEYS
    assert trailers["x-imagegen-request-id"] == "edit-1"
    assert response.cost.response_cost == "0" and response.cost.provider == "local"


async def test_placeholder_streams_an_upscale_and_its_summary(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    events = [
        event
        async for event in served.stub.StreamEditImages(
            pb.StreamEditImagesRequest(
                model="placeholder", images=[photo()], operation=pb.EDIT_OPERATION_UPSCALE
            )
        )
    ]

    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    (image,) = [event.image for event in events if event.WhichOneof("event") == "image"]
    assert (image.width, image.height) == (2 * W, 2 * H)
    assert events[-1].summary.image_count == 1


async def test_placeholder_edit_uses_every_input_image(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    red = encode(Image.new("RGB", (8, 8), (255, 0, 0)))
    response = await served.stub.EditImages(
        pb.EditImagesRequest(prompt="combine", model="placeholder", images=[photo(), red], n=2)
    )
    assert len(response.images) == 2
    assert decode(response.images[0].data).getpixel((1, H - 1)) == (255, 0, 0)


# ----------------------------------------------------------------------------- refusals


async def test_bad_inputs_are_refused_before_any_provider_call(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    gif = encode(Image.new("RGB", (8, 8)), "GIF")

    error = await refused(
        served.stub.EditImages(
            pb.EditImagesRequest(
                prompt="edit",
                model="gpt-image-1",
                images=[photo(), gif],
                mask=api_mask(W // 2, H),
            )
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = bad_request(error)
    assert reason == "INVALID_INPUT_IMAGE"
    assert set(violations) == {"images[1]", "mask"}
    assert openai_fake.requests == []


async def test_too_many_images_for_the_model_are_refused(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    error = await refused(
        served.stub.EditImages(
            pb.EditImagesRequest(prompt="edit", model="gpt-image-1", images=[png_bytes(8, 8)] * 17)
        )
    )
    assert bad_request(error)[1] == {"images": "this model takes at most 16 input images, got 17"}
    assert openai_fake.requests == []


async def test_an_operation_the_model_does_not_serve_is_named(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    error = await refused(
        served.stub.EditImages(
            pb.EditImagesRequest(
                model="gpt-image-1", images=[photo()], operation=pb.EDIT_OPERATION_UPSCALE
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = bad_request(error)
    assert reason == "UNSUPPORTED_PARAMETER" and list(violations) == ["operation"]
    assert openai_fake.requests == []


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"operation": pb.EDIT_OPERATION_EDIT}, "prompt"),
        ({"operation": pb.EDIT_OPERATION_OUTPAINT, "prompt": "more"}, "outpaint"),
        ({"operation": pb.EDIT_OPERATION_ERASE}, "mask"),
        ({"operation": 42, "prompt": "x"}, "operation"),
        (
            {"operation": pb.EDIT_OPERATION_UPSCALE, "outpaint": pb.OutpaintExtension(left=8)},
            "outpaint",
        ),
    ],
    ids=[
        "edit-needs-prompt",
        "outpaint-needs-sides",
        "erase-needs-mask",
        "unknown-operation",
        "sides-only-with-outpaint",
    ],
)
async def test_requests_missing_what_their_operation_needs_are_refused(
    serve: ServeFactory, request_fields: dict[str, Any], field: str
) -> None:
    served = await serve(embedded_settings())
    error = await refused(
        served.stub.EditImages(
            pb.EditImagesRequest(model="placeholder", images=[photo()], **request_fields)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in bad_request(error)[1]


# ----------------------------------------------------------------------------- OpenAI


async def test_openai_edit_sends_every_image_and_the_mask_and_reports_image_tokens(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    first, second, mask = photo(), jpeg_bytes(24, 24, 3), api_mask()
    request = pb.EditImagesRequest(
        prompt="put the second on the first",
        model="gpt-image-1",
        images=[first, second],
        mask=mask,
        operation=pb.EDIT_OPERATION_INPAINT,
        quality="low",
    )
    request.provider_params.update({"input_fidelity": "high"})

    call = served.stub.EditImages(request)
    response = await call

    (received,) = openai_fake.edit_requests
    assert [f.data for f in received.images] == [first, second]
    assert [f.part_name for f in received.images] == ["image[]", "image[]"]
    assert received.mask is not None and received.mask.data == mask
    assert received.input_fidelity == "high" and received.fields["quality"] == "low"
    (image,) = response.images
    assert image.mime_type == "image/png" and image.data.startswith(b"\x89PNG")
    assert response.usage.input_tokens_details.image_tokens > 0
    assert response.usage.input_tokens_details.text_tokens > 0
    assert response.cost.provider == "openai" and response.cost.attempts == 1
    # Priced from the answer: input text and input image tokens each at their own rate
    # (gpt-image-1: $5, $10 and $40 per million for text in, image in, image out).
    usage = response.usage
    expected = (
        Decimal(usage.input_tokens_details.text_tokens) * 5
        + Decimal(usage.input_tokens_details.image_tokens) * 10
        + Decimal(usage.output_tokens) * 40
    ) / 1_000_000
    assert Decimal(response.cost.response_cost) == expected
    assert dict(await call.trailing_metadata())["x-imagegen-provider"] == "openai"


async def test_openai_streamed_edit_relays_previews_then_the_image(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    events = [
        event
        async for event in served.stub.StreamEditImages(
            pb.StreamEditImagesRequest(
                prompt="stream an edit", model="gpt-image-1", images=[photo()], partial_images=2
            )
        )
    ]

    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert kinds.count("partial_image") == 2
    assert "image" in kinds or "image_chunk" in kinds
    assert events[-1].summary.usage.input_tokens_details.image_tokens > 0


async def test_openai_edit_refuses_a_generation_only_provider_param(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    request = pb.EditImagesRequest(prompt="edit", model="gpt-image-1", images=[photo()])
    request.provider_params.update({"moderation": "low"})

    error = await refused(served.stub.EditImages(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "provider_params.moderation" in bad_request(error)[1]
    assert openai_fake.requests == []


# ----------------------------------------------------------------------------- ListModels


async def test_list_models_reports_the_edit_operations_of_each_model(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    config = yaml.safe_load(openai_config(openai_fake))
    config["model_list"].append(
        {"model_name": "placeholder", "litellm_params": {"model": "local/placeholder"}}
    )
    served = await serve(yaml.safe_dump(config))

    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}

    assert list(models["gpt-image-1"].edit_operations) == [
        pb.EDIT_OPERATION_EDIT,
        pb.EDIT_OPERATION_INPAINT,
    ]
    assert models["gpt-image-1"].max_input_images == 16
    assert len(models["placeholder"].edit_operations) == 9


# ----------------------------------------------------------------------------- keys


async def test_a_caller_without_a_key_is_refused_before_its_images_are_decoded(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    config = access_config(
        openai_fake,
        general={"master_key": MASTER, "spend_log_path": str(tmp_path / "spend.sqlite3")},
        keys=[{"alias": "team", "key": TEAM_KEY}],
    )
    served = await serve(config)
    # Undecodable input: had it been looked at, the answer would be INVALID_ARGUMENT.
    request = pb.EditImagesRequest(prompt="edit", model="gpt-image-1", images=[b"not an image"])

    anonymous = await refused(served.stub.EditImages(request))
    with_key = await refused(
        served.stub.EditImages(request, metadata=(("authorization", f"Bearer {TEAM_KEY}"),))
    )

    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    assert with_key.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert openai_fake.requests == []


# ----------------------------------------------------------------------------- fallbacks


async def test_a_fallback_to_a_model_that_cannot_edit_is_refused_with_the_reason(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    async with RecraftFake() as recraft:
        config = yaml.safe_load(openai_config(openai_fake))
        # Recraft V2 edits nothing (Recraft's edits run on V3, V4 and V4.1).
        config["model_list"].append(
            {
                "model_name": "v2",
                "litellm_params": {
                    "model": "recraft/recraftv2",
                    "api_base": f"{recraft.base_url}/v1",
                    "api_key": recraft.api_key,
                },
            }
        )
        config["router_settings"] = {"num_retries": 0}
        served = await serve(yaml.safe_dump(config))
        openai_fake.fail_next(
            500, {"error": {"message": "down", "type": "server_error", "param": None, "code": None}}
        )

        error = await refused(
            served.stub.EditImages(
                pb.EditImagesRequest(
                    prompt="edit", model="gpt-image-1", images=[photo()], fallbacks=["v2"]
                )
            )
        )

        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "'v2' does not serve the edit operation" in (error.details() or "")
        assert recraft.requests == []
        assert len(openai_fake.requests) == 1


# ----------------------------------------------------------------------------- reflection


def _reflected_edit_method(address: str) -> Any:
    """The EditImages method descriptor, from the server's reflection service alone."""
    with grpc.insecure_channel(address) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName("imagegen.v1.ImageGeneration")
        method = service.methods_by_name["EditImages"]
        # Resolve the nested types while the channel is open.
        pool.FindEnumTypeByName("imagegen.v1.EditOperation")
        return method


async def test_an_edit_built_from_reflection_alone_is_served(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    method = await asyncio.to_thread(_reflected_edit_method, served.address)
    request_class: Any = message_factory.GetMessageClass(method.input_type)
    response_class: Any = message_factory.GetMessageClass(method.output_type)
    edit = served.channel.unary_unary(
        f"/imagegen.v1.ImageGeneration/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    operation = method.input_type.fields_by_name["operation"].enum_type
    upscale = operation.values_by_name["EDIT_OPERATION_UPSCALE"].number

    response: Any = await edit(
        request_class(model="placeholder", images=[photo()], operation=upscale)
    )

    assert not isinstance(response, pb.EditImagesResponse)
    (image,) = response.images
    assert (image.width, image.height) == (2 * W, 2 * H)
