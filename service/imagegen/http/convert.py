"""OpenAI JSON ↔ domain conversion for the HTTP door. Nothing else: no policy, no I/O.

The body is checked strictly (JSON types as OpenAI's API has them: `"n": "2"` or
`"n": true` is a 400, not a coerced value), then goes through the in-process SDK's
`build_request`, so the HTTP door and `image_generation(**body)` read a body the same
way: unknown fields are provider parameters; `drop_params`, `request_id`, `tags` and
`metadata.tags` are gateway fields.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from imagegen.errors import FieldViolation, InvalidRequestError
from imagegen.events import Generation
from imagegen.gateway import ModelDescription
from imagegen.openai_compat import build_request, image_response_from
from imagegen.providers.base import PreviewEvent
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    GeneratedImage,
    ImageRequest,
    ResponseFormat,
    Usage,
    invalid_request_from,
)

COMPLETED_EVENT = "image_generation.completed"
PARTIAL_EVENT = "image_generation.partial_image"
# SVG (Recraft's vectorize and vector models, the placeholder's vectorize) is named as what
# it is: a png/jpeg/webp label on SVG bytes would send a client's decoder the wrong way.
_OUTPUT_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/webp": "webp",
    "image/svg+xml": "svg",
}
_BACKGROUNDS = ("transparent", "opaque", "auto")


class GenerationsBody(BaseModel):
    """The body of POST /v1/images/generations: OpenAI's fields, strictly typed.

    Fields not listed here are kept (extra="allow") and become provider parameters.
    """

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    prompt: str
    model: str | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_IMAGES_PER_REQUEST)
    quality: str | None = None
    response_format: str | None = None
    size: str | None = None
    style: str | None = None
    user: str | None = None
    timeout: float | None = None
    stream: bool | None = None
    partial_images: int | None = Field(default=None, ge=0, le=3)
    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    drop_params: bool | None = None
    request_id: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, JsonValue] | None = None
    fallbacks: list[str] | None = None
    disable_fallbacks: bool | None = None


@dataclass(frozen=True, slots=True)
class GenerationsCall:
    """A parsed generations request: the domain request, and how to answer it."""

    request: ImageRequest
    stream: bool
    partial_images: int = 0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or InvalidRequestError (never anything else)."""
    try:
        parsed = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        # A lone surrogate escape ("\\ud800") parses but cannot be encoded again: refuse it
        # here, not in a provider's request body.
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):
        raise InvalidRequestError(
            "the request body must be a JSON object (UTF-8)",
            metadata={"field": "body"},
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return parsed


def generations_call(document: dict[str, Any]) -> GenerationsCall:
    """Validate a generations body (raises InvalidRequestError naming the field)."""
    try:
        body = GenerationsBody.model_validate(document)
    except ValidationError as exc:
        raise invalid_request_from(exc) from None
    stream = bool(body.stream)
    if body.partial_images and not stream:
        raise InvalidRequestError(
            "partial_images needs stream: true",
            field_violations=[FieldViolation("partial_images", "only with stream: true")],
            metadata={"field": "partial_images"},
        )
    response_format = body.response_format
    if stream:
        if response_format == ResponseFormat.URL.value:
            raise InvalidRequestError(
                "a stream carries the images themselves: response_format=url cannot be streamed",
                field_violations=[
                    FieldViolation("response_format", "must be b64_json on a stream")
                ],
                metadata={"field": "response_format"},
            )
        response_format = ResponseFormat.B64_JSON.value
    extras: dict[str, Any] = dict(body.model_extra or {})
    for name in ("drop_params", "request_id", "tags", "metadata", "fallbacks", "disable_fallbacks"):
        value = getattr(body, name)
        if value is not None:
            extras[name] = value
    request = build_request(
        body.prompt,
        model=body.model,
        n=body.n,
        quality=body.quality,
        response_format=response_format,
        size=body.size,
        style=body.style,
        user=body.user,
        timeout=body.timeout,
        api_key=body.api_key,
        api_base=body.api_base,
        api_version=body.api_version,
        custom_llm_provider=None,
        kwargs=extras,
    )
    return GenerationsCall(request=request, stream=stream, partial_images=body.partial_images or 0)


def images_response(generation: Generation) -> dict[str, Any]:
    """OpenAI's ImagesResponse: created, data[].b64_json|url (+revised_prompt), usage."""
    body: dict[str, Any] = image_response_from(generation).model_dump(exclude_none=True)
    result = generation.result
    if result.size:
        body["size"] = result.size
    if result.quality:
        body["quality"] = result.quality
    formats = {_OUTPUT_FORMATS.get(image.mime_type or "") for image in result.images}
    if len(formats) == 1 and None not in formats:
        body["output_format"] = formats.pop()
    return body


def partial_event(preview: PreviewEvent, request: ImageRequest, created: int) -> dict[str, Any]:
    """An `image_generation.partial_image` event (OpenAI's image streaming events)."""
    return {
        "type": PARTIAL_EVENT,
        "b64_json": base64.b64encode(preview.data).decode("ascii"),
        "background": _background(request),
        "created_at": created,
        "output_format": _OUTPUT_FORMATS.get(preview.mime_type, "png"),
        "partial_image_index": preview.partial_index,
        "quality": request.quality or "auto",
        "size": request.size or "auto",
    }


def completed_event(
    image: GeneratedImage,
    request: ImageRequest,
    created: int,
    *,
    quality: str | None,
    size: str | None,
    usage: Usage | None,
) -> dict[str, Any]:
    """An `image_generation.completed` event. The schema wants `usage` on every event: the
    call's usage goes on the last one and the others carry zeros, so that adding the
    events up gives the call's usage once."""
    return {
        "type": COMPLETED_EVENT,
        "b64_json": image.b64_json(),
        "background": _background(request),
        "created_at": created,
        "output_format": _output_format(image, request),
        "quality": quality or "auto",
        "size": _image_size(image, size),
        "usage": _event_usage(usage),
    }


def _background(request: ImageRequest) -> str:
    background = request.provider_params.get("background")
    return background if isinstance(background, str) and background in _BACKGROUNDS else "auto"


def _output_format(image: GeneratedImage, request: ImageRequest) -> str:
    known = _OUTPUT_FORMATS.get(image.mime_type or "")
    if known is not None:
        return known
    asked = request.provider_params.get("output_format")
    return asked if isinstance(asked, str) and asked in _OUTPUT_FORMATS.values() else "png"


def _image_size(image: GeneratedImage, size: str | None) -> str:
    if image.width and image.height:
        return f"{image.width}x{image.height}"
    return size or "auto"


def _event_usage(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    details = usage.input_tokens_details
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "image_tokens": details.image_tokens if details else 0,
            "text_tokens": details.text_tokens if details else 0,
        },
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def models_list(described: list[ModelDescription], created: int) -> dict[str, Any]:
    """OpenAI's list: {"object": "list", "data": [{"id", "object", "created", "owned_by"}]}."""
    return {
        "object": "list",
        "data": [
            {
                "id": d.deployment.model_name,
                "object": "model",
                "created": created,
                "owned_by": d.deployment.provider,
            }
            for d in described
        ],
    }
