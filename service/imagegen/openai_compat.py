"""The OpenAI/LiteLLM-shaped edges the in-process SDK and the HTTP door share:
LiteLLM-style arguments → ImageRequest, a finished Generation → ImageResponse."""

from __future__ import annotations

from typing import Any

from imagegen.errors import FieldViolation, InvalidRequestError
from imagegen.events import Generation
from imagegen.types import (
    ImageObject,
    ImageRequest,
    ImageResponse,
    ResponseFormat,
    hidden_params_for,
)

DEFAULT_TIMEOUT = 600.0


def build_request(
    prompt: str,
    *,
    model: str | None,
    n: int | None,
    quality: str | None,
    response_format: str | None,
    size: str | None,
    style: str | None,
    user: str | None,
    timeout: float | None,
    api_key: str | None,
    api_base: str | None,
    api_version: str | None,
    custom_llm_provider: str | None,
    kwargs: dict[str, Any],
) -> ImageRequest:
    """The ImageRequest for a LiteLLM-style call; unknown kwargs become provider params."""
    if custom_llm_provider and model and not model.startswith(f"{custom_llm_provider}/"):
        model = f"{custom_llm_provider}/{model}"
    drop_params = kwargs.pop("drop_params", None)
    fallbacks = kwargs.pop("fallbacks", None)
    disable_fallbacks = kwargs.pop("disable_fallbacks", False)
    request_id = kwargs.pop("request_id", None)
    cache = kwargs.pop("cache", None)
    tags = kwargs.pop("tags", None)
    metadata = kwargs.pop("metadata", None)
    if tags is None and isinstance(metadata, dict):
        tags = metadata.get("tags")
    if response_format is not None and response_format not in {f.value for f in ResponseFormat}:
        raise InvalidRequestError(
            "response_format must be url or b64_json",
            field_violations=[FieldViolation("response_format", "must be url or b64_json")],
            metadata={"field": "response_format"},
        )
    return ImageRequest.create(
        prompt=prompt,
        model=model,
        n=n,
        quality=quality,
        response_format=response_format,
        size=size,
        style=style,
        user=user,
        timeout=timeout,
        api_key=api_key,
        api_base=api_base,
        api_version=api_version,
        provider_params=kwargs,
        tags=tuple(tags or ()),
        drop_params=drop_params,
        request_id=request_id,
        fallbacks=fallbacks,
        disable_fallbacks=disable_fallbacks,
        cache=cache,
    )


def image_response_from(generation: Generation) -> ImageResponse:
    """The OpenAI-compatible response for a finished generation."""
    result = generation.result
    data = [
        ImageObject(
            b64_json=image.b64_json() if image.has_content else None,
            url=None if image.has_content else image.url,
            revised_prompt=image.revised_prompt,
        )
        for image in result.images
    ]
    response = ImageResponse(data=data, usage=result.usage)
    if result.created:
        response.created = result.created
    response._hidden_params = hidden_params_for(generation.facts)
    response._response_headers = dict(result.headers)
    return response
