"""Stability AI adapter (`stability/<model>`, LiteLLM's name): Stability's own v2beta API.

Wire format, from Stability's API reference (platform.stability.ai/docs/api-reference,
"Generate" v2beta, read 2026-12-04):

- `POST {api_base}/v2beta/stable-image/generate/{ultra|core|sd3}` (api_base
  `https://api.stability.ai`) with `Authorization: Bearer` and a **multipart/form-data** body:
  `prompt`, `negative_prompt`, `aspect_ratio` (21:9 .. 9:21), `seed`, `output_format`
  (png / jpeg / webp), `style_preset` (core), and for sd3 `model` (`sd3.5-large`,
  `sd3.5-large-turbo`, `sd3.5-medium`, `sd3.5-flash`) with `mode=text-to-image`.
- With `Accept: application/json` the answer is `{"image": <base64>, "finish_reason":
  "SUCCESS" | "CONTENT_FILTERED", "seed"}` (with `Accept: image/*` the same facts come as the
  `finish-reason` and `seed` headers); CONTENT_FILTERED → CONTENT_POLICY_VIOLATION.
- Errors are `{"id", "name", "errors": [...]}`; 403 `content_moderation` is a refusal
  (CONTENT_POLICY_VIOLATION), 402 an empty credit balance.
- One image per request: the gateway fans `n` out. Prices are in credits ($0.01 each).

Edit endpoints (`/v2beta/stable-image/edit/{inpaint|outpaint|erase|remove-background}`) are
served as the models of those names, their image files in the same multipart form: see
stability_edits.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
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
    ParamSpec,
    ProviderCall,
)
from imagegen.providers.http_errors import content_policy_error, error_for_status
from imagegen.providers.multipart import encode_form
from imagegen.providers.stability_edits import (
    EDIT_ROUTES,
    EditRoute,
    edit_files,
    outpaint_fields,
)
from imagegen.providers.stability_styles import STYLE_PRESETS
from imagegen.providers.transport import HttpResponse
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    GeneratedImage,
    ProviderResult,
    ResponseFormat,
    decode_b64_image,
)

STABILITY_API_BASE = "https://api.stability.ai"
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")

_COMMON: dict[str, ParamSpec] = {
    "negative_prompt": ParamSpec(str),
    "seed": ParamSpec(int, minimum=0, maximum=4_294_967_294),
    "output_format": ParamSpec(str, choices=("png", "jpeg", "webp")),
}


@dataclass(frozen=True, slots=True)
class StabilityModel:
    """Which v2beta route serves a model, and the `model` field sd3 routes need."""

    spec: ModelSpec
    route: str
    sd3_model: str | None = None
    #: Set for the edit endpoints (`/edit/{route}`), None for the generate ones.
    edit: EditRoute | None = None


def _model(
    family: str,
    route: str,
    *,
    sd3_model: str | None = None,
    extra: Mapping[str, ParamSpec] | None = None,
) -> StabilityModel:
    spec = ModelSpec(
        family=family,
        params=frozenset({"n", "size", "response_format"}),
        max_prompt_chars=10_000,
        max_n=MAX_IMAGES_PER_REQUEST,
        aspect_ratios=ASPECT_RATIOS,
        max_images_per_call=1,
        response_formats=(ResponseFormat.B64_JSON,),
        send_response_format=False,
        provider_params={**_COMMON, **(extra or {})},
    )
    return StabilityModel(spec, route, sd3_model)


def _edit_model(name: str, route: EditRoute) -> StabilityModel:
    """An edit endpoint: it answers at its input's size (plus any outpainted sides), so it
    takes no size or ratio; `grow_mask` widens the mask's edges on the masked routes."""
    extra = (
        {"grow_mask": ParamSpec(int, minimum=0, maximum=100)} if route.capability.takes_mask else {}
    )
    model = _model(name, route.route, extra=extra)
    spec = replace(
        model.spec,
        params=frozenset({"n", "response_format"}),
        aspect_ratios=None,
        edit=route.capability,
    )
    return StabilityModel(spec, route.route, edit=route)


STABILITY_MODELS: Mapping[str, StabilityModel] = {
    "stable-image-ultra": _model("stable-image-ultra", "ultra"),
    "stable-image-core": _model(
        "stable-image-core", "core", extra={"style_preset": ParamSpec(str, choices=STYLE_PRESETS)}
    ),
    **{
        name: _model(
            name,
            "sd3",
            sd3_model=name,
            extra={"cfg_scale": ParamSpec(float, minimum=1, maximum=10)},
        )
        for name in ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash")
    },
    **{name: _edit_model(name, route) for name, route in EDIT_ROUTES.items()},
}
# LiteLLM's and Stability's shorter spellings.
ALIASES = {"ultra": "stable-image-ultra", "core": "stable-image-core", "sd3": "sd3.5-large"}


