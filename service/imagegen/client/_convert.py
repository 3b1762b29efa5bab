"""What the sync and async clients share: request building, response and error conversion."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import grpc
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.errors import (
    ERROR_DOMAIN,
    DeadlineExceededError,
    FieldViolation,
    GatewayUnavailableError,
    ImageGenError,
    InternalError,
    InvalidRequestError,
    ProviderError,
    QuotaError,
    error_class_for_reason,
)
from imagegen.types import (
    Attempt,
    CallFacts,
    ImageObject,
    ImageResponse,
    ResponseFormat,
    TokenDetails,
    Usage,
    hidden_params_for,
)

_FORMATS = {
    None: pb.RESPONSE_FORMAT_UNSPECIFIED,
    ResponseFormat.URL.value: pb.RESPONSE_FORMAT_URL,
    ResponseFormat.B64_JSON.value: pb.RESPONSE_FORMAT_B64_JSON,
}


@dataclass(frozen=True, slots=True)
class GenerateResult:
    """A unary call's answer with raw image bytes, usage, cost and the trailers."""

    response: pb.GenerateImagesResponse
    cost: CallFacts
    trailers: dict[str, str]

    @property
    def images(self) -> Sequence[pb.Image]:
        return self.response.images


def build_request(
    prompt: str,
    *,
    model: str | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    provider_params: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
    drop_params: bool = False,
    request_id: str | None = None,
    fallbacks: Sequence[str] = (),
    disable_fallbacks: bool = False,
) -> pb.GenerateImagesRequest:
    """A GenerateImagesRequest from LiteLLM-style arguments."""
    if response_format not in _FORMATS:
        raise ValueError("response_format must be url or b64_json")
    request = pb.GenerateImagesRequest(
        prompt=prompt,
        model=model or "",
        quality=quality or "",
        response_format=_FORMATS[response_format],
        size=size or "",
        style=style or "",
        user=user or "",
        api_key=api_key or "",
        api_base=api_base or "",
        api_version=api_version or "",
        tags=list(tags),
        drop_params=drop_params,
        request_id=request_id or "",
        fallbacks=list(fallbacks),
        disable_fallbacks=disable_fallbacks,
    )
    if n is not None:
        request.n = n
    if provider_params:
        struct = struct_pb2.Struct()
        struct.update(provider_params)
        request.provider_params.CopyFrom(struct)
    return request


def operation_value(operation: str) -> pb.EditOperation.ValueType:
    """The EditOperation named `operation` ("inpaint", "remove_background"...)."""
    try:
        return pb.EditOperation.Value(f"EDIT_OPERATION_{operation.upper()}")
    except ValueError:
        raise InvalidRequestError(
            f"unknown operation {operation[:64]!r}",
            field_violations=[FieldViolation("operation", "unknown operation")],
            metadata={"field": "operation"},
        ) from None


def edit_request(
    request: pb.GenerateImagesRequest,
    images: Sequence[bytes],
    *,
    mask: bytes | None,
    operation: str | None,
    outpaint: dict[str, int] | None,
) -> pb.EditImagesRequest:
    """The EditImagesRequest: the generation fields (same numbers) plus the edit's own."""
    edit = pb.EditImagesRequest.FromString(request.SerializeToString())
    edit.images.extend(images)
    if mask is not None:
        edit.mask = mask
    if operation:
        edit.operation = operation_value(operation)
    if outpaint:
        edit.outpaint.CopyFrom(pb.OutpaintExtension(**outpaint))
    return edit


_CACHE_FLAGS = {"no-cache": "no_cache", "no-store": "no_store", "use-cache": "use_cache"}
_CACHE_SECONDS = {"ttl": "ttl", "s-maxage": "max_age"}


