"""Domain types shared by every layer.

`ImageRequest` is what a caller asked for (validated once, at the edge);
`GeneratedImage` / `ProviderResult` are what a provider gave back;
`CallFacts` is where the call went and what it cost; `ImageResponse` is the
OpenAI-compatible object the Python SDKs return.
"""

from __future__ import annotations

import binascii
import time
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias
from urllib.parse import urlsplit

import pybase64
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    SkipValidation,
    ValidationError,
    field_validator,
)

from imagegen.errors import FieldViolation, InvalidRequestError, ProviderBadResponseError

if TYPE_CHECKING:
    from imagegen.images.payload import EditPayload

    _EditField: TypeAlias = EditPayload | None
else:
    # At run time the field holds whatever the door put there, unvalidated: importing the
    # payload's module here would load Pillow into every importer of types (the thin client).
    _EditField = Any

# Gateway-wide ceilings. Each model has tighter limits of its own (see providers);
# these only stop absurd requests before any work is done.
MAX_PROMPT_CHARS = 100_000
MAX_IMAGES_PER_REQUEST = 10
MAX_TAGS = 64
MAX_TAG_CHARS = 256
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:/@+=\-]+$"


class ResponseFormat(StrEnum):
    """How images come back to the caller."""

    URL = "url"
    B64_JSON = "b64_json"


