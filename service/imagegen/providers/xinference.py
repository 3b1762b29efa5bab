"""Xinference adapter (`xinference/<model uid>`), for self-hosted diffusion models.

Wire format: Xinference's OpenAI-compatible images API (docs/providers/xinference.md says
what a user sees). OpenAI-shaped, with quirks:

- `model` is the UID of a launched model; `size` is written "W*H";
- provider parameters travel as `kwargs`, a JSON-encoded *string* handed to the
  diffusers pipeline (negative_prompt, num_inference_steps, guidance_scale, seed...);
- `response_format=url` returns a file path on the Xinference host, useless to a
  remote caller, so the adapter always asks for b64_json and `url` is unsupported;
- images are JPEG unless they have transparency (PNG): the mime type is sniffed;
- errors are FastAPI's `{"detail": ...}`; an unknown model is a 400.

Edits (image to image and inpainting) go to `/v1/images/variations` and
`/v1/images/inpainting` as multipart forms: see xinference_edits.py.
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import JsonValue

from imagegen.errors import ImageGenError, ProviderModelNotFoundError, ProviderNotConfiguredError
from imagegen.imagefmt import image_dimensions, sniff_mime
from imagegen.images.payload import EditPayload
from imagegen.providers.base import Endpoint, HttpProvider, HttpRequest, ModelSpec, ProviderCall
from imagegen.providers.http_errors import error_for_status
from imagegen.providers.multipart import encode_form
from imagegen.providers.openai import parse_openai_images
from imagegen.providers.transport import HttpResponse
from imagegen.providers.xinference_edits import (
    check_edit,
    edit_fields,
    edit_files,
    edit_route,
    with_edits,
)
from imagegen.sizes import FreeFormRule
from imagegen.types import MAX_PROMPT_CHARS, ProviderResult, ResponseFormat

XINFERENCE_SPEC = with_edits(
    ModelSpec(
        family="xinference",
        params=frozenset({"n", "size", "response_format"}),
        max_prompt_chars=MAX_PROMPT_CHARS,
        size_rule=FreeFormRule(min_edge=64, max_edge=4096),
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params=None,
        known=False,
    )
)


class XinferenceProvider(HttpProvider):
    """A self-hosted Xinference server."""

    name: ClassVar[str] = "xinference"
    env_api_key: ClassVar[tuple[str, ...]] = ("XINFERENCE_API_KEY",)
    env_api_base: ClassVar[tuple[str, ...]] = ("XINFERENCE_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def spec_for(self, model: str) -> ModelSpec:
        return XINFERENCE_SPEC

    def api_base(self, endpoint: Endpoint) -> str:
        base = (endpoint.api_base or "").rstrip("/")
        # Xinference serves its OpenAI-compatible API under /v1; accept the bare host too.
        return base if base.endswith("/v1") else f"{base}/v1"

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_base:
            raise ProviderNotConfiguredError(
                f"xinference/{model} needs api_base (or XINFERENCE_API_BASE), "
                "e.g. http://127.0.0.1:9997/v1",
                metadata={"provider": self.name, "model": model},
            )

    def build_request(self, call: ProviderCall) -> HttpRequest:
        if call.edit is not None:
            return self._edit_request(call, call.edit)
        params = call.params
        body: dict[str, JsonValue] = {
            "model": call.provider_model,
            "prompt": call.prompt,
            "n": params.n,
            "response_format": ResponseFormat.B64_JSON.value,
        }
        if params.size is not None:
            body["size"] = params.size.replace("x", "*")
        if params.extra:
            body["kwargs"] = json.dumps(params.extra, separators=(",", ":"))
        headers = {}
        if call.endpoint.api_key:
            headers["authorization"] = f"Bearer {call.endpoint.api_key}"
        return HttpRequest(
            "POST", f"{self.api_base(call.endpoint)}/images/generations", headers, body
        )

    def _edit_request(self, call: ProviderCall, payload: EditPayload) -> HttpRequest:
        check_edit(payload)
        params = call.params
        fields = edit_fields(
            call.provider_model, call.prompt, params.n, params.size, dict(params.extra)
        )
        body, content_type = encode_form(fields, edit_files(payload))
        headers = {"content-type": content_type}
        if call.endpoint.api_key:
            headers["authorization"] = f"Bearer {call.endpoint.api_key}"
        url = f"{self.api_base(call.endpoint)}/images/{edit_route(payload)}"
        return HttpRequest("POST", url, headers, {}, body=body)

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        result = parse_openai_images(call, response, provider=self.name)
        for image in result.images:
            if image.has_content:
                data = image.data()
                image.mime_type = sniff_mime(data) or image.mime_type
                if image.width is None or image.height is None:
                    # An edit without a size answers at the pipeline's own (the input's):
                    # read it from the file rather than leave it unsaid.
                    image.width, image.height = image_dimensions(data)
        return result

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        detail = payload.get("detail") if isinstance(payload, dict) else None
        message = detail if isinstance(detail, str) else response.text(300)
        if response.status == 400 and "not found" in message.lower():
            return ProviderModelNotFoundError(
                f"xinference has no launched model {call.provider_model!r}",
                provider=self.name,
                upstream_status=400,
            )
        return error_for_status(
            provider=self.name,
            status=response.status,
            message=message if isinstance(detail, str) else "the provider rejected the request",
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
        )
