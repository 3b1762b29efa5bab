"""The in-process SDK: `image_generation()` / `aimage_generation()` and `image_edit()` /
`aimage_edit()`, with LiteLLM's signatures.

No server is involved: the call goes through the same Gateway the gRPC service
uses, with any "provider/model" string allowed and credentials taken from the
arguments or the provider's environment variables (OPENAI_API_KEY, AZURE_API_KEY,
AZURE_API_BASE, AZURE_API_VERSION, XINFERENCE_API_BASE...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from imagegen.config import sdk_settings
from imagegen.edits import edit_prompt, operation_named, prepare_edit
from imagegen.errors import FieldViolation, InvalidRequestError
from imagegen.gateway import Gateway
from imagegen.images.operations import Outpaint
from imagegen.images.reading import ImageInput, read_image_input, read_image_inputs
from imagegen.openai_compat import DEFAULT_TIMEOUT, build_request, image_response_from
from imagegen.sdk._loop import sync_loop
from imagegen.types import ImageResponse

# One Gateway (one connection pool) per event loop: aiohttp sessions are bound to the loop
# they were created on.
_gateways: WeakKeyDictionary[asyncio.AbstractEventLoop, Gateway] = WeakKeyDictionary()
_closers: set[asyncio.Task[None]] = set()


def _gateway() -> Gateway:
    loop = asyncio.get_running_loop()
    gateway = _gateways.get(loop)
    if gateway is None:
        gateway = _gateways[loop] = Gateway(sdk_settings())
        closer = loop.create_task(_close_when_cancelled(gateway), name="imagegen-sdk-closer")
        _closers.add(closer)
        closer.add_done_callback(_closers.discard)
    return gateway


async def _close_when_cancelled(gateway: Gateway) -> None:
    """Wait until the loop ends, then close its gateway's connection pool.

    asyncio.run (and test runners) cancel the tasks still pending when they end a loop,
    and let them finish: this is how a loop's gateway learns that its loop is ending."""
    try:
        await asyncio.Event().wait()
    finally:
        await gateway.aclose()


async def aimage_generation(
    prompt: str,
    model: str | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    **kwargs: Any,
) -> ImageResponse:
    """Generate images in-process. Raises imagegen.errors.ImageGenError subclasses."""
    request = build_request(
        prompt,
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
        custom_llm_provider=custom_llm_provider,
        kwargs=kwargs,
    )
    generation = await _gateway().generate(request)
    return image_response_from(generation)


def image_generation(
    prompt: str,
    model: str | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    **kwargs: Any,
) -> ImageResponse:
    """Generate images in-process (blocking). Same arguments as `aimage_generation`."""
    return sync_loop.run(
        aimage_generation(
            prompt,
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
            custom_llm_provider=custom_llm_provider,
            **kwargs,
        )
    )


async def aimage_edit(
    image: ImageInput | Sequence[ImageInput],
    prompt: str | None = None,
    model: str | None = None,
    mask: ImageInput | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    **kwargs: Any,
) -> ImageResponse:
    """Edit images in-process, with LiteLLM's `image_edit()` signature.

    `image` is bytes, a path or a binary file, or a list of them (in order: the first is the
    one `mask` applies to). `mask` follows OpenAI's convention: fully transparent = edit.
    Beyond LiteLLM: `operation="inpaint"` (or outpaint, variation, remove_background,
    replace_background, upscale, vectorize, erase; default edit) and, for outpainting,
    `outpaint={"left": 0, "top": 0, "right": 256, "bottom": 0}`. Other kwargs become
    provider params. Inputs are validated before any provider call.
    """
    operation = operation_named(kwargs.pop("operation", None))
    outpaint = _outpaint(kwargs.pop("outpaint", None))
    images = read_image_inputs(image)
    mask_bytes = read_image_input(mask, "mask") if mask is not None else None
    request = build_request(
        edit_prompt(operation, prompt),
        model=model,
        n=n,
        quality=quality,
        response_format=response_format,
        size=size,
        style=None,
        user=user,
        timeout=timeout,
        api_key=api_key,
        api_base=api_base,
        api_version=api_version,
        custom_llm_provider=custom_llm_provider,
        kwargs=kwargs,
    )
    gateway = _gateway()
    edit = await prepare_edit(
        gateway,
        request,
        operation=operation,
        images=images,
        mask=mask_bytes,
        outpaint=outpaint,
        prompt_written=bool(prompt),
    )
    return image_response_from(await gateway.generate(edit))


def _outpaint(value: Any) -> Outpaint | None:
    if value is None:
        return None
    if isinstance(value, Outpaint):
        return value
    if (
        isinstance(value, dict)
        and set(value) <= {"left", "top", "right", "bottom"}
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())
    ):
        return Outpaint(**value)
    raise InvalidRequestError(
        "outpaint must map left, top, right and bottom to whole pixels",
        field_violations=[FieldViolation("outpaint", "expected {left, top, right, bottom}")],
        metadata={"field": "outpaint"},
    )


def image_edit(
    image: ImageInput | Sequence[ImageInput],
    prompt: str | None = None,
    model: str | None = None,
    mask: ImageInput | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    **kwargs: Any,
) -> ImageResponse:
    """Edit images in-process (blocking). Same arguments as `aimage_edit`."""
    return sync_loop.run(
        aimage_edit(
            image,
            prompt,
            model=model,
            mask=mask,
            n=n,
            quality=quality,
            response_format=response_format,
            size=size,
            user=user,
            timeout=timeout,
            api_key=api_key,
            api_base=api_base,
            api_version=api_version,
            custom_llm_provider=custom_llm_provider,
            **kwargs,
        )
    )
