"""imagegen: a gRPC image-generation gateway, and the same core as an in-process SDK.

from imagegen import image_generation
response = image_generation("a sea otter", model="placeholder")   # offline model
response = image_generation("a sea otter", model="openai/gpt-image-1")
response._hidden_params["response_cost"]
response = image_edit(["room.png", "lamp.png"], "put the lamp in the room", model="placeholder")
"""

from imagegen.errors import (
    ContentPolicyViolationError,
    ImageGenError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    UnsupportedParameterError,
)
from imagegen.router.sdk import Router
from imagegen.sdk import aimage_edit, aimage_generation, image_edit, image_generation
from imagegen.types import ImageObject, ImageResponse, Usage

__all__ = [
    "ContentPolicyViolationError",
    "ImageGenError",
    "ImageObject",
    "ImageResponse",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ProviderError",
    "Router",
    "UnsupportedParameterError",
    "Usage",
    "aimage_edit",
    "aimage_generation",
    "image_edit",
    "image_generation",
]