def stability_model(model: str) -> StabilityModel:
    found = STABILITY_MODELS.get(ALIASES.get(model, model))
    if found is None:
        # An sd3 model id Stability added later: the sd3 route, Stability checks the name.
        return _model(model, "sd3", sd3_model=model)
    return found


# Prices of this adapter's models, in the prices.toml format (read by the gateway).
PRICE_ROWS = """
# Stability AI v2beta: credits per generation, 1 credit = $0.01.
[[price]]
providers = ["stability"]
models = ["stable-image-ultra"]
basis = "per_image"
source = "https://platform.stability.ai/pricing (Stable Image Ultra: 8 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.08"

[[price]]
providers = ["stability"]
models = ["stable-image-core"]
basis = "per_image"
source = "https://platform.stability.ai/pricing (Stable Image Core: 3 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.03"

[[price]]
providers = ["stability"]
models = ["sd3.5-large"]
basis = "per_image"
source = "https://platform.stability.ai/pricing (SD 3.5 Large: 6.5 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.065"

[[price]]
providers = ["stability"]
models = ["sd3.5-large-turbo"]
basis = "per_image"
source = "https://platform.stability.ai/pricing (SD 3.5 Large Turbo: 4 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.04"

[[price]]
providers = ["stability"]
models = ["sd3.5-medium"]
basis = "per_image"
source = "https://platform.stability.ai/pricing (SD 3.5 Medium: 3.5 credits)"
retrieved = "2026-12-04"
[price.per_image]
"*" = "0.035"
"""


class StabilityProvider(HttpProvider):
    """api.stability.ai (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "stability"
    env_api_key: ClassVar[tuple[str, ...]] = ("STABILITY_API_KEY",)
    price_rows: ClassVar[str] = PRICE_ROWS
    env_api_base: ClassVar[tuple[str, ...]] = ("STABILITY_API_BASE",)

    def spec_for(self, model: str) -> ModelSpec:
        return stability_model(model).spec

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or STABILITY_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for stability/{model}: set STABILITY_API_KEY or api_key",
                metadata={"provider": self.name, "model": model},
            )

    def form_fields(self, call: ProviderCall) -> dict[str, str]:
        """The form's text fields (an edit adds its image parts beside them)."""
        model = stability_model(call.provider_model)
        if model.edit is not None:
            return self._edit_fields(call, model.edit)
        fields = {"prompt": call.prompt}
        if model.sd3_model is not None:
            fields["model"] = model.sd3_model
            fields["mode"] = "text-to-image"
        if call.params.aspect_ratio is not None:
            fields["aspect_ratio"] = call.params.aspect_ratio
        for name, value in call.params.extra.items():
            fields[name] = _form_value(value)
        return fields

    def _edit_fields(self, call: ProviderCall, route: EditRoute) -> dict[str, str]:
        fields = {"prompt": call.prompt} if route.sends_prompt and call.prompt else {}
        if call.edit is not None and call.edit.outpaint is not None:
            fields.update(outpaint_fields(call.edit))
        for name, value in call.params.extra.items():
            fields[name] = _form_value(value)
        return fields

    def build_request(self, call: ProviderCall) -> HttpRequest:
        model = stability_model(call.provider_model)
        files = edit_files(call.edit) if call.edit is not None else None
        body, content_type = encode_form(self.form_fields(call), files)
        kind = "edit" if model.edit is not None else "generate"
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/v2beta/stable-image/{kind}/{model.route}",
            headers={
                "authorization": f"Bearer {call.endpoint.api_key}",
                "accept": "application/json",
                "content-type": content_type,
            },
            json={},
            body=body,
        )

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        payload = response.json()
        if isinstance(payload, dict):
            reason = payload.get("finish_reason")
            encoded = payload.get("image")
            data = (
                decode_b64_image(encoded, provider=self.name) if isinstance(encoded, str) else None
            )
        else:
            # An image/* answer (a proxy that ignored Accept): the facts are in the headers.
            reason = response.headers.get("finish-reason")
            data = response.content or None
        if reason == "CONTENT_FILTERED":
            raise content_policy_error(
                self.name, "stability's content filter withheld the image", status=response.status
            )
        if data is None:
            raise ProviderBadResponseError("the answer holds no image", provider=self.name)
        return ProviderResult(
            images=[GeneratedImage(data=data, mime_type=sniff_mime(data))],
            created=int(time.time()),
            size=call.params.aspect_ratio,
            headers=dict(response.headers),
        )

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        payload = response.json()
        name, message = None, response.text(500)
        if isinstance(payload, dict):
            name = payload.get("name") if isinstance(payload.get("name"), str) else None
            errors = payload.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], str):
                message = "; ".join(str(e) for e in errors[:3])
        if response.status == 402:
            return ProviderQuotaExceededError(
                redact_secrets(message) or "the Stability account has no credits left",
                provider=self.name,
                upstream_status=response.status,
            )
        return error_for_status(
            provider=self.name,
            status=response.status,
            message=message,
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
            code=str(name) if name else None,
            content_policy=name == "content_moderation",
        )


def _form_value(value: JsonValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
