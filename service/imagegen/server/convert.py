"""Protobuf ↔ domain conversion. Nothing else: no policy, no I/O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from google.protobuf import duration_pb2, json_format
from pydantic import JsonValue

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.events import Accepted, Generation, ImageReady, Progress, StreamEvent
from imagegen.gateway import ModelDescription
from imagegen.images.operations import EditOperation
from imagegen.providers.base import ModelSpec, PreviewEvent
from imagegen.providers.edit_support import capability_of
from imagegen.types import (
    CallFacts,
    GeneratedImage,
    ImageRequest,
    ResponseFormat,
    Usage,
    format_usd,
)

_FORMATS = {
    pb.RESPONSE_FORMAT_URL: ResponseFormat.URL,
    pb.RESPONSE_FORMAT_B64_JSON: ResponseFormat.B64_JSON,
}


# The unary and streaming requests have the same fields (buf wants one message per RPC).
RequestMessage = pb.GenerateImagesRequest | pb.StreamGenerateImagesRequest


def request_from_proto(message: RequestMessage) -> ImageRequest:
    """The validated domain request (raises InvalidRequestError listing bad fields)."""
    fields: dict[str, object] = {
        "prompt": message.prompt,
        "model": message.model or None,
        "n": message.n if message.HasField("n") else None,
        "quality": message.quality or None,
        "response_format": _FORMATS.get(message.response_format),
        "size": message.size or None,
        "style": message.style or None,
        "user": message.user or None,
        "api_key": message.api_key or None,
        "api_base": message.api_base or None,
        "api_version": message.api_version or None,
        "tags": tuple(message.tags),
        "drop_params": message.drop_params or None,
        "request_id": message.request_id or None,
        "fallbacks": tuple(message.fallbacks) or None,
        "disable_fallbacks": message.disable_fallbacks,
    }
    if message.HasField("timeout"):
        fields["timeout"] = message.timeout.seconds + message.timeout.nanos / 1e9
    if message.HasField("provider_params"):
        fields["provider_params"] = _integral(json_format.MessageToDict(message.provider_params))
    if message.HasField("cache"):
        fields["cache"] = cache_from_proto(message.cache)
    return ImageRequest.create(**fields)


def cache_from_proto(message: pb.CacheControl) -> dict[str, object]:
    """The cache controls under LiteLLM's names (validated with the request)."""
    control: dict[str, object] = {"no-cache": message.no_cache, "no-store": message.no_store}
    if message.HasField("ttl"):
        control["ttl"] = message.ttl.ToTimedelta().total_seconds()
    if message.HasField("max_age"):
        control["s-maxage"] = message.max_age.ToTimedelta().total_seconds()
    if message.HasField("use_cache"):
        control["use-cache"] = message.use_cache
    if message.namespace:
        control["namespace"] = message.namespace
    return control


def _integral(value: JsonValue) -> JsonValue:
    # protobuf Struct has only doubles: give whole numbers back their int type, since
    # providers distinguish 20 from 20.0 (diffusers step counts, seeds).
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def fill_image(message: pb.Image, index: int, image: GeneratedImage) -> None:
    """Write `image` into a message that already sits inside its response.

    Filled in place, never built apart and then attached: attaching copies the message, and
    with it 1-8 MB of image bytes (a measured 0.15-1.5 ms per image, bench/NOTES.md)."""
    message.index = index
    message.mime_type = image.mime_type or ""
    message.width = image.width or 0
    message.height = image.height or 0
    message.revised_prompt = image.revised_prompt or ""
    if image.has_content:
        message.data = image.data()
    elif image.url is not None:
        message.url = image.url


def usage_to_proto(usage: Usage | None) -> pb.Usage | None:
    if usage is None:
        return None
    message = pb.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )
    if usage.input_tokens_details is not None:
        message.input_tokens_details.CopyFrom(
            pb.TokenDetails(**usage.input_tokens_details.model_dump())
        )
    if usage.output_tokens_details is not None:
        message.output_tokens_details.CopyFrom(
            pb.TokenDetails(**usage.output_tokens_details.model_dump())
        )
    return message


def cost_to_proto(facts: CallFacts) -> pb.CostRecord:
    return pb.CostRecord(
        response_cost=facts.response_cost_text,
        model_id=facts.model_id,
        provider=facts.provider,
        api_base=facts.api_base,
        provider_model=facts.provider_model,
        attempts=facts.attempts,
        overhead_ms=facts.overhead_ms,
        request_id=facts.request_id,
        cache=facts.cache,
    )


def attempts_to_proto(facts: CallFacts) -> list[pb.Attempt]:
    return [
        pb.Attempt(
            model_id=attempt.model_id,
            model_name=attempt.model_name,
            provider=attempt.provider,
            outcome=attempt.outcome,
            duration_ms=attempt.duration_ms or 0.0,
            cost=format_usd(attempt.cost),
            images=attempt.images,
        )
        for attempt in facts.attempt_log
    ]


def size_coercion_to_proto(facts: CallFacts) -> pb.SizeCoercion | None:
    if facts.size_requested is None:
        return None
    return pb.SizeCoercion(requested=facts.size_requested, actual=facts.size_actual or "")


