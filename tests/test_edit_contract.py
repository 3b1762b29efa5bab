"""The EditImages contract: its shape, its annotations, and its wire compatibility with the
generation messages it mirrors (which is what lets the server reuse one conversion)."""

from __future__ import annotations

import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor

from imagegen._gen.v1 import image_generation_pb2 as pb

EDIT_REQUESTS = (pb.EditImagesRequest, pb.StreamEditImagesRequest)


def _behaviours(field: descriptor.FieldDescriptor) -> list[int]:
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def test_service_declares_unary_and_server_streaming_edit_methods() -> None:
    service = pb.DESCRIPTOR.services_by_name["ImageGeneration"]
    unary = service.methods_by_name["EditImages"]
    stream = service.methods_by_name["StreamEditImages"]

    assert (unary.input_type.name, unary.output_type.name) == (
        "EditImagesRequest",
        "EditImagesResponse",
    )
    assert not unary.client_streaming and not unary.server_streaming
    assert stream.server_streaming and not stream.client_streaming
    assert stream.output_type.name == "StreamEditImagesResponse"


@pytest.mark.parametrize("message", [*EDIT_REQUESTS, pb.OutpaintExtension])
def test_every_request_field_carries_a_field_behavior(message: type) -> None:
    fields = message.DESCRIPTOR.fields  # type: ignore[attr-defined]
    missing = [f.name for f in fields if not _behaviours(f)]
    assert missing == []


@pytest.mark.parametrize("message", EDIT_REQUESTS)
def test_input_images_are_required_repeated_raw_bytes(message: type) -> None:
    field = message.DESCRIPTOR.fields_by_name["images"]  # type: ignore[attr-defined]
    assert field.is_repeated
    assert field.type == descriptor.FieldDescriptor.TYPE_BYTES
    assert _behaviours(field) == [field_behavior_pb2.REQUIRED]
    mask = message.DESCRIPTOR.fields_by_name["mask"]  # type: ignore[attr-defined]
    assert mask.type == descriptor.FieldDescriptor.TYPE_BYTES
    assert _behaviours(mask) == [field_behavior_pb2.OPTIONAL]


def test_operation_enum_defaults_to_instruction_edit_and_names_every_operation() -> None:
    names = set(pb.EditOperation.keys())
    assert pb.EditImagesRequest().operation == pb.EDIT_OPERATION_UNSPECIFIED == 0
    assert names == {
        f"EDIT_OPERATION_{name}"
        for name in (
            "UNSPECIFIED",
            "EDIT",
            "INPAINT",
            "OUTPAINT",
            "VARIATION",
            "REMOVE_BACKGROUND",
            "REPLACE_BACKGROUND",
            "UPSCALE",
            "VECTORIZE",
            "ERASE",
        )
    }


def test_generation_request_fields_keep_their_numbers_in_the_edit_requests() -> None:
    generation = pb.StreamGenerateImagesRequest.DESCRIPTOR.fields_by_name
    for message in EDIT_REQUESTS:
        edit = message.DESCRIPTOR.fields_by_name
        for name, field in generation.items():
            if name == "partial_images" and message is pb.EditImagesRequest:
                continue  # reserved in the unary request, as in GenerateImagesRequest
            assert edit[name].number == field.number, name
            assert edit[name].type == field.type, name


def test_a_generation_request_parses_as_an_edit_request_with_every_field_kept() -> None:
    generation = pb.GenerateImagesRequest(
        prompt="add a hat",
        model="gpt-image-1",
        n=2,
        quality="high",
        size="1024x1024",
        user="u-1",
        tags=["team:a"],
        request_id="r-1",
        fallbacks=["placeholder"],
    )
    generation.provider_params.update({"input_fidelity": "high"})

    edit = pb.EditImagesRequest.FromString(generation.SerializeToString())
    edit.images.append(b"\x89PNG...")
    edit.operation = pb.EDIT_OPERATION_INPAINT

    assert edit.prompt == "add a hat" and edit.n == 2 and edit.HasField("n")
    assert list(edit.tags) == ["team:a"] and list(edit.fallbacks) == ["placeholder"]
    assert edit.provider_params["input_fidelity"] == "high"
    back = pb.GenerateImagesRequest.FromString(edit.SerializeToString())
    # The edit-only fields are unknown to the generation request and do not disturb it.
    assert back.prompt == generation.prompt and back.request_id == "r-1"


def test_edit_responses_are_wire_identical_to_generation_responses() -> None:
    image = pb.Image(index=0, data=b"png-bytes", mime_type="image/png", width=8, height=8)
    unary = pb.GenerateImagesResponse(created=7, images=[image], filtered_count=1)
    assert pb.EditImagesResponse.FromString(unary.SerializeToString()).images[0].data == (
        b"png-bytes"
    )
    for event in (
        pb.StreamGenerateImagesResponse(accepted=pb.Accepted(request_id="r", n=1)),
        pb.StreamGenerateImagesResponse(partial_image=pb.PartialImage(index=0, data=b"p")),
        pb.StreamGenerateImagesResponse(summary=pb.GenerationSummary(image_count=1)),
    ):
        converted = pb.StreamEditImagesResponse.FromString(event.SerializeToString())
        assert converted.WhichOneof("event") == event.WhichOneof("event")
        assert converted.SerializeToString() == event.SerializeToString()


def test_model_info_reports_edit_operations() -> None:
    info = pb.ModelInfo(
        name="placeholder",
        edit_operations=[pb.EDIT_OPERATION_EDIT, pb.EDIT_OPERATION_UPSCALE],
        max_input_images=16,
    )
    parsed = pb.ModelInfo.FromString(info.SerializeToString())
    assert list(parsed.edit_operations) == [pb.EDIT_OPERATION_EDIT, pb.EDIT_OPERATION_UPSCALE]
    assert parsed.max_input_images == 16
