"""`POST /v1/images/edits` as OpenAI's SDKs send it: multipart/form-data with `image` (one
file) or repeated `image[]` parts, an optional `mask`, and text fields. Nothing else here:
the form is read into the same domain request the gRPC door builds, and validated by
imagegen.edits before any provider call.

Form fields are text: OpenAI's SDKs send `n=2` and `stream=true`, so whole numbers and
true/false are read as such. `operation` (inpaint, outpaint, upscale...) is the gateway's
own field; fields it does not list become provider parameters, as in a generations body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from imagegen.edits import edit_prompt, operation_named
from imagegen.errors import FieldViolation, InvalidRequestError, invalid_field
from imagegen.http.convert import GenerationsCall
from imagegen.images.operations import EditOperation
from imagegen.openai_compat import build_request
from imagegen.types import ResponseFormat

PARTIAL_EDIT_EVENT = "image_edit.partial_image"
COMPLETED_EDIT_EVENT = "image_edit.completed"
IMAGE_FIELDS = frozenset({"image", "image[]"})
MASK_FIELDS = frozenset({"mask", "mask[]"})
_INTEGER = re.compile(r"-?[0-9]{1,9}")
# The gateway's own fields; every other text field is a provider parameter.
_GATEWAY_FIELDS = frozenset(
    {
        "prompt",
        "model",
        "n",
        "quality",
        "response_format",
        "size",
        "user",
        "stream",
        "partial_images",
        "operation",
        "request_id",
    }
)


@dataclass
class EditForm:
    """The parts of an edits form, files apart from text."""

    fields: dict[str, str] = field(default_factory=dict)
    images: list[bytes] = field(default_factory=list, repr=False)
    mask: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EditsCall:
    """A parsed edits request: the generation-shaped call, and what makes it an edit."""

    call: GenerationsCall
    operation: EditOperation
    images: list[bytes]
    mask: bytes | None
    #: Whether the caller sent a prompt (see EditPayload.prompt_written).
    prompt_written: bool


async def read_edit_form(request: web.Request, max_bytes: int) -> EditForm:
    """Every part of the form, at most `max_bytes` in all (413 beyond)."""
    if request.content_type != "multipart/form-data":
        raise InvalidRequestError(
            f"POST {request.path} takes multipart/form-data (image, image[], mask, prompt...)"
            + (" or application/json (images: [{image_url}])" if _takes_json(request) else ""),
            metadata={"field": "body"},
        )
    form = EditForm()
    total = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise ValueError("a form part has no name")
            data = bytearray()
            while chunk := await part.read_chunk():
                total += len(chunk)
                if total > max_bytes:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=max_bytes, actual_size=request.content_length or total
                    )
                data += chunk
            _keep(form, part.name, bytes(data))
    except (ValueError, AssertionError, KeyError, HttpProcessingError):
        # Whatever aiohttp's multipart reader refuses (bad headers, no boundary, bad
        # encodings) is the caller's malformed body.
        raise InvalidRequestError(
            "the multipart body could not be read", metadata={"field": "body"}
        ) from None
    return form


def _takes_json(request: web.Request) -> bool:
    return request.path.endswith("/images/edits")


def _keep(form: EditForm, name: str, data: bytes) -> None:
    if name in IMAGE_FIELDS:
        form.images.append(data)
    elif name in MASK_FIELDS:
        if form.mask is not None:
            raise invalid_field("mask", "one mask at most (it applies to the first image)")
        form.mask = data
    else:
        form.fields[name] = data.decode("utf-8")


def _typed(value: str) -> str | int | bool:
    if _INTEGER.fullmatch(value):
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    return value


def _integer(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not _INTEGER.fullmatch(value):
        raise invalid_field(name, f"{name} must be a whole number")
    return int(value)


def edits_call(form: EditForm) -> EditsCall:
    """The domain request of an edits form (raises InvalidRequestError naming the field)."""
    fields = form.fields
    if not form.images:
        raise invalid_field("image", "at least one image is required (image or image[])")
    operation = operation_named(fields.get("operation"))
    stream_value = fields.get("stream", "false")
    if stream_value not in ("true", "false"):
        raise invalid_field("stream", "stream must be true or false")
    stream = stream_value == "true"
    partial_images = _integer(fields, "partial_images") or 0
    if partial_images and not stream:
        raise InvalidRequestError(
            "partial_images needs stream: true",
            field_violations=[FieldViolation("partial_images", "only with stream: true")],
            metadata={"field": "partial_images"},
        )
    response_format = fields.get("response_format") or None
    if stream:
        if response_format == ResponseFormat.URL.value:
            raise invalid_field("response_format", "must be b64_json on a stream")
        response_format = ResponseFormat.B64_JSON.value
    extras: dict[str, object] = {
        name: _typed(value) for name, value in fields.items() if name not in _GATEWAY_FIELDS
    }
    if fields.get("request_id"):
        extras["request_id"] = fields["request_id"]
    request = build_request(
        edit_prompt(operation, fields.get("prompt")),
        model=fields.get("model") or None,
        n=_integer(fields, "n"),
        quality=fields.get("quality") or None,
        response_format=response_format,
        size=fields.get("size") or None,
        style=None,
        user=fields.get("user") or None,
        timeout=None,
        api_key=None,
        api_base=None,
        api_version=None,
        custom_llm_provider=None,
        kwargs=extras,
    )
    return EditsCall(
        call=GenerationsCall(request=request, stream=stream, partial_images=partial_images),
        operation=operation,
        images=form.images,
        mask=form.mask,
        prompt_written=bool(fields.get("prompt")),
    )


def variations_call(form: EditForm) -> EditsCall:
    """`POST /v1/images/variations` (OpenAI's form: `image`, `n`, `size`, `response_format`,
    `model`, `user`) as the variation operation. A mask, another operation or a stream have
    no meaning for a variation: refused, named, rather than ignored."""
    if form.mask is not None:
        raise invalid_field("mask", "a variation takes no mask")
    given = form.fields.get("operation")
    if given and operation_named(given) is not EditOperation.VARIATION:
        raise invalid_field(
            "operation", "this route makes variations: send other operations to /v1/images/edits"
        )
    if form.fields.get("stream", "false") != "false":
        raise invalid_field("stream", "variations are answered whole, not streamed")
    form.fields["operation"] = EditOperation.VARIATION.value
    return edits_call(form)
