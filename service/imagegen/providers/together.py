"""Together AI adapter (`together_ai/<model>`, LiteLLM's name), through its images endpoint.

Wire format, from Together's docs (docs.together.ai "Images" API reference, read 2026-12-04):
`POST {api_base}/images/generations` (api_base `https://api.together.xyz/v1`) with
`Authorization: Bearer`; body `model` (e.g. `black-forest-labs/FLUX.1-schnell`), `prompt`,
`width`, `height`, `n`, `response_format` (`url` | `base64`) and per-model extras (`steps`,
`seed`, `negative_prompt`, `guidance_scale`, ...), which pass through unchecked: Together
validates them per model. The answer is `{"id", "model", "object": "list", "data": [{"index",
"url" | "b64_json"}]}`. Together bills most image models per megapixel, which the price table
cannot express: their cost is "unknown" rather than guessed.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import JsonValue

from imagegen.errors import ImageGenError, ProviderNotConfiguredError
from imagegen.imagefmt import sniff_mime
from imagegen.providers.base import (
    Endpoint,
    HttpProvider,
    HttpRequest,
    ModelSpec,
    ProviderCall,
)
from imagegen.providers.http_errors import error_for_status
from imagegen.providers.openai_shape import created_of, image_entries
from imagegen.providers.transport import HttpResponse
from imagegen.sizes import FreeFormRule, parse_size
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    MAX_PROMPT_CHARS,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
    decode_b64_image,
)

TOGETHER_API_BASE = "https://api.together.xyz/v1"
# Together's limits for its FLUX models: edges up to 1792 px, multiples of 16.
SIZE_RULE = FreeFormRule(min_edge=64, max_edge=1792, multiple_of=16)
_SAFETY = re.compile(r"nsfw|safety|content polic|moderat", re.I)
# Together's name for base64 output.
_FORMATS = {ResponseFormat.URL: "url", ResponseFormat.B64_JSON: "base64"}


class TogetherProvider(HttpProvider):
    """api.together.xyz (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "together_ai"
    env_api_key: ClassVar[tuple[str, ...]] = ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("TOGETHER_API_BASE", "TOGETHERAI_API_BASE")
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def spec_for(self, model: str) -> ModelSpec:
        return ModelSpec(
            family=model,
            params=frozenset({"n", "size", "response_format"}),
            max_prompt_chars=MAX_PROMPT_CHARS,
            max_n=MAX_IMAGES_PER_REQUEST,
            max_images_per_call=4,
            size_rule=SIZE_RULE,
            provider_params=None,
            default_size="1024x768",
        )

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or TOGETHER_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for together_ai/{model}: set TOGETHER_API_KEY or api_key",
                metadata={"provider": self.name, "model": model},
            )

    def build_request(self, call: ProviderCall) -> HttpRequest:
        params = call.params
        body: dict[str, JsonValue] = {
            "model": call.provider_model,
            "prompt": call.prompt,
            "n": params.n,
        }
        if params.size not in (None, "auto"):
            size = parse_size(params.size or "")
            body["width"], body["height"] = size.width, size.height
        if params.response_format is not None:
            body["response_format"] = _FORMATS[params.response_format]
        body.update(params.extra)
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/images/generations",
            headers={"authorization": f"Bearer {call.endpoint.api_key}"},
            json=body,
        )

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        payload, entries = image_entries(response.json(), provider=self.name)
        size = call.params.size if call.params.size not in (None, "auto") else None
        width = height = None
        if size is not None:
            parsed = parse_size(size)
            width, height = parsed.width, parsed.height
        images = []
        for entry in entries:
            if entry.url is None:
                data = decode_b64_image(entry.b64_json, provider=self.name)
                images.append(
                    GeneratedImage(
                        data=data, mime_type=sniff_mime(data), width=width, height=height
                    )
                )
            else:
                # The caller asked for a URL: it is handed back, never fetched here.
                images.append(GeneratedImage(url=entry.url, width=width, height=height))
        return ProviderResult(
            images=images,
            created=created_of(payload),
            size=size,
            headers=dict(response.headers),
            filtered=max(0, call.params.n - len(images)),
        )

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        message, code = response.text(500), None
        if isinstance(payload, dict):
            inner = payload.get("error")
            if isinstance(inner, dict):
                if isinstance(inner.get("message"), str):
                    message = str(inner["message"])
                code_value = inner.get("code") or inner.get("type")
                code = code_value if isinstance(code_value, str) else None
            elif isinstance(inner, str):
                message = inner
        return error_for_status(
            provider=self.name,
            status=response.status,
            message=message,
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
            code=code,
            content_policy=response.status in (400, 422) and _SAFETY.search(message) is not None,
            quota_exhausted=code == "credit_limit",
        )
