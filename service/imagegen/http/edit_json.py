"""`POST /v1/images/edits` with a JSON body, as OpenAI documents it for GPT image models:
`images` a list of `{"image_url": ...}` references and `mask` one such reference, beside
the generation fields (`prompt`, `model`, `n`, `size`, `quality`, `stream`, ...).

An `image_url` is a `data:` URL (base64) or an `http(s)` URL, fetched only from hosts the
operator allows (see image_fetch). `file_id` (OpenAI's Files API) names files this gateway
does not hold: refused, naming the field. Every reference is checked before the first fetch,
so a request naming one host that is not allowed makes no connection at all.

The generation fields are read by the generations body model, so they are typed as strictly
as a generations body, and `operation` is the gateway's own field, as in the form.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from yarl import URL

from imagegen.edits import edit_prompt, operation_named
from imagegen.errors import InvalidRequestError, invalid_field
from imagegen.http.convert import generations_call, parse_json_object
from imagegen.http.edits import EditsCall
from imagegen.http.image_fetch import ImageFetcher
from imagegen.images.operations import EditOperation

# More references than any model takes only makes the gateway fetch more: refused up front.
MAX_IMAGE_REFERENCES = 16
_DATA_URL = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(;[^,;]*)*),", re.ASCII)
_EDIT_FIELDS = ("images", "mask", "operation")
_OPERATION_NAMES = frozenset(op.value for op in EditOperation)


@dataclass(frozen=True, slots=True)
class _Reference:
    """One image reference: its bytes (a data URL), or the allowed URL to fetch them from."""

    field: str
    data: bytes | None = None
    url: URL | None = None


async def read_json_body(request: web.Request, max_bytes: int) -> tuple[dict[str, Any], int]:
    """The body as a JSON object, and its size; at most `max_bytes` (413 beyond, like the
    form)."""
    body = bytearray()
    async for chunk in request.content.iter_chunked(256 * 1024):
        body += chunk
        if len(body) > max_bytes:
            raise web.HTTPRequestEntityTooLarge(
                max_size=max_bytes, actual_size=request.content_length or len(body)
            )
    return parse_json_object(bytes(body)), len(body)


async def json_edits_call(
    document: dict[str, Any], fetcher: ImageFetcher, max_bytes: int
) -> EditsCall:
    """The domain request of a JSON edits body; image URLs fetched within `max_bytes` in all
    (what is left of the message limit once the body is read).

    Raises InvalidRequestError naming the field (`images[1].image_url`, `mask.file_id`...).
    """
    images_value = document.get("images")
    if not isinstance(images_value, list) or not images_value:
        raise invalid_field("images", "images must be a non-empty list of {image_url: ...}")
    if len(images_value) > MAX_IMAGE_REFERENCES:
        raise invalid_field("images", f"at most {MAX_IMAGE_REFERENCES} images")
    operation_value = document.get("operation")
    if operation_value is not None and operation_value not in _OPERATION_NAMES:
        # Exactly as the schema spells them: a JSON body is typed strictly, unlike a form.
        known = ", ".join(sorted(_OPERATION_NAMES))
        raise invalid_field("operation", f"operation must be one of: {known}")
    operation = operation_named(operation_value)
    references = [
        _reference(item, f"images[{index}]", fetcher) for index, item in enumerate(images_value)
    ]
    mask_value = document.get("mask")
    mask = None if mask_value is None else _reference(mask_value, "mask", fetcher)
    generation = {name: value for name, value in document.items() if name not in _EDIT_FIELDS}
    prompt = generation.get("prompt")
    if prompt is None or isinstance(prompt, str):
        generation["prompt"] = edit_prompt(operation, prompt)
    # The generation fields are checked before anything is fetched.
    call = generations_call(generation)
    budget = max_bytes
    images: list[bytes] = []
    for reference in references:
        data = await _bytes_of(reference, fetcher, budget)
        if reference.url is not None:
            budget -= len(data)
        images.append(data)
    mask_bytes = None if mask is None else await _bytes_of(mask, fetcher, budget)
    return EditsCall(
        call=call,
        operation=operation,
        images=images,
        mask=mask_bytes,
        prompt_written=isinstance(prompt, str) and bool(prompt),
    )


def _reference(value: object, field: str, fetcher: ImageFetcher) -> _Reference:
    if not isinstance(value, dict):
        raise invalid_field(field, f"{field} must be an object with image_url")
    unknown = sorted(set(value) - {"image_url", "file_id"})
    if unknown:
        raise invalid_field(f"{field}.{unknown[0]}", "not a field of an image reference")
    if "file_id" in value:
        raise invalid_field(
            f"{field}.file_id",
            "file ids name files in OpenAI's Files API, which this gateway does not hold: "
            "send image_url (a data: URL, or an http(s) URL of an allowed host)",
        )
    url = value.get("image_url")
    if not isinstance(url, str) or not url:
        raise invalid_field(f"{field}.image_url", "image_url must be a non-empty string")
    where = f"{field}.image_url"
    if url[:5].lower() == "data:":
        return _Reference(where, data=_data_url_bytes(url, where))
    return _Reference(where, url=fetcher.checked(url, where))


def _data_url_bytes(url: str, field: str) -> bytes:
    head = _DATA_URL.match(url)
    if head is None or ";base64" not in head.group("params").lower():
        raise invalid_field(field, "a data: URL must be base64 (data:image/png;base64,...)")
    try:
        return base64.b64decode(url[head.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise invalid_field(field, "the data: URL's base64 is not valid") from None


async def _bytes_of(reference: _Reference, fetcher: ImageFetcher, budget: int) -> bytes:
    if reference.data is not None:
        return reference.data
    assert reference.url is not None  # a reference is one or the other
    if budget <= 0:
        raise InvalidRequestError(
            "the request's images are larger than the gateway's message limit",
            metadata={"field": reference.field},
        )
    return await fetcher.fetch(reference.url, reference.field, budget)