def cache_control(cache: Mapping[str, Any]) -> pb.CacheControl:
    """LiteLLM's per-request `cache` object (no-cache, no-store, ttl, s-maxage, use-cache,
    namespace) as the request's CacheControl."""
    message = pb.CacheControl()
    for name, value in cache.items():
        if name in _CACHE_FLAGS and isinstance(value, bool):
            setattr(message, _CACHE_FLAGS[name], value)
        elif name in _CACHE_SECONDS and isinstance(value, int | float) and value >= 0:
            getattr(message, _CACHE_SECONDS[name]).FromTimedelta(timedelta(seconds=value))
        elif name == "namespace" and isinstance(value, str):
            message.namespace = value
        else:
            raise ValueError(f"cache.{name}: not a cache control (or not of its type)")
    return message


def stream_request(
    request: pb.GenerateImagesRequest, partial_images: int = 0
) -> pb.StreamGenerateImagesRequest:
    """The same request for the streaming RPC (the two messages share field numbers)."""
    streaming = pb.StreamGenerateImagesRequest.FromString(request.SerializeToString())
    streaming.partial_images = partial_images
    return streaming


def trailers_dict(metadata: Iterable[Any] | None) -> dict[str, str]:
    return {key: value for key, value in (metadata or ()) if isinstance(value, str)}


def facts_from(record: pb.CostRecord | None, trailers: dict[str, str]) -> CallFacts:
    """Call facts from the typed record, or from the trailers when there is no record."""
    facts = _facts_from(record, trailers)
    requested, arrow, actual = trailers.get("x-imagegen-size-coercion", "").partition("->")
    if arrow:
        facts.size_requested, facts.size_actual = requested, actual
    filtered = trailers.get("x-imagegen-filtered-count", "0")
    facts.filtered = int(filtered) if filtered.isdigit() else 0
    failed = trailers.get("x-imagegen-failed-count", "0")
    facts.failed = int(failed) if failed.isdigit() else 0
    facts.fallback_model = trailers.get("x-imagegen-fallback-model", "")
    return facts


def attempts_from(messages: Iterable[pb.Attempt]) -> list[Attempt]:
    """The attempt log of a typed response (durations as reported; no clock of ours)."""
    return [
        Attempt(
            number=number,
            model_name=message.model_name,
            model_id=message.model_id,
            provider=message.provider,
            api_base="",
            images=message.images,
            started_at=0.0,
            started=0.0,
            duration_ms=message.duration_ms,
            outcome=message.outcome,
            cost=_decimal(message.cost),
        )
        for number, message in enumerate(messages, start=1)
    ]


def result_facts(response: pb.GenerateImagesResponse, trailers: dict[str, str]) -> CallFacts:
    """The facts of a unary answer, with its attempt log."""
    facts = facts_from(response.cost, trailers)
    facts.attempt_log = attempts_from(response.attempts)
    facts.fallback_model = response.fallback_model or facts.fallback_model
    facts.failed = response.failed_count or facts.failed
    return facts


def _facts_from(record: pb.CostRecord | None, trailers: dict[str, str]) -> CallFacts:
    if record is not None and record.model_id:
        cost_text = record.response_cost
        return CallFacts(
            request_id=record.request_id,
            model_id=record.model_id,
            provider=record.provider,
            provider_model=record.provider_model,
            api_base=record.api_base,
            attempts=record.attempts,
            response_cost=_decimal(cost_text),
            overhead_ms=record.overhead_ms,
            cache=record.cache,
        )
    return CallFacts(
        request_id=trailers.get("x-imagegen-request-id", ""),
        model_id=trailers.get("x-imagegen-model-id", ""),
        provider=trailers.get("x-imagegen-provider", ""),
        api_base=trailers.get("x-imagegen-api-base", ""),
        attempts=int(trailers.get("x-imagegen-attempts", "0") or 0),
        response_cost=_decimal(trailers.get("x-imagegen-response-cost", "unknown")),
        overhead_ms=float(trailers.get("x-imagegen-overhead-ms", "0") or 0),
        cache=trailers.get("x-imagegen-cache", ""),
    )


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def usage_from(message: pb.Usage) -> Usage:
    usage = Usage(
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
        total_tokens=message.total_tokens,
    )
    if message.HasField("input_tokens_details"):
        details = message.input_tokens_details
        usage.input_tokens_details = TokenDetails(
            text_tokens=details.text_tokens, image_tokens=details.image_tokens
        )
    if message.HasField("output_tokens_details"):
        details = message.output_tokens_details
        usage.output_tokens_details = TokenDetails(
            text_tokens=details.text_tokens, image_tokens=details.image_tokens
        )
    return usage


