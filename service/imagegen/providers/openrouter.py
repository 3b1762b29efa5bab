"""OpenRouter adapter (`openrouter/<vendor>/<model>`, LiteLLM's name): image models through chat
completions with image output.

Wire format, from OpenRouter's docs (openrouter.ai/docs "Image generation" and the chat
completions API reference, read 2026-12-04): `POST {api_base}/chat/completions` (api_base
`https://openrouter.ai/api/v1`) with `Authorization: Bearer`; body `model`, `messages` (the
prompt as one user message), `modalities: ["image", "text"]` and, for models sized by aspect
ratio, `image_config: {"aspect_ratio": "16:9"}`. The answer's
`choices[0].message.images` is a list of `{"type": "image_url", "image_url": {"url":
"data:image/png;base64,..."}}`; text the model wrote besides is ignored. One image per call:
the gateway fans `n` out. A refusal comes back as a finish reason of `content_filter`, or as
text with no image: CONTENT_POLICY_VIOLATION. The cost is what OpenRouter says it charged:
every answer's `usage.cost`, in credits of $1 (openrouter.ai/docs "Usage accounting"); an
answer without it costs "unknown".
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from decimal import Decimal
from typing import ClassVar

from pydantic import JsonValue

from imagegen.errors import (
    ImageGenError,
    ProviderBadResponseError,
    ProviderNotConfiguredError,
    ProviderQuotaExceededError,
    redact_secrets,
)
from imagegen.imagefmt import sniff_mime
from imagegen.providers.base import (
    Endpoint,
    HttpProvider,
    HttpRequest,
    ModelSpec,
    ProviderCall,
)
from imagegen.providers.http_errors import content_policy_error, error_for_status
from imagegen.providers.transport import HttpResponse
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    MAX_PROMPT_CHARS,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
    Usage,
)

OPENROUTER_API_BASE = "https://openrouter.ai/api/v1"
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.I | re.S)
_SAFETY = re.compile(r"moderat|content polic|safety|flagged", re.I)


class OpenRouterProvider(HttpProvider):
    """openrouter.ai (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "openrouter"
    env_api_key: ClassVar[tuple[str, ...]] = ("OPENROUTER_API_KEY", "OR_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("OPENROUTER_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def spec_for(self, model: str) -> ModelSpec:
        return ModelSpec(
            family=model,
            params=frozenset({"n", "size", "response_format"}),
            max_prompt_chars=MAX_PROMPT_CHARS,
            max_n=MAX_IMAGES_PER_REQUEST,
            aspect_ratios=ASPECT_RATIOS,
            max_images_per_call=1,
            # Images arrive as data URLs: there is no URL to hand back.
            response_formats=(ResponseFormat.B64_JSON,),
            send_response_format=False,
            provider_params=None,
            # Chat completions answer with `usage` (prompt and completion tokens).
            reports_tokens=True,
        )

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or OPENROUTER_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for openrouter/{model}: set OPENROUTER_API_KEY or api_key",
                metadata={"provider": self.name, "model": model},
            )

    def build_request(self, call: ProviderCall) -> HttpRequest:
        body: dict[str, JsonValue] = {
            "model": call.provider_model,
            "messages": [{"role": "user", "content": call.prompt}],
            "modalities": ["image", "text"],
        }
        if call.params.aspect_ratio is not None:
            body["image_config"] = {"aspect_ratio": call.params.aspect_ratio}
        body.update(call.params.extra)
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/chat/completions",
            headers={"authorization": f"Bearer {call.endpoint.api_key}"},
            json=body,
        )

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        payload = response.json()
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderBadResponseError(
                "the provider's answer has no choice", provider=self.name
            )
        assert isinstance(payload, dict)
        choice = choices[0]
        message = choice.get("message")
        entries = message.get("images") if isinstance(message, dict) else None
        images = [self._image(entry) for entry in entries or []]
        if not images:
            # A refusal, or a model that wrote text instead of drawing.
            raise content_policy_error(
                self.name,
                "the model returned no image"
                + (" (content filter)" if choice.get("finish_reason") == "content_filter" else ""),
            )
        return ProviderResult(
            images=images,
            usage=_usage(payload.get("usage")),
            billed_usd=_billed(payload.get("usage")),
            created=int(time.time()),
            size=call.params.aspect_ratio,
            headers=dict(response.headers),
        )

    def _image(self, entry: JsonValue) -> GeneratedImage:
        url = None
        if isinstance(entry, dict) and isinstance(entry.get("image_url"), dict):
            url = entry["image_url"].get("url")  # type: ignore[union-attr]
        match = _DATA_URL.match(url) if isinstance(url, str) else None
        if match is None:
            raise ProviderBadResponseError(
                "an image of the answer is not a data URL", provider=self.name
            )
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise ProviderBadResponseError(
                "an image of the answer is not valid base64", provider=self.name
            ) from None
        return GeneratedImage(data=data, mime_type=sniff_mime(data) or match.group(1).lower())

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        message, code = response.text(500), None
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            error = payload["error"]
            if isinstance(error.get("message"), str):
                message = str(error["message"])
            if isinstance(error.get("code"), int | str):
                code = str(error["code"])
        if response.status == 402:
            return ProviderQuotaExceededError(
                redact_secrets(message) or "the OpenRouter account has no credits",
                provider=self.name,
                upstream_status=response.status,
            )
        return error_for_status(
            provider=self.name,
            status=response.status,
            message=message,
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
            code=code,
            content_policy=response.status in (400, 403) and _SAFETY.search(message) is not None,
        )


def _usage(value: JsonValue) -> Usage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)


def _billed(value: JsonValue) -> Decimal | None:
    """`usage.cost` (credits; one credit is one US dollar), when present and sane."""
    cost = value.get("cost") if isinstance(value, dict) else None
    if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
        return None
    # Through str: the float's shortest repr, not its binary expansion.
    return Decimal(str(cost))
