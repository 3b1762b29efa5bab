"""Recraft adapter (`recraft/<model>`).

Wire format: Recraft's API reference (endpoint and auth, request, response, errors,
pricing); what a user sees is in docs/providers/recraft.md. Per-model details come from
Recraft's own docs (api-reference appendix: sizes and prompt limits per model; styles page;
model pages and pricing), read 2026-11-24.

`POST {api_base}/images/generations` (api_base `https://external.api.recraft.ai/v1`) with
`Authorization: Bearer`; the body is OpenAI-shaped plus Recraft's own fields. Quirks handled:

- Three kinds of model (`RECRAFT_MODELS`):
  * V2/V3 raster ids (`recraftv2`, `recraftv3`): a fixed list of pixel sizes, a `style`
    (V2 also `icon`, V3 also `logo_raster`), `substyle`, `negative_prompt`, `style_id`,
    prompts up to 1000 characters. The style decides the output: `vector_illustration`
    and `icon` make an SVG, billed at the vector price.
  * vector ids (`*_vector`): sized by aspect ratio only (there are no pixels). Recraft
    spells three ratios unreduced (`6:10`, `14:10`, `10:14`); the shared normalizer reduces
    ratios, so the adapter sends Recraft's spelling back.
  * V4 / V4.1 raster ids: their own 1K or 2K ("pro") size lists, no styles and no
    negative prompt, prompts up to 10000 characters. `<model>_raster` aliases are sent as
    given and follow their base model's rules and price.
- `n` is 1..6 per call; the gateway fans 7..10 out into parallel calls.
- `controls` and `text_layout` are JSON structures; they are checked here field by field
  (`StructuredParam`), since `ParamSpec` only types scalars.
- Raster vs vector pricing: `ProviderResult.quality` carries the output kind ("raster" or
  "vector"), so the price table keys it as `raster/<size>` / `vector/<size>` for V2/V3.
  The kind is read from the answer when it shows it (SVG bytes, an `.svg` URL), else from
  the request; a custom `style_id` with nothing in the answer leaves it unknown (cost
  `unknown` rather than a guess).
- Errors: the body "format varies: some errors return plain text, others JSON" (401
  `text/plain` `request unauthorized`, 404 `text/plain` `404 page not found`), so the body is
  parsed as JSON only when Content-Type says so. JSON bodies are read leniently
  (`{"code","message"}`, `{"error": ...}`, `{"detail": ...}`: the shape is not documented).
  402 or a credits code means the API-unit balance is empty: PROVIDER_QUOTA_EXCEEDED.
- Safety is not documented: an error whose code or message speaks of NSFW or a content
  policy is CONTENT_POLICY_VIOLATION; a 200 answer with fewer images than `n` reports the
  rest as filtered, and one with none at all is CONTENT_POLICY_VIOLATION.

Edits (image to image, inpainting, background replacement on the model ids; vectorize,
background removal, upscaling and region erasing as tool models) go to Recraft's image
endpoints as multipart forms: see recraft_edits.py. Their answers' `credits` are their cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import JsonValue

from imagegen.errors import (
    FieldViolation,
    ImageGenError,
    InvalidRequestError,
    ProviderModelNotFoundError,
    ProviderNotConfiguredError,
    ProviderQuotaExceededError,
    invalid_field,
    redact_secrets,
)
from imagegen.imagefmt import image_dimensions, sniff_mime
from imagegen.images.operations import EditOperation
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
from imagegen.providers.openai_shape import created_of, image_entries
from imagegen.providers.recraft_edits import (
    STRENGTH,
    TOOL_ENDPOINTS,
    RecraftEndpoint,
    credits_usd,
    edit_files,
    endpoint_for,
    form_value,
    tool_spec,
    with_edits,
)
from imagegen.providers.transport import HttpResponse
from imagegen.sizes import parse_aspect_ratio, parse_size
from imagegen.types import (
    MAX_IMAGES_PER_REQUEST,
    MAX_PROMPT_CHARS,
    GeneratedImage,
    ProviderResult,
    decode_b64_image,
)

RECRAFT_API_BASE = "https://external.api.recraft.ai/v1"
MAX_IMAGES_PER_CALL = 6
RASTER: Literal["raster"] = "raster"
VECTOR: Literal["vector"] = "vector"
OutputKind = Literal["raster", "vector"]

# Appendix "List of supported image sizes". V2/V3 also take 1707x1024 (OpenAPI ImageSize).
V2_V3_SIZES = (
    "1024x1024", "1365x1024", "1024x1365", "1536x1024", "1024x1536", "1820x1024",
    "1024x1820", "1024x2048", "2048x1024", "1434x1024", "1024x1434", "1024x1280",
    "1280x1024", "1024x1707", "1707x1024",
)  # fmt: skip
V4_SIZES = (
    "1024x1024", "1536x768", "768x1536", "1280x832", "832x1280", "1216x896", "896x1216",
    "1152x896", "896x1152", "832x1344", "1280x896", "896x1280", "1344x768", "768x1344",
)  # fmt: skip
V4_PRO_SIZES = (
    "2048x2048", "3072x1536", "1536x3072", "2560x1664", "1664x2560", "2432x1792",
    "1792x2432", "2304x1792", "1792x2304", "1664x2688", "2560x1792", "1792x2560",
    "2688x1536", "1536x2688",
)  # fmt: skip
# Vector models have no pixel sizes: only these aspect ratios, spelled as Recraft spells them.
VECTOR_ASPECT_RATIOS = (
    "1:1", "2:1", "1:2", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "6:10", "14:10", "10:14",
    "16:9", "9:16",
)  # fmt: skip
# Style families (appendix "List of styles"; the styles page: "Styles are not supported for
# V4 models"). `icon` is a V2 family, `logo_raster` a V3 one.
V2_STYLES = ("any", "realistic_image", "digital_illustration", "vector_illustration", "icon")
V3_STYLES = (
    "any", "realistic_image", "digital_illustration", "vector_illustration", "logo_raster",
)  # fmt: skip
VECTOR_STYLES = frozenset({"vector_illustration", "icon"})

_V2_V3_PROMPT_CHARS = 1000
_V4_PROMPT_CHARS = 10000


@dataclass(frozen=True, slots=True)
class StructuredParam(ParamSpec):
    """A provider parameter whose value is a JSON object or array.

    `ParamSpec` types scalars only; `validate` checks the structure and raises an
    InvalidRequestError naming the offending path (`kind` is unused).
    """

    validate: Callable[[str, JsonValue], None] = field(default=lambda _field, _value: None)

    def check(self, name: str, value: JsonValue) -> JsonValue:
        self.validate(f"provider_params.{name}", value)
        return value


def _int_in(value: JsonValue, low: int, high: int) -> bool:
    # Struct numbers arrive as floats: 3.0 is an integer here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer() and low <= value <= high


def _check_color(where: str, value: JsonValue) -> None:
    if not isinstance(value, dict):
        raise invalid_field(where, f'{where} must be an object like {{"rgb": [r, g, b]}}')
    unknown = sorted(set(value) - {"rgb", "std", "weight"})
    if unknown:
        raise invalid_field(f"{where}.{unknown[0]}", f"{where} takes rgb (and std, weight)")
    rgb = value.get("rgb")
    if not isinstance(rgb, list) or len(rgb) != 3 or not all(_int_in(c, 0, 255) for c in rgb):
        raise invalid_field(f"{where}.rgb", f"{where}.rgb must be three integers 0..255")


def _controls_validator(*, artistic_level: bool) -> Callable[[str, JsonValue], None]:
    allowed = ["colors", "background_color", "no_text"]
    if artistic_level:
        allowed.insert(0, "artistic_level")

    def validate(where: str, value: JsonValue) -> None:
        if not isinstance(value, dict):
            raise invalid_field(where, f"{where} must be an object ({', '.join(allowed)})")
        for key, item in value.items():
            path = f"{where}.{key}"
            if key not in allowed:
                raise invalid_field(path, f"{where} takes {', '.join(allowed)}; not {key}")
            if key == "artistic_level" and not _int_in(item, 0, 5):
                raise invalid_field(path, f"{path} must be an integer 0..5")
            if key == "no_text" and not isinstance(item, bool):
                raise invalid_field(path, f"{path} must be a boolean")
            if key == "background_color":
                _check_color(path, item)
            if key == "colors":
                if not isinstance(item, list):
                    raise invalid_field(path, f"{path} must be a list of colors")
                for index, color in enumerate(item):
                    _check_color(f"{path}[{index}]", color)

    return validate


def _check_text_layout(where: str, value: JsonValue) -> None:
    if not isinstance(value, list):
        raise invalid_field(where, f"{where} must be a list of {{text, bbox}} objects")
    for index, item in enumerate(value):
        path = f"{where}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise invalid_field(path, f"{path} needs a text string")
        bbox = item.get("bbox")
        if not (
            isinstance(bbox, list)
            and len(bbox) == 4
            and all(
                isinstance(point, list)
                and len(point) == 2
                and all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
                for point in bbox
            )
        ):
            raise invalid_field(f"{path}.bbox", f"{path}.bbox must be four [x, y] points")


def _controls(*, artistic_level: bool) -> StructuredParam:
    return StructuredParam(str, validate=_controls_validator(artistic_level=artistic_level))


_SEED = ParamSpec(int, minimum=0, maximum=2**32 - 1)
_IMAGE_FORMAT = ParamSpec(str, choices=("webp", "png"))
_FLAG = ParamSpec(bool)
_TEXT = ParamSpec(str)


def _styled_params(*, v3: bool, raster: bool) -> dict[str, ParamSpec]:
    params: dict[str, ParamSpec] = {
        "substyle": _TEXT,
        "negative_prompt": _TEXT,
        "style_id": _TEXT,
        "random_seed": _SEED,
        # V2 has no artistic level (Recraft V2 model page).
        "controls": _controls(artistic_level=v3),
        "block_nsfw": _FLAG,
        "expire": _FLAG,
    }
    if v3:
        params["text_layout"] = StructuredParam(str, validate=_check_text_layout)
    if raster:
        params["image_format"] = _IMAGE_FORMAT
    return params


def _v4_params(*, raster: bool) -> dict[str, ParamSpec]:
    params: dict[str, ParamSpec] = {
        "random_seed": _SEED,
        "controls": _controls(artistic_level=True),
        "block_nsfw": _FLAG,
        "expire": _FLAG,
    }
    if raster:
        params["image_format"] = _IMAGE_FORMAT
    return params


@dataclass(frozen=True, slots=True)
class RecraftModel:
    """One Recraft model id: its rules, and what it makes when no style decides."""

    spec: ModelSpec
    output: OutputKind
    # V2/V3 raster ids make a vector image for a vector style.
    style_decides_output: bool = False
    #: Set for the tool models (vectorize, upscales...): the one endpoint they call.
    tool: RecraftEndpoint | None = None


def _model(
    family: str,
    *,
    output: OutputKind,
    styles: tuple[str, ...] | None,
    prompt_chars: int,
    provider_params: dict[str, ParamSpec],
    sizes: tuple[str, ...] | None = None,
) -> RecraftModel:
    params = {"n", "size", "response_format"}
    if styles is not None:
        params.add("style")
    spec = ModelSpec(
        family=family,
        params=frozenset(params),
        max_prompt_chars=prompt_chars,
        max_n=MAX_IMAGES_PER_REQUEST,
        sizes=sizes,
        aspect_ratios=VECTOR_ASPECT_RATIOS if sizes is None else None,
        max_images_per_call=MAX_IMAGES_PER_CALL,
        styles=styles,
        provider_params=provider_params,
        default_size=sizes[0] if sizes is not None else None,
    )
    return RecraftModel(
        with_edits(spec), output, style_decides_output=output == RASTER and bool(styles)
    )


def _v4(family: str, *, output: OutputKind, pro: bool) -> RecraftModel:
    sizes = None if output == VECTOR else V4_PRO_SIZES if pro else V4_SIZES
    return _model(
        family,
        output=output,
        styles=None,
        prompt_chars=_V4_PROMPT_CHARS,
        provider_params=_v4_params(raster=output == RASTER),
        sizes=sizes,
    )


def _build_models() -> dict[str, RecraftModel]:
    models = {
        "recraftv2": _model(
            "recraftv2",
            output=RASTER,
            styles=V2_STYLES,
            prompt_chars=_V2_V3_PROMPT_CHARS,
            provider_params=_styled_params(v3=False, raster=True),
            sizes=V2_V3_SIZES,
        ),
        "recraftv3": _model(
            "recraftv3",
            output=RASTER,
            styles=V3_STYLES,
            prompt_chars=_V2_V3_PROMPT_CHARS,
            provider_params=_styled_params(v3=True, raster=True),
            sizes=V2_V3_SIZES,
        ),
        "recraftv2_vector": _model(
            "recraftv2_vector",
            output=VECTOR,
            styles=tuple(s for s in V2_STYLES if s in VECTOR_STYLES),
            prompt_chars=_V2_V3_PROMPT_CHARS,
            provider_params=_styled_params(v3=False, raster=False),
        ),
        "recraftv3_vector": _model(
            "recraftv3_vector",
            output=VECTOR,
            styles=tuple(s for s in V3_STYLES if s in VECTOR_STYLES),
            prompt_chars=_V2_V3_PROMPT_CHARS,
            provider_params=_styled_params(v3=True, raster=False),
        ),
    }
    for base in ("recraftv4", "recraftv4_1", "recraftv4_1_utility"):
        for pro in (False, True):
            name = f"{base}_pro" if pro else base
            models[name] = _v4(name, output=RASTER, pro=pro)
            models[f"{name}_vector"] = _v4(f"{name}_vector", output=VECTOR, pro=pro)
    for tool, endpoint in TOOL_ENDPOINTS.items():
        vectorizes = endpoint.path == "vectorize"
        models[tool] = RecraftModel(
            tool_spec(tool, endpoint), VECTOR if vectorizes else RASTER, tool=endpoint
        )
    return models


RECRAFT_MODELS: Mapping[str, RecraftModel] = _build_models()
_RASTER_ALIAS = "_raster"

# Other model ids Recraft serves (third-party models, refm1, styles models): passed through
# with Recraft's own limits only.
UNKNOWN_MODEL = RecraftModel(
    ModelSpec(
        family="recraft",
        params=frozenset({"n", "size", "style", "response_format"}),
        max_prompt_chars=MAX_PROMPT_CHARS,
        max_n=MAX_IMAGES_PER_REQUEST,
        max_images_per_call=MAX_IMAGES_PER_CALL,
        provider_params=None,
        known=False,
    ),
    output=RASTER,
)


@lru_cache(maxsize=256)
def recraft_model(model: str) -> RecraftModel:
    """The rules for a Recraft model id (a `_raster` alias follows its base model)."""
    if model in RECRAFT_MODELS:
        return RECRAFT_MODELS[model]
    if model.endswith(_RASTER_ALIAS):
        base = RECRAFT_MODELS.get(model[: -len(_RASTER_ALIAS)])
        if base is not None and base.output == RASTER:
            return base
    return UNKNOWN_MODEL


# Recraft's spelling of each reduced ratio ("3:5" is sent as "6:10").
_RATIO_SPELLING = {
    str(ratio): text
    for text in VECTOR_ASPECT_RATIOS
    if (ratio := parse_aspect_ratio(text)) is not None
}

# Safety refusals are undocumented: recognise them by code or wording.
_SAFETY_CODES = frozenset(
    {
        "nsfw",
        "nsfw_content",
        "nsfw_prompt",
        "inappropriate_content",
        "content_policy_violation",
        "content_moderation",
        "moderation_blocked",
        "prompt_rejected",
    }
)
_SAFETY_WORDS = re.compile(
    r"nsfw|inappropriate|content[ _-]?polic|moderat|unsafe|prohibited content", re.I
)
_QUOTA_CODES = frozenset(
    {"not_enough_credits", "insufficient_credits", "insufficient_balance", "no_credits"}
)
_MODEL_CODES = frozenset({"invalid_model", "unknown_model", "model_not_found"})
_SVG_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<svg[\s>]", re.S)
_URL_KIND = re.compile(r"[.@](svg|png|webp|jpe?g)$", re.I)


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _error_fields(response: HttpResponse) -> tuple[str | None, str]:
    """The error code (if any) and message of an error answer, plain text or JSON."""
    text = response.text(500).strip()
    if "json" not in _header(response.headers, "content-type").lower():
        return None, text
    payload = response.json()
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        payload = payload["error"]
    if not isinstance(payload, dict):
        return None, text
    code = next(
        (str(payload[k]) for k in ("code", "error", "type") if isinstance(payload.get(k), str)),
        None,
    )
    message = next(
        (
            str(payload[k])
            for k in ("message", "detail", "error")
            if isinstance(payload.get(k), str)
        ),
        None,
    )
    return code, message or code or text


def _is_svg(data: bytes) -> bool:
    return _SVG_START.match(data[:512]) is not None


def _kind_from_url(url: str) -> OutputKind | None:
    match = _URL_KIND.search(urlsplit(url).path)
    if match is None:
        return None
    return VECTOR if match.group(1).lower() == "svg" else RASTER


_URL_MIME = {"png": "image/png", "webp": "image/webp", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


def _mime_from_url(url: str) -> str | None:
    match = _URL_KIND.search(urlsplit(url).path)
    if match is None:
        return None
    ext = match.group(1).lower()
    return "image/svg+xml" if ext == "svg" else _URL_MIME.get(ext)


class RecraftProvider(HttpProvider):
    """external.api.recraft.ai (and hosts speaking its API, reached with `api_base`)."""

    name: ClassVar[str] = "recraft"
    env_api_key: ClassVar[tuple[str, ...]] = ("RECRAFT_API_KEY", "RECRAFT_API_TOKEN")
    env_api_base: ClassVar[tuple[str, ...]] = ("RECRAFT_API_BASE",)
    env_api_version: ClassVar[tuple[str, ...]] = ()

    def spec_for(self, model: str) -> ModelSpec:
        return recraft_model(model).spec

    def api_base(self, endpoint: Endpoint) -> str:
        return (endpoint.api_base or RECRAFT_API_BASE).rstrip("/")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        if not endpoint.api_key:
            raise ProviderNotConfiguredError(
                f"no API key for recraft/{model}: set RECRAFT_API_KEY or api_key in the config",
                metadata={"provider": self.name, "model": model},
            )

    def build_request(self, call: ProviderCall) -> HttpRequest:
        model = recraft_model(call.provider_model)
        if call.edit is not None:
            return self._edit_request(call, model)
        if model.tool is not None:
            description = (
                f"recraft/{call.provider_model} is an image tool: it edits an input image "
                "(EditImages), it does not generate from a prompt"
            )
            raise InvalidRequestError(
                description,
                field_violations=[FieldViolation("model", description)],
                metadata={"field": "model", "model": call.provider_model},
                request_sent=False,
            )
        params = call.params
        if params.style is not None and "style_id" in params.extra:
            # Recraft takes a built-in style or a custom one, never both (OpenAPI).
            description = "style_id and style are exclusive: send one of them"
            raise InvalidRequestError(
                description,
                field_violations=[FieldViolation("provider_params.style_id", description)],
                metadata={"field": "provider_params.style_id"},
                request_sent=False,
            )
        body: dict[str, JsonValue] = {
            "prompt": call.prompt,
            "model": call.provider_model,
            "n": params.n,
        }
        if params.aspect_ratio is not None:
            body["size"] = _RATIO_SPELLING.get(params.aspect_ratio, params.aspect_ratio)
        elif params.size is not None:
            body["size"] = params.size
        if params.style is not None:
            body["style"] = params.style
        if params.response_format is not None:
            body["response_format"] = params.response_format.value
        body.update(params.extra)
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/images/generations",
            headers={"authorization": f"Bearer {call.endpoint.api_key}"},
            json=body,
        )

    def _edit_request(self, call: ProviderCall, model: RecraftModel) -> HttpRequest:
        assert call.edit is not None
        endpoint = endpoint_for(model.tool, call.edit)
        params = call.params
        fields: dict[str, str] = {}
        if endpoint.takes_model:
            fields = {"prompt": call.prompt, "model": call.provider_model, "n": str(params.n)}
            if params.style is not None:
                fields["style"] = params.style
            if params.style is not None and "style_id" in params.extra:
                description = "style_id and style are exclusive: send one of them"
                raise InvalidRequestError(
                    description,
                    field_violations=[FieldViolation("provider_params.style_id", description)],
                    metadata={"field": "provider_params.style_id"},
                    request_sent=False,
                )
        if endpoint.operation is EditOperation.EDIT and STRENGTH not in params.extra:
            # Required by imageToImage: how far the result may move from the input. No
            # default is guessed for the caller.
            description = (
                "recraft image to image needs provider_params.strength, 0..1 "
                "(0 keeps the input, 1 barely follows it)"
            )
            raise InvalidRequestError(
                description,
                field_violations=[FieldViolation(f"provider_params.{STRENGTH}", description)],
                metadata={"field": f"provider_params.{STRENGTH}"},
                request_sent=False,
            )
        if params.response_format is not None:
            fields["response_format"] = params.response_format.value
        for name, value in params.extra.items():
            fields[name] = form_value(value)
        body, content_type = encode_form(fields, edit_files(call.edit))
        return HttpRequest(
            method="POST",
            url=f"{self.api_base(call.endpoint)}/images/{endpoint.path}",
            headers={
                "authorization": f"Bearer {call.endpoint.api_key}",
                "content-type": content_type,
            },
            json={},
            body=body,
        )

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        if call.edit is not None:
            return self._parse_edit(call, response)
        return self._parse_generation(call, response)

    def _parse_edit(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        """An edit's answer: a generation's shape (model endpoints) or one `image` (tools);
        either way `credits` is what Recraft charged."""
        payload = response.json()
        model = recraft_model(call.provider_model)
        if model.tool is not None and isinstance(payload, dict):
            one = payload.get("image")
            # The tools answer one image: read it as a one-image list.
            payload = {**payload, "data": [one] if one is not None else []}
        result = self._parse_generation(call, response, payload)
        billed = credits_usd(payload.get("credits")) if isinstance(payload, dict) else None
        result.billed_usd = billed
        return result

    def _parse_generation(
        self, call: ProviderCall, response: HttpResponse, answer: object = None
    ) -> ProviderResult:
        payload, entries = image_entries(
            response.json() if answer is None else answer, provider=self.name
        )
        params = call.params
        # An edit answers at its input's size: no size of the request's own to report.
        pixel_size = None if call.edit is not None else params.size or call.spec.default_size
        width, height = (None, None)
        if pixel_size is not None and call.spec.aspect_ratios is None:
            parsed = parse_size(pixel_size)
            width, height = parsed.width, parsed.height
        images: list[GeneratedImage] = []
        seen: set[OutputKind] = set()
        for entry in entries:
            revised = entry.revised_prompt or None
            if entry.url is None:
                data = decode_b64_image(entry.b64_json, provider=self.name)
                svg = _is_svg(data)
                seen.add(VECTOR if svg else RASTER)
                mime = "image/svg+xml" if svg else sniff_mime(data)
                if call.edit is not None and not svg:
                    width, height = image_dimensions(data)
                image = GeneratedImage(
                    data=data,
                    mime_type=mime,
                    width=None if svg else width,
                    height=None if svg else height,
                    revised_prompt=revised,
                )
            else:
                url = entry.url
                kind = _kind_from_url(url)
                if kind is not None:
                    seen.add(kind)
                vector = kind == VECTOR or (kind is None and call.spec.aspect_ratios is not None)
                image = GeneratedImage(
                    url=url,
                    mime_type=_mime_from_url(url),
                    width=None if vector else width,
                    height=None if vector else height,
                    revised_prompt=revised,
                )
            images.append(image)
        if not images:
            raise content_policy_error(
                self.name,
                f"recraft returned none of the {params.n} image(s) asked for "
                "(withheld by its content filter)",
                # A 200 answer: Recraft bills per image returned, so this one cost nothing.
                status=response.status,
            )
        return ProviderResult(
            images=images,
            created=created_of(payload),
            quality=self._output_kind(call, seen),
            size=(
                _RATIO_SPELLING.get(params.aspect_ratio, params.aspect_ratio)
                if params.aspect_ratio is not None
                else pixel_size
            ),
            headers=dict(response.headers),
            filtered=max(0, params.n - len(images)),
        )

    @staticmethod
    def _output_kind(call: ProviderCall, seen: set[OutputKind]) -> OutputKind | None:
        """Raster or vector, for the price: the answer's evidence first, then the request."""
        if len(seen) == 1:
            return next(iter(seen))
        model = recraft_model(call.provider_model)
        if not model.style_decides_output:
            return model.output
        style = call.params.style
        if style is not None:
            return VECTOR if style in VECTOR_STYLES else RASTER
        # A custom style may be a vector one: the answer did not say, so the price is unknown.
        return None if "style_id" in call.params.extra else RASTER

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        code, message = _error_fields(response)
        status = response.status
        lowered = (code or "").lower()
        if status == 402 or lowered in _QUOTA_CODES:
            return ProviderQuotaExceededError(
                redact_secrets(message) or "the Recraft account has no API units left",
                provider=self.name,
                upstream_status=status,
                metadata={"upstream_code": code[:64]} if code else None,
            )
        if status == 400 and lowered in _MODEL_CODES:
            return ProviderModelNotFoundError(
                f"recraft does not serve the model {call.provider_model!r}: {message}",
                provider=self.name,
                upstream_status=status,
                metadata={"upstream_code": (code or "")[:64]},
            )
        if status == 404 and code is None:
            message = f"recraft answered {message or '404'}: check api_base"
        return error_for_status(
            provider=self.name,
            status=status,
            message=message,
            headers=response.headers,
            caller_credentials=call.endpoint.caller_credentials,
            code=code,
            content_policy=(
                status < 500
                and status not in (401, 402, 429)
                and (lowered in _SAFETY_CODES or _SAFETY_WORDS.search(message) is not None)
            ),
        )
