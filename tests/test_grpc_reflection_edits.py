"""EditImages and StreamEditImages through server reflection alone, as grpcurl calls them:
the method and message types come from the reflection service (no generated code, no .proto
file), the request is written as proto JSON (bytes as base64, enums by name) and parsed
against the reflected descriptor, and the answer is read back as JSON. Two images and a mask."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from PIL import Image

from imagegen.config import embedded_settings
from tests.conftest import ServeFactory
from tests.fakes.images import jpeg_bytes, png_bytes

W, H = 48, 32
SERVICE = "imagegen.v1.ImageGeneration"


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 12, 12))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def reflected_methods(address: str) -> dict[str, Any]:
    """The service's method descriptors, from the server's reflection service alone."""
    with grpc.insecure_channel(address) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName(SERVICE)
        methods = dict(service.methods_by_name)
        for method in methods.values():
            # Resolve every nested type while the channel is open.
            message_factory.GetMessageClass(method.input_type)
            message_factory.GetMessageClass(method.output_type)
        return methods


def request_json(photo: bytes) -> str:
    """What a grpcurl user writes after -d: proto JSON, bytes as base64, enums by name."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return json.dumps(
        {
            "model": "placeholder",
            "prompt": "a red hat",
            "operation": "EDIT_OPERATION_INPAINT",
            "images": [b64(photo), b64(jpeg_bytes(8, 8))],
            "mask": b64(api_mask()),
        }
    )


async def test_edit_images_from_reflection_and_json_alone(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    methods = await asyncio.to_thread(reflected_methods, served.address)
    method = methods["EditImages"]
    request_class: Any = message_factory.GetMessageClass(method.input_type)
    response_class: Any = message_factory.GetMessageClass(method.output_type)
    photo = png_bytes(W, H, 5)
    request = json_format.Parse(request_json(photo), request_class())
    edit = served.channel.unary_unary(
        f"/{SERVICE}/EditImages",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )

    answer = json.loads(json_format.MessageToJson(await edit(request)))

    (image,) = answer["images"]
    edited, original = decode(base64.b64decode(image["data"])), decode(photo)
    # Inpainted inside the mask's transparent box, untouched outside it.
    assert edited.getpixel((3, 3)) != original.getpixel((3, 3))
    assert edited.getpixel((30, 20)) == original.getpixel((30, 20))


async def test_stream_edit_images_from_reflection_and_json_alone(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    methods = await asyncio.to_thread(reflected_methods, served.address)
    method = methods["StreamEditImages"]
    request_class: Any = message_factory.GetMessageClass(method.input_type)
    response_class: Any = message_factory.GetMessageClass(method.output_type)
    request = json_format.Parse(request_json(png_bytes(W, H, 5)), request_class())
    stream = served.channel.unary_stream(
        f"/{SERVICE}/StreamEditImages",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )

    events = [json.loads(json_format.MessageToJson(event)) async for event in stream(request)]

    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert "image" in kinds or "imageChunk" in kinds
    assert events[-1]["summary"]["imageCount"] == 1
