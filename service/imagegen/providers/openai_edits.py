"""The request of OpenAI's image edits endpoint, `POST {api_base}/images/edits`, built as bytes.

Pure: it takes validated inputs (imagegen.images) and returns the multipart body, so it is
tested against the OpenAI fake's parser byte for byte, and the HTTP call stays outside.

Wire format (https://github.com/openai/openai-python/blob/main/src/openai/types/image_edit_params.py):
one input file goes as `image`, several as repeated `image[]` parts (up to 16 for GPT image
models), in the caller's order; the optional `mask` is a PNG applied to the first image.
Every other field is a text part. OpenAI judges an uploaded file by its part's Content-Type
(it answers "unsupported mimetype ('application/octet-stream')" otherwise), so each file part
carries the media type of the format sniffed from its bytes, never a guess from a file name.
Input images travel as raw bytes: no base64 anywhere on this leg.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from imagegen.errors import (
    FieldViolation,
    InvalidRequestError,
    ProviderBadResponseError,
    UnsupportedParameterError,
)
from imagegen.images.decode import InputImage
from imagegen.images.payload import EditPayload
from imagegen.providers.base import (
    DoneEvent,
    HttpProvider,
    HttpRequest,
    ImageEvent,
    PreviewEvent,
    ProviderCall,
    ProviderEvent,
)
from imagegen.providers.openai_stream import (
    MIME_BY_FORMAT,
    dimensions,
    event_object,
    event_usage,
    stream_error,
)
from imagegen.providers.sse import parse_sse
from imagegen.providers.transport import HttpTransport
from imagegen.types import GeneratedImage, ProviderResult, Usage, decode_b64_image, merge_usage

EDITS_PATH = "/images/edits"
#: Stream event types of the edits endpoint (the generations endpoint says image_generation.*).
PARTIAL_IMAGE_EVENT = "image_edit.partial_image"
COMPLETED_EVENT = "image_edit.completed"

_CRLF = b"\r\n"
# Edit controls callers pass through provider_params, with the values OpenAI documents.
_ENUM_PARAMS: dict[str, frozenset[str]] = {
    "background": frozenset({"transparent", "opaque", "auto"}),
    "input_fidelity": frozenset({"high", "low"}),
    "output_format": frozenset({"png", "jpeg", "webp"}),
}
_INT_PARAMS: dict[str, tuple[int, int]] = {"output_compression": (0, 100)}


@dataclass(frozen=True, slots=True)
class OpenAIEditFields:
    """The text fields of an edit request; None means "not sent" (OpenAI's default)."""

    prompt: str
    model: str
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    input_fidelity: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    partial_images: int | None = None
    stream: bool = False
    user: str | None = None

    def form_fields(self) -> list[tuple[str, str]]:
        """(name, value) text parts in a fixed order, absent fields left out."""
        values: list[tuple[str, object]] = [
            ("prompt", self.prompt),
            ("model", self.model),
            ("n", self.n),
            ("size", self.size),
            ("quality", self.quality),
            ("background", self.background),
            ("input_fidelity", self.input_fidelity),
            ("output_format", self.output_format),
            ("output_compression", self.output_compression),
            ("partial_images", self.partial_images if self.stream else None),
            ("stream", "true" if self.stream else None),
            ("user", self.user),
        ]
        return [(name, str(value)) for name, value in values if value is not None]


@dataclass(frozen=True, slots=True)
class MultipartBody:
    """An encoded multipart/form-data body and the Content-Type header that declares it."""

    content_type: str
    body: bytes


def edit_fields(
    *,
    prompt: str,
    model: str,
    n: int | None,
    size: str | None,
    quality: str | None,
    user: str | None,
    provider_params: Mapping[str, JsonValue],
    partial_images: int | None = None,
    stream: bool = False,
) -> OpenAIEditFields:
    """The edit fields from a request's parameters; provider_params checked by name and value.

    An unknown provider parameter is refused rather than forwarded: the edits endpoint rejects
    unknown form fields, and the caller learns which one here, before any upload.
    """
    extra: dict[str, str | int] = {}
    for name, value in provider_params.items():
        field_name = f"provider_params.{name}"
        if name in _ENUM_PARAMS:
            if not isinstance(value, str) or value not in _ENUM_PARAMS[name]:
                allowed = ", ".join(sorted(_ENUM_PARAMS[name]))
                raise _invalid(field_name, f"{field_name} must be one of {allowed}")
            extra[name] = value
        elif name in _INT_PARAMS:
            low, high = _INT_PARAMS[name]
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # protobuf Struct numbers arrive as floats
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise _invalid(field_name, f"{field_name} must be an integer from {low} to {high}")
            extra[name] = value
        else:
            description = f"{field_name} is not a parameter of OpenAI image edits"
            raise UnsupportedParameterError(
                description,
                field_violations=[FieldViolation(field_name, description)],
                metadata={"field": field_name},
            )
    compression = extra.get("output_compression")
    return OpenAIEditFields(
        prompt=prompt,
        model=model,
        n=n,
        size=size,
        quality=quality,
        background=_str(extra.get("background")),
        input_fidelity=_str(extra.get("input_fidelity")),
        output_format=_str(extra.get("output_format")),
        output_compression=compression if isinstance(compression, int) else None,
        partial_images=partial_images,
        stream=stream,
        user=user,
    )


def build_edit_body(
    fields: OpenAIEditFields,
    images: Sequence[InputImage],
    mask: InputImage | None = None,
    *,
    boundary: str | None = None,
) -> MultipartBody:
    """The multipart body of an edit request: text fields, then images in order, then the mask.

    `boundary` is for tests; by default a random one is drawn, and drawn again in the
    (astronomically unlikely) case that it occurs inside one of the files.
    """
    if not images:
        raise ValueError("an edit needs at least one input image")
    chosen = boundary or _new_boundary()
    while _collides(chosen, fields, images, mask):
        if boundary is not None:
            raise ValueError("the boundary occurs inside a field or an input file")
        chosen = _new_boundary()
    delimiter = b"--" + chosen.encode("ascii")
    pieces: list[bytes] = []
    for name, value in fields.form_fields():
        pieces += [delimiter, _CRLF, _disposition(name), _CRLF, _CRLF, value.encode(), _CRLF]
    image_field = "image" if len(images) == 1 else "image[]"
    for index, image in enumerate(images):
        pieces += _file_part(delimiter, image_field, f"image-{index}", image)
    if mask is not None:
        pieces += _file_part(delimiter, "mask", "mask", mask)
    pieces += [delimiter, b"--", _CRLF]
    return MultipartBody(f"multipart/form-data; boundary={chosen}", b"".join(pieces))


def _file_part(delimiter: bytes, name: str, stem: str, image: InputImage) -> list[bytes]:
    filename = f"{stem}.{image.format.value}"
    return [
        delimiter,
        _CRLF,
        _disposition(name, filename),
        _CRLF,
        f"Content-Type: {image.format.mime_type}".encode("ascii"),
        _CRLF,
        _CRLF,
        image.data,
        _CRLF,
    ]


def _disposition(name: str, filename: str | None = None) -> bytes:
    # Names and file names are the module's own ASCII constants: nothing to escape.
    header = f'Content-Disposition: form-data; name="{name}"'
    if filename is not None:
        header += f'; filename="{filename}"'
    return header.encode("ascii")


def _new_boundary() -> str:
    return f"imagegen-{secrets.token_hex(16)}"


def _collides(
    boundary: str, fields: OpenAIEditFields, images: Sequence[InputImage], mask: InputImage | None
) -> bool:
    marker = b"--" + boundary.encode("ascii")
    files = [*images, *([mask] if mask is not None else [])]
    texts = [value.encode() for _, value in fields.form_fields()]
    return any(marker in f.data for f in files) or any(marker in t for t in texts)


def _invalid(field_name: str, description: str) -> InvalidRequestError:
    return InvalidRequestError(
        description,
        field_violations=[FieldViolation(field_name, description)],
        metadata={"field": field_name},
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# ----------------------------------------------------------------------------- the calls

_GENERATIONS_SUFFIX = "/images/generations"


def edit_request(
    generation: HttpRequest, call: ProviderCall, payload: EditPayload, *, stream: bool
) -> HttpRequest:
    """The edits request beside the adapter's generation request: same host, same auth, same
    query (Azure's api-version)."""
    path, question, query = generation.url.partition("?")
    if not path.endswith(_GENERATIONS_SUFFIX):
        raise ValueError("the adapter's URL is not an images/generations URL")
    fields = edit_fields(
        prompt=call.prompt,
        model=call.provider_model,
        n=call.params.n,
        size=call.params.size,
        quality=call.params.quality,
        user=call.params.user,
        provider_params=call.params.extra,
        partial_images=call.params.partial_images if stream else None,
        stream=stream,
    )
    built = build_edit_body(fields, payload.inputs.images, payload.inputs.mask)
    headers = {k: v for k, v in generation.headers.items() if k.lower() != "content-type"}
    headers["content-type"] = built.content_type
    return HttpRequest(
        method="POST",
        url=path.removesuffix(_GENERATIONS_SUFFIX) + EDITS_PATH + question + query,
        headers=headers,
        json={},
        body=built.body,
    )


async def send_openai_edit(
    adapter: HttpProvider, call: ProviderCall, payload: EditPayload, transport: HttpTransport
) -> ProviderResult:
    """One edit call; answers are parsed like generations (the same body shape)."""
    request = edit_request(await adapter.prepare(call), call, payload, stream=False)
    response = await transport.send(request, deadline=call.deadline, provider=adapter.name)
    if response.status >= 400:
        raise adapter.parse_error(call, response)
    return adapter.parse_response(call, response)


async def stream_openai_edit_events(
    adapter: HttpProvider, call: ProviderCall, payload: EditPayload, transport: HttpTransport
) -> AsyncIterator[ProviderEvent]:
    """Relay an edit stream: `image_edit.partial_image` previews, one `image_edit.completed`
    event per image (its `usage` splits input text and image tokens), then the result."""
    request = edit_request(await adapter.prepare(call), call, payload, stream=True)
    provider = adapter.name
    images: list[GeneratedImage] = []
    usages: list[Usage | None] = []
    async with transport.stream(request, deadline=call.deadline, provider=provider) as response:
        if response.status >= 400:
            raise adapter.parse_error(call, await response.read())
        async for event in parse_sse(response.lines()):
            message = event_object(event.data, provider)
            if "error" in message:
                raise stream_error(message["error"], provider)
            kind = message.get("type") or event.event
            mime = MIME_BY_FORMAT.get(str(message.get("output_format") or "png"), "image/png")
            if kind == PARTIAL_IMAGE_EVENT:
                partial = message.get("partial_image_index")
                yield PreviewEvent(
                    index=len(images),
                    partial_index=partial if isinstance(partial, int) else 0,
                    data=decode_b64_image(message.get("b64_json"), provider=provider),
                    mime_type=mime,
                )
            elif kind == COMPLETED_EVENT:
                width, height = dimensions(message.get("size"))
                image = GeneratedImage(
                    data=decode_b64_image(message.get("b64_json"), provider=provider),
                    mime_type=mime,
                    width=width,
                    height=height,
                )
                usages.append(event_usage(message.get("usage"), provider))
                yield ImageEvent(index=len(images), image=image)
                images.append(image)
    if not images:
        raise ProviderBadResponseError("the edit stream ended with no image", provider=provider)
    yield DoneEvent(
        ProviderResult(
            images=images,
            usage=merge_usage(usages),
            created=int(time.time()),
            quality=call.params.quality or call.spec.default_quality,
            size=call.params.size or call.spec.default_size,
            headers=dict(response.headers),
        )
    )
