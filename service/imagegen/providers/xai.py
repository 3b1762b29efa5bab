"""xAI adapter (`xai/<model>`, LiteLLM's name): Grok image models.

Wire format, from xAI's docs (docs.x.ai "Image generation" guide and API reference, read
2026-12-04): `POST {api_base}/images/generations` (api_base `https://api.x.ai/v1`) with
`Authorization: Bearer`, OpenAI-shaped: `model`, `prompt`, `n` (1..10), `response_format`
(`url` | `b64_json`). xAI does not take `size`, `quality` or `style` ("Argument not
supported"): the Grok Imagine models are sized by `aspect_ratio` (and `resolution` 1k / 2k),
so a caller's `size` is turned into the nearest ratio through the shared normalizer;
grok-2-image takes no size at all. The answer is `{"data": [{"url" | "b64_json",
"revised_prompt"}]}`. Refusals by xAI's moderation come back as 400 errors whose message says
so: CONTENT_POLICY_VIOLATION.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from pydantic import JsonValue

from imagegen.errors import ImageGenError, ProviderNotConfiguredError
from imagegen.imagefmt import sniff_mime
from imagegen.providers.base import (
    Endpoint,
    HttpProvider,
    HttpRequest,
    ModelSpec,
    ParamSpec,
    ProviderCall,
)
from imagegen.providers.http_errors import error_for_status
from imagegen.providers.openai_shape import created_of, image_entries
from imagegen.providers.transport import HttpResponse
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    GeneratedImage,
    ProviderResult,
    decode_b64_image,
)

XAI_API_BASE = "https://api.x.ai/v1"
IMAGINE_RATIOS = (
    "1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "2:1", "1:2", "20:9", "9:20",
)  # fmt: skip
_SAFETY = re.compile(r"moderat|content polic|safety|not allowed|inappropriate", re.I)


def _spec(family: str, *, ratios: bool) -> ModelSpec:
    params = {"n", "response_format", *({"size"} if ratios else ())}
    provider_params: dict[str, ParamSpec] = {}
    if ratios:
        provider_params["resolution"] = ParamSpec(str, choices=("1k", "2k"))
    return ModelSpec(
        family=family,
        params=frozenset(params),
        max_prompt_chars=8000,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=IMAGINE_RATIOS if ratios else None,
        provider_params=provider_params,
    )


XAI_MODELS: Mapping[str, ModelSpec] = {
    "grok-imagine-image": _spec("grok-imagine-image", ratios=True),
    "grok-imagine-image-quality": _spec("grok-imagine-image-quality", ratios=True),
    "grok-2-image-1212": _spec("grok-2-image-1212", ratios=False),
    "grok-2-image": _spec("grok-2-image-1212", ratios=False),
}


# Prices of this adapter's models, in the prices.toml format (read by the gateway).
PRICE_ROWS = """
# xAI: per output image. grok-imagine-image-quality has no row (price not confirmed).
[[price]]
providers = ["xai"]
models = ["grok-imagine-image"]
basis = "per_image"
source = "https://docs.x.ai/docs/models (grok-imagine-image: $0.02 per image)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.02"

[[price]]
providers = ["xai"]
models = ["grok-2-image-1212"]
basis = "per_image"
source = "https://docs.x.ai/docs/models (grok-2-image-1212: $0.07 per image)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.07"
"""


class XaiProvider(HttpProvider):
    """api.x.ai (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "xai"
    env_api_key: ClassVar[tuple[str, ...]] = ("XAI_API_KEY",)
    price_rows: ClassVar[str] = PRICE_ROWS
    env_api_base: ClassVar[tuple[str, ...]] = ("XAI_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def spec_for(self, model: str) -> ModelSpec:
        known = XAI_MODELS.get(model)
        if known is not None:
            return known
        # Newer Grok image models: assume the Imagine shape, parameters checked by xAI.
        spec = _spec(model, ratios=True)
        return ModelSpec(
            family=model,
            params=spec.params,
            max_prompt_chars=spec.max_prompt_chars,
            max_n=spec.max_n,
            aspect_ratios=spec.aspect_ratios,
            provider_params=None,
            known=False,
        )

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or XAI_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for xai/{model}: set XAI_API_KEY or api_key in the config",
                metadata={"provider": self.name, "model": model},
            )

    def build_request(self, call: ProviderCall) -> HttpRequest:
        params = call.params
        body: dict[str, JsonValue] = {
            "model": call.provider_model,
            "prompt": call.prompt,
            "n": params.n,
        }
        if params.aspect_ratio is not None:
            body["aspect_ratio"] = params.aspect_ratio
        if params.response_format is not None:
            body["response_format"] = params.response_format.value
        body.update(params.extra)
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/images/generations",
            headers={"authorization": f"Bearer {call.endpoint.api_key}"},
            json=body,
        )

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        payload, entries = image_entries(response.json(), provider=self.name)
        images = []
        for entry in entries:
            revised = entry.revised_prompt or None
            if entry.url is None:
                data = decode_b64_image(entry.b64_json, provider=self.name)
                images.append(
                    GeneratedImage(data=data, mime_type=sniff_mime(data), revised_prompt=revised)
                )
            else:
                # The caller asked for a URL: it is handed back, never fetched here.
                images.append(GeneratedImage(url=entry.url, revised_prompt=revised))
        return ProviderResult(
            images=images,
            created=created_of(payload),
            size=call.params.aspect_ratio,
            headers=dict(response.headers),
            filtered=max(0, call.params.n - len(images)),
        )

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        code: str | None = None
        message = response.text(500)
        if isinstance(payload, dict):
            inner = payload.get("error")
            if isinstance(inner, dict):  # OpenAI-shaped
                payload = inner
                inner = payload.get("message")
            if isinstance(inner, str):
                message = inner
            elif isinstance(payload.get("message"), str):
                message = str(payload["message"])
            if isinstance(payload.get("code"), str):
                code = str(payload["code"])
        return error_for_status(
            provider=self.name,
            status=response.status,
            message=message,
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
            code=code,
            content_policy=response.status == 400 and _SAFETY.search(message) is not None,
        )
