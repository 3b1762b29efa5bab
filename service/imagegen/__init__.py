"""imagegen: a gRPC image-generation gateway, and the same core as an in-process SDK.

from imagegen import image_generation
response = image_generation("a sea otter", model="placeholder")   # offline model
response = image_generation("a sea otter", model="openai/gpt-image-1")
response._hidden_params["response_cost"]

The names below are imported on first use (PEP 562), so that `import imagegen.client`
(a gRPC caller) does not load the gateway, its providers and their dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagegen.errors import (
        ContentPolicyViolationError,
        ImageGenError,
        InvalidRequestError,
        ModelNotFoundError,
        ProviderError,
        UnsupportedParameterError,
    )
    from imagegen.sdk import Router, aimage_generation, image_generation
    from imagegen.types import ImageObject, ImageResponse, Usage

# name → the module that defines it
_LAZY: dict[str, str] = {
    "ContentPolicyViolationError": "imagegen.errors",
    "ImageGenError": "imagegen.errors",
    "InvalidRequestError": "imagegen.errors",
    "ModelNotFoundError": "imagegen.errors",
    "ProviderError": "imagegen.errors",
    "UnsupportedParameterError": "imagegen.errors",
    "Router": "imagegen.sdk",
    "aimage_generation": "imagegen.sdk",
    "image_generation": "imagegen.sdk",
    "ImageObject": "imagegen.types",
    "ImageResponse": "imagegen.types",
    "Usage": "imagegen.types",
}

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
    "aimage_generation",
    "image_generation",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagegen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