def image_response_from(result: GenerateResult) -> ImageResponse:
    """The OpenAI-compatible ImageResponse for a unary answer."""
    message = result.response
    data = [
        ImageObject(
            b64_json=base64.b64encode(image.data).decode("ascii")
            if image.HasField("data")
            else None,
            url=image.url if image.HasField("url") else None,
            revised_prompt=image.revised_prompt or None,
        )
        for image in message.images
    ]
    response = ImageResponse(
        created=message.created,
        data=data,
        usage=usage_from(message.usage) if message.HasField("usage") else None,
    )
    response._hidden_params = hidden_params_for(result.cost)
    response._response_headers = dict(result.trailers)
    return response


def error_from(exc: grpc.RpcError, trailers: dict[str, str]) -> ImageGenError:
    """The ImageGenError subclass the server raised, rebuilt from its google.rpc.Status."""
    status = rpc_status.from_call(exc)
    code = exc.code() if hasattr(exc, "code") else None
    message = exc.details() if hasattr(exc, "details") else "call failed"
    error: ImageGenError
    if status is None:
        error = _transport_error(code, message or "call failed")
    else:
        info = error_details_pb2.ErrorInfo()
        violations: list[FieldViolation] = []
        retry_after = None
        subjects: list[str] = []
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                detail.Unpack(info)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
            elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
                quota = error_details_pb2.QuotaFailure()
                detail.Unpack(quota)
                subjects = [v.subject for v in quota.violations]
        cls = error_class_for_reason(info.reason) if info.domain == ERROR_DOMAIN else ImageGenError
        error = ImageGenError.__new__(cls)
        upstream = info.metadata.get("upstream_status", "")
        ImageGenError.__init__(
            error,
            status.message,
            metadata=dict(info.metadata),
            field_violations=violations,
            retry_after=retry_after,
            upstream_status=int(upstream) if upstream.isdigit() else None,
            request_sent=False if info.metadata.get("request_sent") == "false" else None,
        )
        if isinstance(error, ProviderError):
            error.provider = info.metadata.get("provider", "")
        if isinstance(error, QuotaError):
            error.subject = subjects[0] if subjects else ""
            error.other_subjects = tuple(subjects[1:])
    error.facts = facts_from(None, trailers)
    return error


def _transport_error(code: grpc.StatusCode | None, message: str) -> ImageGenError:
    # No google.rpc.Status: the gateway itself never answered (unreachable, deadline, limits).
    error: ImageGenError
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        error = DeadlineExceededError("the deadline passed before the gateway answered")
    elif code == grpc.StatusCode.UNAVAILABLE:
        error = GatewayUnavailableError("the gateway could not be reached")
    else:
        error = InternalError(f"the call failed: {message}"[:300])
    if code is not None:
        error.metadata["grpc_code"] = code.name
    return error


class ChunkAssembler:
    """Turns `image_chunk` events back into whole `image` events; passes others through."""

    def __init__(self) -> None:
        self._pending: dict[int, tuple[pb.ImageChunk, list[bytes]]] = {}

    def feed(
        self, event: pb.StreamGenerateImagesResponse
    ) -> pb.StreamGenerateImagesResponse | None:
        """The event to hand on, or None while an image's pieces are still arriving."""
        if event.WhichOneof("event") != "image_chunk":
            return event
        chunk = event.image_chunk
        first, pieces = self._pending.setdefault(chunk.index, (chunk, []))
        pieces.append(chunk.data)
        if not chunk.last:
            return None
        del self._pending[chunk.index]
        data = b"".join(pieces)
        if first.total_bytes and len(data) != first.total_bytes:
            raise InternalError("a streamed image arrived incomplete")
        image = pb.Image(
            index=first.index,
            data=data,
            mime_type=first.mime_type,
            width=first.width,
            height=first.height,
            revised_prompt=first.revised_prompt,
        )
        return pb.StreamGenerateImagesResponse(image=image)