def generation_to_proto(generation: Generation) -> pb.GenerateImagesResponse:
    result, facts = generation.result, generation.facts
    response = pb.GenerateImagesResponse(
        created=result.created or 0,
        usage=usage_to_proto(result.usage),
        cost=cost_to_proto(facts),
        size_coercion=size_coercion_to_proto(facts),
        filtered_count=facts.filtered,
        attempts=attempts_to_proto(facts),
        fallback_model=facts.fallback_model,
        failed_count=facts.failed,
    )
    for index, image in enumerate(result.images):
        fill_image(response.images.add(), index, image)
    return response


def summary_to_proto(generation: Generation) -> pb.StreamGenerateImagesResponse:
    result, facts = generation.result, generation.facts
    return pb.StreamGenerateImagesResponse(
        summary=pb.GenerationSummary(
            created=result.created or 0,
            image_count=len(result.images),
            usage=usage_to_proto(result.usage),
            cost=cost_to_proto(facts),
            size_coercion=size_coercion_to_proto(facts),
            filtered_count=facts.filtered,
            attempts=attempts_to_proto(facts),
            fallback_model=facts.fallback_model,
            failed_count=facts.failed,
        )
    )


def model_to_proto(described: ModelDescription) -> pb.ModelInfo:
    deployment, spec = described.deployment, described.spec
    return pb.ModelInfo(
        name=deployment.model_name,
        provider=deployment.provider,
        provider_model=deployment.provider_model,
        model_id=deployment.model_id,
        supported_params=list(described.supported_params),
        sizes=[s for s in spec.sizes or ()],
        qualities=list(spec.qualities or ()),
        price_basis=described.price_basis,
        free_form_sizes=spec.size_rule is not None,
        size_rule=spec.size_rule.describe() if spec.size_rule is not None else "",
        aspect_ratios=list(spec.aspect_ratios or ()),
        styles=list(spec.styles or ()),
        max_n=spec.max_n,
        fan_out=spec.max_images_per_call is not None and spec.max_images_per_call < spec.max_n,
        **_edit_support(spec),
    )


# The contract's EditOperation numbers, by operation (EDIT_OPERATION_UNSPECIFIED is never listed).
_EDIT_OPERATION_NUMBERS = {
    operation: pb.EditOperation.Value(f"EDIT_OPERATION_{operation.name}")
    for operation in EditOperation
}


def _edit_support(spec: ModelSpec) -> dict[str, Any]:
    capability = capability_of(spec)
    if capability is None:
        return {}
    return {
        "edit_operations": sorted(_EDIT_OPERATION_NUMBERS[op] for op in capability.operations),
        "max_input_images": capability.limits.max_images,
    }


def stream_messages(event: StreamEvent, chunk_bytes: int) -> list[pb.StreamGenerateImagesResponse]:
    """The StreamGenerateImages messages for one gateway event."""
    if isinstance(event, ImageReady):
        return image_messages(event.index, event.image, chunk_bytes)
    if isinstance(event, Accepted):
        facts = event.facts
        accepted = pb.Accepted(
            request_id=facts.request_id,
            model=event.model,
            model_id=facts.model_id,
            provider=facts.provider,
            n=event.n,
        )
        return [pb.StreamGenerateImagesResponse(accepted=accepted)]
    if isinstance(event, Progress):
        elapsed = duration_pb2.Duration()
        elapsed.FromTimedelta(timedelta(seconds=event.elapsed_seconds))
        progress = pb.Progress(elapsed=elapsed, images_done=event.images_done)
        if event.job is not None:
            progress.job_status = event.job.status
            if event.job.queue_position is not None:
                progress.queue_position = event.job.queue_position
            if event.job.percent is not None:
                progress.percent = event.job.percent
        return [pb.StreamGenerateImagesResponse(progress=progress)]
    if isinstance(event, PreviewEvent):
        message = pb.StreamGenerateImagesResponse()
        preview = message.partial_image  # filled in place: see fill_image
        preview.SetInParent()
        preview.index = event.index
        preview.partial_index = event.partial_index
        preview.data = event.data
        preview.mime_type = event.mime_type
        return [message]
    return [summary_to_proto(event)]


def image_messages(
    index: int, image: GeneratedImage, chunk_bytes: int
) -> list[pb.StreamGenerateImagesResponse]:
    """One `image` event, or `image_chunk` events when the image exceeds `chunk_bytes`."""
    if not image.has_content or len(image.data()) <= chunk_bytes:
        message = pb.StreamGenerateImagesResponse()
        message.image.SetInParent()  # the oneof is `image` even if every field is a default
        fill_image(message.image, index, image)
        return [message]
    data = memoryview(image.data())
    messages = []
    for offset in range(0, len(data), chunk_bytes):
        piece = data[offset : offset + chunk_bytes]
        message = pb.StreamGenerateImagesResponse()
        chunk = message.image_chunk  # filled in place: see fill_image
        chunk.SetInParent()
        chunk.index = index
        chunk.data = bytes(piece)
        chunk.last = offset + chunk_bytes >= len(data)
        if offset == 0:
            chunk.total_bytes = len(data)
            chunk.mime_type = image.mime_type or ""
            chunk.width = image.width or 0
            chunk.height = image.height or 0
            chunk.revised_prompt = image.revised_prompt or ""
        messages.append(message)
    return messages