class CacheControl(BaseModel):
    """A request's `cache` controls, with LiteLLM's names (`no-cache`, `no-store`, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    no_cache: bool = Field(default=False, alias="no-cache")
    """Do not answer from the cache (the new images may still be stored)."""
    no_store: bool = Field(default=False, alias="no-store")
    """Do not store these images in the cache."""
    ttl: float | None = Field(default=None, gt=0, le=30 * 24 * 3600)
    """Keep these images this many seconds (instead of cache_params.ttl)."""
    s_maxage: float | None = Field(default=None, ge=0, alias="s-maxage")
    """Accept only an entry at most this many seconds old."""
    use_cache: bool | None = Field(default=None, alias="use-cache")
    """true: cache this request even without a seed; false: never cache it."""
    namespace: str | None = Field(default=None, max_length=128)
    """Entries under another namespace are never read (within the caller's own key)."""


class ImageRequest(BaseModel):
    """One validated request, with the parameters of the seed `image_generation()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_IMAGES_PER_REQUEST)
    quality: str | None = None
    response_format: ResponseFormat | None = None
    size: str | None = None
    style: str | None = None
    user: str | None = Field(default=None, max_length=512)
    timeout: float | None = Field(default=None, gt=0)
    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    provider_params: dict[str, JsonValue] = Field(default_factory=dict)
    tags: tuple[str, ...] = Field(default=(), max_length=MAX_TAGS)
    drop_params: bool | None = None
    # Routing: models to fall back to instead of the configured ones, or none at all.
    fallbacks: tuple[str, ...] | None = Field(default=None, max_length=10)
    disable_fallbacks: bool = False
    # Echoed in trailers, which must be printable ASCII: keep ids to a safe alphabet.
    request_id: str | None = Field(default=None, max_length=128, pattern=REQUEST_ID_PATTERN)
    # Set for EditImages: the operation and its inputs, validated by the door. Never dumped.
    edit: Annotated[_EditField, SkipValidation] = Field(default=None, exclude=True)
    cache: CacheControl | None = None
    """LiteLLM's per-request cache controls."""

    @field_validator("tags")
    @classmethod
    def _bounded_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Tags go into logs, spans and spend rows: each is bounded like the list.
        if any(len(tag) > MAX_TAG_CHARS for tag in value):
            raise ValueError(f"each tag must be at most {MAX_TAG_CHARS} characters")
        return value

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            raise ValueError("api_base must be an http(s) URL with a host")
        return value

    def __repr__(self) -> str:
        # The prompt can be long and private, the api_key is secret: neither belongs in a repr
        # that may end up in a log line.
        return (
            f"ImageRequest(model={self.model!r}, n={self.n!r}, size={self.size!r}, "
            f"quality={self.quality!r}, prompt_chars={len(self.prompt)})"
        )

    __str__ = __repr__

    @classmethod
    def create(cls, **fields: Any) -> ImageRequest:
        """Validate `fields`, turning pydantic's errors into an InvalidRequestError."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise invalid_request_from(exc) from None


def invalid_request_from(exc: ValidationError) -> InvalidRequestError:
    """An InvalidRequestError listing every failed field, without echoing the input values."""
    violations = []
    for err in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in err["loc"]) or "request"
        violations.append(FieldViolation(field=path, description=err["msg"]))
    fields = ", ".join(v.field for v in violations)
    return InvalidRequestError(
        f"invalid request: {fields}",
        field_violations=violations,
        metadata={"field": fields},
    )


class GeneratedImage:
    """One image as a provider returned it: bytes, base64 or a URL.

    Providers mostly send base64; the gRPC door needs raw bytes and the Python SDK
    wants base64 again. Decoding lazily (and at most once) means each door pays
    only for the form it uses.
    """

    __slots__ = ("_b64", "_data", "height", "mime_type", "revised_prompt", "url", "width")

    def __init__(
        self,
        *,
        data: bytes | None = None,
        b64: str | None = None,
        url: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        revised_prompt: str | None = None,
    ) -> None:
        if data is None and b64 is None and url is None:
            raise ValueError("an image needs data, base64 or a url")
        self._data = data
        self._b64 = b64
        self.url = url
        self.mime_type = mime_type
        self.width = width
        self.height = height
        self.revised_prompt = revised_prompt

    @property
    def has_content(self) -> bool:
        """Whether the image bytes are here (rather than only a URL)."""
        return self._data is not None or self._b64 is not None

    @property
    def content_bytes(self) -> int:
        """The image file's size, without decoding it (0 for a URL-only image)."""
        if self._data is not None:
            return len(self._data)
        return len(self._b64) * 3 // 4 if self._b64 is not None else 0

    def data(self) -> bytes:
        """The encoded image file."""
        if self._data is None:
            if self._b64 is None:
                raise ValueError("this image is only available as a URL")
            self._data = pybase64.b64decode(self._b64, validate=True)
        return self._data

    def b64_json(self) -> str:
        """The encoded image file as base64 text."""
        if self._b64 is None:
            self._b64 = pybase64.b64encode_as_string(self.data())
        return self._b64

    def __repr__(self) -> str:
        kind = "url" if not self.has_content else "bytes"
        return f"GeneratedImage({kind}, mime_type={self.mime_type!r}, {self.width}x{self.height})"


def decode_b64_image(value: object, *, provider: str) -> bytes:
    """Decode a provider's base64 image, reporting garbage as a bad provider response.

    `value` is the JSON string, or the bytes it was cut from (see openai.py). pybase64:
    the standard library's validating decoder costs ~9 ms per 1.5 MB image, this ~0.1 ms.
    """
    if not isinstance(value, str | bytes | memoryview) or not value:
        raise ProviderBadResponseError("image data is missing", provider=provider)
    try:
        return pybase64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderBadResponseError(
            "image data is not valid base64", provider=provider
        ) from None


class TokenDetails(BaseModel):
    """A split of tokens by modality."""

    text_tokens: int = 0
    image_tokens: int = 0


class Usage(BaseModel):
    """Token usage in OpenAI's image-usage shape."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: TokenDetails | None = None
    output_tokens_details: TokenDetails | None = None


@dataclass(slots=True)
class ProviderResult:
    """What one provider call produced."""

    images: list[GeneratedImage]
    usage: Usage | None = None
    created: int | None = None
    # The quality and size the images were generated at (after the model's defaults), for pricing.
    quality: str | None = None
    size: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Images the provider's safety filter withheld (it answered, but with fewer images).
    filtered: int = 0
    # Images not made because their n fan-out sub-call failed (fan_out_on_failure: partial).
    failed: int = 0
    # What the provider says this call was billed, in USD, when its answer says so
    # (OpenRouter's `usage.cost`): it wins over the price table.
    billed_usd: Decimal | None = None


def merge_usage(parts: list[Usage | None]) -> Usage | None:
    """The sum of several calls' usage (None when no call reported any)."""
    present = [u for u in parts if u is not None]
    if not present:
        return None

    def details(pick: list[TokenDetails | None]) -> TokenDetails | None:
        given = [d for d in pick if d is not None]
        if not given:
            return None
        return TokenDetails(
            text_tokens=sum(d.text_tokens for d in given),
            image_tokens=sum(d.image_tokens for d in given),
        )

    return Usage(
        input_tokens=sum(u.input_tokens for u in present),
        output_tokens=sum(u.output_tokens for u in present),
        total_tokens=sum(u.total_tokens for u in present),
        input_tokens_details=details([u.input_tokens_details for u in present]),
        output_tokens_details=details([u.output_tokens_details for u in present]),
    )


def format_usd(amount: Decimal | None) -> str:
    """A cost as a plain decimal string, or "unknown"."""
    if amount is None:
        return "unknown"
    text = f"{amount.quantize(Decimal('1e-10')):f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(slots=True)
class Attempt:
    """One provider call made for a request: where it went, how it ended, how long it took."""

    number: int
    """1-based, in the order the calls started."""
    model_name: str
    """The model group (the name the caller asked for, or the fallback's)."""
    model_id: str
    """The deployment that was called."""
    provider: str
    api_base: str
    images: int
    """Images this call was asked for."""
    started_at: float
    """Wall-clock start (time.time()), for spans recorded after the fact."""
    started: float
    """time.monotonic() at the start."""
    duration_ms: float | None = None
    """None while the call runs."""
    outcome: str = ""
    """"ok", or the ErrorInfo reason of the failure (e.g. PROVIDER_RATE_LIMITED)."""
    cost: Decimal | None = Decimal(0)
    """What this call cost (None: unknown)."""
    usage: Usage | None = None
    """The provider's token usage for this call, when it reported one."""
    images_returned: int = 0
    """Images this call produced (0 until it succeeded)."""
    provider_model: str = ""
    """The provider's own model name the call went to."""

    def finish(self, outcome: str, cost: Decimal | None = Decimal(0)) -> None:
        self.duration_ms = (time.monotonic() - self.started) * 1000
        self.outcome = outcome
        self.cost = cost


@dataclass(slots=True)
class CallFacts:
    """Where a call went and what it cost: the trailers and the typed cost record."""

    request_id: str
    model_id: str = ""
    provider: str = ""
    provider_model: str = ""
    api_base: str = ""
    attempts: int = 0
    # None means unknown: the provider may have billed us and we cannot tell how much.
    response_cost: Decimal | None = Decimal(0)
    overhead_ms: float = 0.0
    # Set when the model could not make the requested size and the config let the
    # gateway pick the nearest one: what was asked, and what the model was asked for.
    size_requested: str | None = None
    size_actual: str | None = None
    # Images a provider's safety filter (or a guardrail) withheld from an otherwise successful call.
    filtered: int = 0
    # Why guardrails withheld images, one "guardrail: reason" per image (never prompt text).
    withheld: list[str] = field(default_factory=list)
    # Every provider call made for this request, in the order they started.
    attempt_log: list[Attempt] = field(default_factory=list)
    # The model group that served the call when it was not the requested one.
    fallback_model: str = ""
    # Images missing because their fan-out sub-call failed (fan_out_on_failure: partial).
    failed: int = 0
    # "hit": answered from the cache at no cost; "miss": cacheable, so the provider was called
    # and its images stored; "" when the request was not cacheable.
    cache: str = ""
    # What a hit would have cost from the provider (the money it saved).
    cache_saved: Decimal | None = None
    # Images (and their bytes) written to the result store for this request.
    stored_images: int = 0
    stored_bytes: int = 0

    @property
    def response_cost_text(self) -> str:
        return format_usd(self.response_cost)


class ImageObject(BaseModel):
    """One image in OpenAI's response shape."""

    model_config = ConfigDict(extra="allow")

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImageResponse(BaseModel):
    """OpenAI-compatible images response, as returned by both Python SDKs.

    `_hidden_params` carries model_id, api_base, provider, response_cost (a float,
    or None when the price is unknown) and the full `CallFacts` under "cost";
    `_response_headers` carries the provider's response headers (in-process) or
    the gateway's trailers (over gRPC).
    """

    model_config = ConfigDict(extra="allow")

    created: int = Field(default_factory=lambda: int(time.time()))
    data: list[ImageObject] = Field(default_factory=list)
    usage: Usage | None = None

    _hidden_params: dict[str, Any] = PrivateAttr(default_factory=dict)
    _response_headers: dict[str, str] = PrivateAttr(default_factory=dict)


def attempt_dict(attempt: Attempt) -> dict[str, Any]:
    """One attempt as plain data (the SDKs' `_hidden_params["attempt_log"]`)."""
    return {
        "model_id": attempt.model_id,
        "model_name": attempt.model_name,
        "provider": attempt.provider,
        "outcome": attempt.outcome,
        "duration_ms": attempt.duration_ms,
        "cost": format_usd(attempt.cost),
    }


def hidden_params_for(facts: CallFacts) -> dict[str, Any]:
    """The `_hidden_params` LiteLLM users read, derived from the call facts."""
    return {
        "model_id": facts.model_id,
        "api_base": facts.api_base,
        "provider": facts.provider,
        "model": facts.provider_model,
        "response_cost": None if facts.response_cost is None else float(facts.response_cost),
        "attempts": facts.attempts,
        "overhead_ms": facts.overhead_ms,
        "request_id": facts.request_id,
        "size_coercion": (
            {"requested": facts.size_requested, "actual": facts.size_actual}
            if facts.size_requested is not None
            else None
        ),
        "filtered_count": facts.filtered,
        "failed_count": facts.failed,
        "fallback_model": facts.fallback_model or None,
        "attempt_log": [attempt_dict(a) for a in facts.attempt_log],
        # LiteLLM's own name for a cached answer, and ours ("hit", "miss" or None).
        "cache_hit": facts.cache == "hit",
        "cache": facts.cache or None,
        "cost": facts,
    }
