"""The provider adapter protocol and the parameter rules every adapter declares.

An adapter is mostly data: a `ModelSpec` per model (which parameters it takes,
which values), a request builder and a response/error parser. The HTTP call
itself, the shared connection pool and the mapping of transport failures live in
`transport.py`, outside the adapters.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import JsonValue

from imagegen.deadline import Deadline
from imagegen.errors import (
    FieldViolation,
    UnsupportedParameterError,
    invalid_field,
)
from imagegen.sizes import (
    AUTO,
    FreeFormRule,
    SizeChoice,
    choose_aspect_ratio,
    choose_listed_size,
    invalid_size,
    parse_size,
)
from imagegen.types import GeneratedImage, ImageRequest, ProviderResult, ResponseFormat

if TYPE_CHECKING:
    from imagegen.images.payload import EditPayload
    from imagegen.providers.edit_support import EditCapability
    from imagegen.providers.transport import HttpResponse, HttpTransport

STANDARD_PARAMS = ("n", "quality", "size", "style", "response_format", "user")
# Fields the adapters fill from the request and the deployment. A provider parameter of the same
# name would replace them in the body: another model than the configured one, a prompt the
# gateway never checked, an `n` past the model's limit.
# `stream` and `partial_images` belong to the gateway: it streams when the caller uses the
# streaming RPC.
RESERVED_PROVIDER_PARAMS = frozenset(
    {"prompt", "model", "stream", "partial_images", *STANDARD_PARAMS}
)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """The type and allowed values of one provider-specific parameter."""

    kind: type[str] | type[int] | type[float] | type[bool]
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def check(self, name: str, value: JsonValue) -> JsonValue:
        field_name = f"provider_params.{name}"
        # JSON (and protobuf Struct) numbers arrive as floats: accept 3.0 for an int parameter.
        if self.kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, self.kind) and not (
            self.kind is not bool and isinstance(value, bool)
        )
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise invalid_field(field_name, f"{name} must be of type {self.kind.__name__}")
        if self.choices is not None and value not in self.choices:
            raise invalid_field(field_name, f"{name} must be one of {', '.join(self.choices)}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise invalid_field(field_name, f"{name} must be at least {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise invalid_field(field_name, f"{name} must be at most {self.maximum:g}")
        return value


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What one model accepts. `None` for a value list means "not checked here"."""

    family: str
    params: frozenset[str]
    max_prompt_chars: int
    max_n: int = 10
    sizes: tuple[str, ...] | None = None
    size_rule: FreeFormRule | None = None
    # Models sized by aspect ratio ("16:9") rather than pixels (Imagen, Gemini, Stability).
    aspect_ratios: tuple[str, ...] | None = None
    # The model's own output size for each ratio ("1408x768" -> "16:9"), which callers may
    # ask for although it does not reduce to the ratio exactly.
    native_sizes: Mapping[str, str] | None = None
    # Models that make fewer images per call than `max_n`: the gateway fans out.
    max_images_per_call: int | None = None
    # Whether the provider streams partial previews (the adapter implements stream_events).
    streams_partials: bool = False
    qualities: tuple[str, ...] | None = None
    styles: tuple[str, ...] | None = None
    # What the gateway can hand back for this model, and whether the provider wants the
    # response_format field at all (GPT image models reject it: they always return base64).
    response_formats: tuple[ResponseFormat, ...] = (ResponseFormat.URL, ResponseFormat.B64_JSON)
    send_response_format: bool = True
    # None: provider params pass through unchecked (the provider validates them).
    provider_params: Mapping[str, ParamSpec] | None = None
    default_quality: str | None = None
    default_size: str | None = None
    known: bool = True
    # Whether every answer carries the call's token usage (GPT image models, Gemini): what a
    # deployment's tpm counts. A limit on a model that never reports tokens could never bind.
    reports_tokens: bool = False
    # The edit operations the model serves and the inputs it takes (None: generation only).
    edit: EditCapability | None = None


@dataclass(frozen=True, slots=True)
class CallParams:
    """Request parameters after the model's rules: what the adapter may send."""

    n: int
    quality: str | None
    size: str | None
    """"WIDTHxHEIGHT" or "auto" when the request names a size (after any coercion)."""
    style: str | None
    user: str | None
    response_format: ResponseFormat | None
    extra: dict[str, JsonValue]
    dropped: tuple[str, ...] = ()
    aspect_ratio: str | None = None
    """"W:H" for models sized by aspect ratio."""
    size_coerced_from: str | None = None
    """The caller's size, when the gateway picked the nearest one the model can make."""
    partial_images: int = 0
    """Previews per image to stream (StreamGenerateImages only; 0 = none)."""


