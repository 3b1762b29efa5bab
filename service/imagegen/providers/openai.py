"""OpenAI Images API adapter (`openai/<model>`).

Wire format: OpenAI's Images API reference (docs/providers/openai.md says what a user sees).
`POST {api_base}/images/generations`
with `Authorization: Bearer`; errors are `{"error": {message, type, param, code}}`.
The body builder and the parsers are shared with the Azure and Xinference adapters,
which speak dialects of the same API.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import ClassVar

from pydantic import JsonValue, ValidationError

from imagegen.errors import (
    ImageGenError,
    ProviderBadResponseError,
    ProviderNotConfiguredError,
)
from imagegen.providers.base import (
    DoneEvent,
    Endpoint,
    HttpProvider,
    HttpRequest,
    ImageEvent,
    ModelSpec,
    PreviewEvent,
    ProviderCall,
    ProviderEvent,
)
from imagegen.providers.http_errors import error_for_status
from imagegen.providers.openai_edits import send_openai_edit, stream_openai_edit_events
from imagegen.providers.openai_models import OPENAI_MODELS, openai_spec
from imagegen.providers.openai_shape import created_of, image_entries
from imagegen.providers.openai_stream import (
    CONTENT_POLICY_CODES,
    MIME_BY_FORMAT,
    dimensions,
    event_object,
    event_usage,
    stream_error,
)
from imagegen.providers.sse import parse_sse
from imagegen.providers.transport import HttpResponse, HttpTransport, json_or_none
from imagegen.types import (
    GeneratedImage,
    ProviderResult,
    Usage,
    decode_b64_image,
    merge_usage,
)

OPENAI_API_BASE = "https://api.openai.com/v1"


def openai_body(call: ProviderCall, *, include_model: bool = True) -> dict[str, JsonValue]:
    """The images/generations JSON body for `call` (OpenAI field names)."""
    params = call.params
    body: dict[str, JsonValue] = {"prompt": call.prompt}
    if include_model:
        body["model"] = call.provider_model
    body["n"] = params.n
    for name, value in (
        ("quality", params.quality),
        ("size", params.size),
        ("style", params.style),
        ("user", params.user),
    ):
        if value is not None:
            body[name] = value
    if params.response_format is not None and call.spec.send_response_format:
        body["response_format"] = params.response_format.value
    body.update(params.extra)
    return body


_B64_KEY = b'"b64_json"'


def _lift_base64(content: bytes) -> tuple[object, list[memoryview], str]:
    """The JSON answer parsed with each `"b64_json"` string cut out first.

    Building a Python string of several MB for each image only to decode it again costs
    more than everything else the gateway does for a call. A base64 string holds no `"`
    and no `\\`, so when a `"b64_json": "` value has no backslash its bytes run exactly to
    the next `"`: those bytes are kept (as views, not copies) and replaced by a marker
    before the now small document is parsed. A value with a backslash (an escaped `/`)
    is left for the JSON parser, which reads every string correctly. The marker carries a
    fresh random nonce, so no string the upstream sends can pass for one.
    """
    mark = f"\x00{secrets.token_hex(8)}:"
    escaped_mark = mark.replace("\x00", "\\u0000").encode()
    blobs: list[memoryview] = []
    view = memoryview(content)
    parts: list[bytes | memoryview] = []
    done = 0
    at = content.find(_B64_KEY)
    while at >= 0:
        pos = at + len(_B64_KEY)
        while pos < len(content) and content[pos] in b" \t\r\n:":
            pos += 1
        quote = content.find(b'"', pos + 1) if pos < len(content) else -1
        if (
            content[at + len(_B64_KEY) : pos].count(b":") == 1
            and content[pos : pos + 1] == b'"'
            and quote >= 0
            and content.find(b"\\", pos + 1, quote) < 0
        ):
            parts += [view[done : pos + 1], escaped_mark + str(len(blobs)).encode()]
            blobs.append(view[pos + 1 : quote])
            done = quote
        at = content.find(_B64_KEY, max(pos, done))
    if not blobs:
        return json_or_none(content), [], mark
    parts.append(view[done:])
    return json_or_none(b"".join(parts)), blobs, mark


def _image_bytes(value: object, lifted: tuple[list[memoryview], str], provider: str) -> bytes:
    """Decode a b64_json value: a marker for a lifted blob, or the string itself."""
    blobs, mark = lifted
    if isinstance(value, str) and value.startswith(mark):
        return decode_b64_image(blobs[int(value[len(mark) :])], provider=provider)
    return decode_b64_image(value, provider=provider)


def parse_openai_images(
    call: ProviderCall, response: HttpResponse, *, provider: str
) -> ProviderResult:
    """Images and usage from an OpenAI-shaped 200 answer."""
    lifted, blobs, mark = _lift_base64(response.content)
    payload, entries = image_entries(lifted, provider=provider)
    output_format = payload.get("output_format") or call.params.extra.get("output_format") or "png"
    mime = MIME_BY_FORMAT.get(str(output_format), "image/png")
    width, height = dimensions(payload.get("size") or call.params.size or call.spec.default_size)
    images = []
    for entry in entries:
        revised = entry.revised_prompt
        if entry.url is None:
            data = _image_bytes(entry.b64_json, (blobs, mark), provider)
            images.append(
                GeneratedImage(
                    data=data, mime_type=mime, width=width, height=height, revised_prompt=revised
                )
            )
        else:
            images.append(
                GeneratedImage(
                    url=entry.url,
                    mime_type=None,
                    width=width,
                    height=height,
                    revised_prompt=revised,
                )
            )
    if not images:
        raise ProviderBadResponseError("the provider returned no images", provider=provider)
    usage = None
    if isinstance(payload.get("usage"), dict):
        try:
            usage = Usage.model_validate(payload["usage"])
        except ValidationError:
            raise ProviderBadResponseError(
                "the provider's usage block is malformed", provider=provider
            ) from None
    return ProviderResult(
        images=images,
        usage=usage,
        created=created_of(payload),
        quality=_str_or(payload.get("quality"), call.params.quality or call.spec.default_quality),
        size=_str_or(payload.get("size"), call.params.size or call.spec.default_size),
        headers=dict(response.headers),
    )


def parse_openai_error(
    call: ProviderCall, response: HttpResponse, *, provider: str
) -> ImageGenError:
    """The gateway error for an OpenAI-shaped error answer."""
    payload = response.json()
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = _str_or(error.get("code"), None)
    kind = _str_or(error.get("type"), None)
    inner = error.get("inner_error") or error.get("innererror")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    message = _str_or(error.get("message"), None) or response.text(300)
    return error_for_status(
        provider=provider,
        status=response.status,
        message=message,
        headers=response.headers,
        caller_credentials=call.endpoint.caller_credentials,
        code=code or (str(inner_code) if inner_code else None),
        param=_str_or(error.get("param"), None),
        content_policy=(
            code in CONTENT_POLICY_CODES or inner_code == "ResponsibleAIPolicyViolation"
        ),
        quota_exhausted=(code == "insufficient_quota" or kind == "insufficient_quota"),
    )


def _str_or(value: object, default: str | None) -> str | None:
    return value if isinstance(value, str) and value else default


async def stream_openai_events(
    adapter: HttpProvider, call: ProviderCall, transport: HttpTransport
) -> AsyncIterator[ProviderEvent]:
    """Relay an OpenAI-shaped image stream (OpenAI's image streaming events): `stream: true` with
    `partial_images`, answered with `image_generation.partial_image` events and one
    `image_generation.completed` event per image. Shared by OpenAI and Azure."""
    request = await adapter.prepare(call)
    body = {**request.json, "stream": True, "partial_images": call.params.partial_images}
    streaming = replace(request, json=body)
    provider = adapter.name
    images: list[GeneratedImage] = []
    usages: list[Usage | None] = []
    async with transport.stream(streaming, deadline=call.deadline, provider=provider) as response:
        if response.status >= 400:
            raise adapter.parse_error(call, await response.read())
        async for event in parse_sse(response.lines()):
            payload = event_object(event.data, provider)
            if "error" in payload:
                raise stream_error(payload["error"], provider)
            kind = payload.get("type") or event.event
            mime = MIME_BY_FORMAT.get(str(payload.get("output_format") or "png"), "image/png")
            if kind == "image_generation.partial_image":
                index = payload.get("partial_image_index")
                yield PreviewEvent(
                    index=len(images),
                    partial_index=index if isinstance(index, int) else 0,
                    data=decode_b64_image(payload.get("b64_json"), provider=provider),
                    mime_type=mime,
                )
            elif kind == "image_generation.completed":
                width, height = dimensions(payload.get("size") or call.params.size)
                image = GeneratedImage(
                    data=decode_b64_image(payload.get("b64_json"), provider=provider),
                    mime_type=mime,
                    width=width,
                    height=height,
                )
                usages.append(event_usage(payload.get("usage"), provider))
                yield ImageEvent(index=len(images), image=image)
                images.append(image)
    if not images:
        raise ProviderBadResponseError(
            "the provider's stream ended with no image", provider=provider
        )
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


class OpenAIProvider(HttpProvider):
    """api.openai.com and OpenAI-compatible hosts reached with `api_base`."""

    name: ClassVar[str] = "openai"
    env_api_key: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    env_api_base: ClassVar[tuple[str, ...]] = ("OPENAI_BASE_URL", "OPENAI_API_BASE")
    env_api_version: ClassVar[tuple[str, ...]] = ()
    endpoint_options: ClassVar[tuple[str, ...]] = ("organization", "project")
    bare_models: ClassVar[tuple[str, ...]] = OPENAI_MODELS

    def spec_for(self, model: str) -> ModelSpec:
        return openai_spec(model)

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or OPENAI_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for openai/{model}: set OPENAI_API_KEY or api_key in the config",
                metadata={"provider": self.name, "model": model},
            )

    def build_request(self, call: ProviderCall) -> HttpRequest:
        headers = {"authorization": f"Bearer {call.endpoint.api_key}"}
        for option, header in (
            ("organization", "openai-organization"),
            ("project", "openai-project"),
        ):
            value = call.endpoint.options.get(option)
            if isinstance(value, str) and value:
                headers[header] = value
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/images/generations",
            headers=headers,
            json=openai_body(call),
        )

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        return parse_openai_images(call, response, provider=self.name)

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        return parse_openai_error(call, response, provider=self.name)

    async def generate(self, call: ProviderCall, transport: HttpTransport) -> ProviderResult:
        if call.edit is not None:
            return await send_openai_edit(self, call, call.edit, transport)
        return await super().generate(call, transport)

    def stream_events(
        self, call: ProviderCall, transport: HttpTransport
    ) -> AsyncIterator[ProviderEvent]:
        if call.edit is not None:
            return stream_openai_edit_events(self, call, call.edit, transport)
        return stream_openai_events(self, call, transport)
