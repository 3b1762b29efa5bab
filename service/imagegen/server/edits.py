"""EditImages and StreamEditImages, proto side: the edit request to the domain, validated
before the gateway runs (so a bad input never reaches a provider), and the answers back.

The edit messages keep the generation messages' field numbers, so the shared parameters go
through the same conversion as GenerateImages, and the answers are the generation answers
re-read as edit messages.
"""

from __future__ import annotations

from google.protobuf.message import Message

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.edits import edit_prompt, prepare_edit
from imagegen.errors import invalid_field
from imagegen.gateway import Gateway
from imagegen.images.operations import EditOperation, Outpaint
from imagegen.server.convert import request_from_proto
from imagegen.types import ImageRequest

EditMessage = pb.EditImagesRequest | pb.StreamEditImagesRequest

OPERATIONS: dict[int, EditOperation] = {
    pb.EDIT_OPERATION_UNSPECIFIED: EditOperation.EDIT,
    pb.EDIT_OPERATION_EDIT: EditOperation.EDIT,
    pb.EDIT_OPERATION_INPAINT: EditOperation.INPAINT,
    pb.EDIT_OPERATION_OUTPAINT: EditOperation.OUTPAINT,
    pb.EDIT_OPERATION_VARIATION: EditOperation.VARIATION,
    pb.EDIT_OPERATION_REMOVE_BACKGROUND: EditOperation.REMOVE_BACKGROUND,
    pb.EDIT_OPERATION_REPLACE_BACKGROUND: EditOperation.REPLACE_BACKGROUND,
    pb.EDIT_OPERATION_UPSCALE: EditOperation.UPSCALE,
    pb.EDIT_OPERATION_VECTORIZE: EditOperation.VECTORIZE,
    pb.EDIT_OPERATION_ERASE: EditOperation.ERASE,
}


def generation_view(
    message: EditMessage,
) -> pb.GenerateImagesRequest | pb.StreamGenerateImagesRequest:
    """The generation request with the shared fields of `message` (the images left behind)."""
    view: pb.GenerateImagesRequest | pb.StreamGenerateImagesRequest = (
        pb.StreamGenerateImagesRequest()
        if isinstance(message, pb.StreamEditImagesRequest)
        else pb.GenerateImagesRequest()
    )
    source: Message = message  # field names come from a descriptor, not literals
    for field in view.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.is_repeated:
            getattr(view, field.name).extend(value)
        elif field.message_type is not None or field.has_presence:
            if source.HasField(field.name):
                if field.message_type is not None:
                    getattr(view, field.name).CopyFrom(value)
                else:
                    setattr(view, field.name, value)
        else:
            setattr(view, field.name, value)
    return view


async def edit_request_from_proto(message: EditMessage, gateway: Gateway) -> ImageRequest:
    """The domain request of an edit, inputs validated against the requested model's limits.

    Raises INVALID_ARGUMENT naming the field (`operation`, `prompt`, `outpaint`,
    `images[i]`, `mask`) before anything is sent anywhere.
    """
    operation = OPERATIONS.get(message.operation)
    if operation is None:
        raise invalid_field("operation", f"unknown operation {message.operation}")
    view = generation_view(message)
    prompt_written = bool(view.prompt)
    view.prompt = edit_prompt(operation, view.prompt)
    sides = message.outpaint
    return await prepare_edit(
        gateway,
        request_from_proto(view),
        operation=operation,
        images=message.images,
        mask=message.mask,
        outpaint=Outpaint(left=sides.left, top=sides.top, right=sides.right, bottom=sides.bottom),
        prompt_written=prompt_written,
    )


def edit_response(response: pb.GenerateImagesResponse) -> pb.EditImagesResponse:
    return pb.EditImagesResponse.FromString(response.SerializeToString())


def edit_event(message: pb.StreamGenerateImagesResponse) -> pb.StreamEditImagesResponse:
    return pb.StreamEditImagesResponse.FromString(message.SerializeToString())