def check_params(
    spec: ModelSpec, request: ImageRequest, *, drop: bool, coerce_size: bool = False
) -> CallParams:
    """Apply `spec` to `request`.

    A parameter the model does not take is an UnsupportedParameterError naming the
    field, unless `drop` is set, in which case it is removed and listed in
    `CallParams.dropped`. A bad value of a supported parameter is always an error.
    """
    dropped: list[str] = []

    def supported(name: str, value: object) -> bool:
        if value is None:
            return False
        if name in spec.params:
            return True
        if drop:
            dropped.append(name)
            return False
        raise UnsupportedParameterError(
            f"{name} is not supported by {spec.family}",
            field_violations=[FieldViolation(name, f"not supported by {spec.family}")],
            metadata={"field": name, "model": spec.family},
        )

    if len(request.prompt) > spec.max_prompt_chars:
        raise invalid_field(
            "prompt", f"prompt exceeds {spec.max_prompt_chars} characters for {spec.family}"
        )

    n = request.n if supported("n", request.n) and request.n is not None else 1
    if n > spec.max_n:
        raise invalid_field(
            "n", f"{spec.family} generates at most {spec.max_n} image(s) per request"
        )

    quality = request.quality if supported("quality", request.quality) else None
    if quality is not None and spec.qualities is not None and quality not in spec.qualities:
        raise invalid_field("quality", f"quality must be one of {', '.join(spec.qualities)}")

    style = request.style if supported("style", request.style) else None
    if style is not None and spec.styles is not None and style not in spec.styles:
        raise invalid_field("style", f"style must be one of {', '.join(spec.styles)}")

    choice = (
        _choose_size(spec, request.size, coerce_size)
        if supported("size", request.size) and request.size is not None
        else None
    )
    user = request.user if supported("user", request.user) else None

    response_format = request.response_format
    if response_format is not None and response_format not in spec.response_formats:
        if drop:
            dropped.append("response_format")
            response_format = None
        else:
            can = " or ".join(f.value for f in spec.response_formats)
            raise UnsupportedParameterError(
                f"response_format={response_format.value} is not supported by {spec.family} "
                f"(it returns {can})",
                field_violations=[
                    FieldViolation("response_format", f"{spec.family} returns {can}")
                ],
                metadata={"field": "response_format", "model": spec.family},
            )

    extra: dict[str, JsonValue] = {}
    for name, value in request.provider_params.items():
        if name in RESERVED_PROVIDER_PARAMS:
            raise invalid_field(
                f"provider_params.{name}", f"{name} is a request field, not a provider parameter"
            )
        if spec.provider_params is None:
            extra[name] = value
        elif name in spec.provider_params:
            extra[name] = spec.provider_params[name].check(name, value)
        elif drop:
            dropped.append(f"provider_params.{name}")
        else:
            field_name = f"provider_params.{name}"
            raise UnsupportedParameterError(
                f"{name} is not supported by {spec.family}",
                field_violations=[FieldViolation(field_name, f"not supported by {spec.family}")],
                metadata={"field": field_name, "model": spec.family},
            )

    return CallParams(
        n=n,
        quality=quality,
        size=_size_text(choice),
        style=style,
        user=user,
        response_format=response_format,
        extra=extra,
        dropped=tuple(dropped),
        aspect_ratio=str(choice.aspect_ratio) if choice and choice.aspect_ratio else None,
        size_coerced_from=choice.coerced_from if choice else None,
    )


def _size_text(choice: SizeChoice | None) -> str | None:
    if choice is None:
        return None
    if choice.size is not None:
        return str(choice.size)
    # A ratio-only choice has no pixel size; neither a ratio nor a size means "auto".
    return None if choice.aspect_ratio is not None else AUTO


def _choose_size(spec: ModelSpec, text: str, coerce: bool) -> SizeChoice:
    if text == AUTO:
        allowed = spec.sizes if spec.sizes is not None else spec.aspect_ratios
        if allowed is not None and AUTO not in allowed:
            raise invalid_size(f"size must be one of {', '.join(allowed)}")
        return SizeChoice(size=None, aspect_ratio=None)
    if spec.aspect_ratios is not None:
        return choose_aspect_ratio(
            text, spec.aspect_ratios, coerce=coerce, native=spec.native_sizes
        )
    size = parse_size(text)
    if spec.sizes is not None and str(size) not in spec.sizes and spec.size_rule is None:
        return choose_listed_size(text, spec.sizes, coerce=coerce)
    if spec.size_rule is not None and (spec.sizes is None or str(size) not in spec.sizes):
        spec.size_rule.check(size)
    return SizeChoice(size=size, aspect_ratio=None)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and as whom to call a provider: a deployment's resolved settings."""

    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    # Other provider settings from the config (organization, azure_ad_token, ...).
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # True when the credential came from the request rather than the gateway's config:
    # a rejection is then the caller's problem (UNAUTHENTICATED), not an operator's.
    caller_credentials: bool = False
    # True when a caller of a server that accepts request credentials moved api_base: the
    # gateway's own credentials (an OAuth token, a signing key) must not be sent there.
    caller_api_base: bool = False


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """Everything an adapter needs for one attempt."""

    provider_model: str
    spec: ModelSpec
    params: CallParams
    prompt: str
    endpoint: Endpoint
    deadline: Deadline
    # The input images and operation when the call is an edit (EditImages); None otherwise.
    edit: EditPayload | None = None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A provider HTTP request, before it is sent."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, JsonValue]
    body: bytes | None = None
    """A body that is not JSON (a multipart form), sent as is instead of `json`; its
    content-type goes in `headers`."""


@dataclass(frozen=True, slots=True)
class PreviewEvent:
    """A partial preview of the image at `index` (within this provider call)."""

    index: int
    partial_index: int
    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class ImageEvent:
    """A finished image at `index` (within this provider call)."""

    index: int
    image: GeneratedImage


@dataclass(frozen=True, slots=True)
class DoneEvent:
    """The end of a provider stream: every image and the usage."""

    result: ProviderResult


ProviderEvent = PreviewEvent | ImageEvent | DoneEvent


@runtime_checkable
class StreamingProvider(Protocol):
    """An adapter that can relay a provider's streamed previews and images."""

    def stream_events(
        self, call: ProviderCall, transport: HttpTransport
    ) -> AsyncIterator[ProviderEvent]:
        """Events as the provider sends them, ending with one DoneEvent."""
        ...


class Provider(Protocol):
    """What the gateway needs from a provider adapter."""

    @property
    def name(self) -> str:
        """The provider's name in model strings ("openai" in "openai/gpt-image-1")."""
        ...

    @property
    def env_api_key(self) -> tuple[str, ...]:
        """Environment variables that may hold the API key, in order of preference."""
        ...

    @property
    def env_api_base(self) -> tuple[str, ...]:
        """Environment variables that may hold the base URL."""
        ...

    @property
    def env_api_version(self) -> tuple[str, ...]:
        """Environment variables that may hold the API version."""
        ...

    @property
    def endpoint_options(self) -> tuple[str, ...]:
        """Deployment keys (litellm_params) that configure this provider's endpoint, kept in
        `Endpoint.options` instead of being sent as provider parameters."""
        ...

    @property
    def credential_options(self) -> tuple[str, ...]:
        """Which of `endpoint_options` are credentials: never sent to a caller's api_base."""
        ...

    @property
    def bare_models(self) -> tuple[str, ...]:
        """Model names that mean this provider without a "provider/" prefix."""
        ...

    @property
    def price_rows(self) -> str:
        """Prices of this provider's models in the prices.toml format ("": imagegen's own
        table has them). How a provider from another package brings its prices."""
        ...

    def spec_for(self, model: str) -> ModelSpec:
        """The rules for `model` (a permissive spec when the model is unknown)."""
        ...

    def api_base(self, endpoint: Endpoint) -> str:
        """The base URL calls will go to (for cost records and errors)."""
        ...

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        """Raise ProviderNotConfiguredError when `endpoint` cannot be called."""
        ...

    async def generate(self, call: ProviderCall, transport: HttpTransport) -> ProviderResult:
        """Make the images."""
        ...


class HttpProvider(ABC):
    """An adapter whose provider is reached over HTTP through the shared transport."""

    name: ClassVar[str]
    env_api_key: ClassVar[tuple[str, ...]] = ()
    env_api_base: ClassVar[tuple[str, ...]] = ()
    env_api_version: ClassVar[tuple[str, ...]] = ()
    endpoint_options: ClassVar[tuple[str, ...]] = ()
    credential_options: ClassVar[tuple[str, ...]] = ()
    bare_models: ClassVar[tuple[str, ...]] = ()
    price_rows: ClassVar[str] = ""

    async def generate(self, call: ProviderCall, transport: HttpTransport) -> ProviderResult:
        request = await self.prepare(call)
        response = await transport.send(request, deadline=call.deadline, provider=self.name)
        if response.status >= 400:
            raise self.parse_error(call, response)
        return self.parse_response(call, response)

    async def prepare(self, call: ProviderCall) -> HttpRequest:
        """The request to send. Adapters whose auth needs I/O or signing override this
        (an OAuth token from a cache, a SigV4 signature over the final body)."""
        return self.build_request(call)

    @abstractmethod
    def build_request(self, call: ProviderCall) -> HttpRequest:
        """URL, auth headers and JSON body for `call`."""

    @abstractmethod
    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        """Images and usage from a successful response."""

    @abstractmethod
    def parse_error(self, call: ProviderCall, response: HttpResponse) -> Exception:
        """The ImageGenError for a failed response."""
