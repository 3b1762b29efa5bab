"""Protobuf ↔ domain conversion. Nothing else: no policy, no I/O."""

from __future__ import annotations

from google.protobuf import json_format
from pydantic import JsonValue

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.gateway import Generation, ModelDescription
from imagegen.types import CallFacts, GeneratedImage, ImageRequest, ResponseFormat, Usage

TRAILER_COST = "x-imagegen-response-cost"
TRAILER_MODEL_ID = "x-imagegen-model-id"
TRAILER_PROVIDER = "x-imagegen-provider"
TRAILER_API_BASE = "x-imagegen-api-base"
TRAILER_ATTEMPTS = "x-imagegen-attempts"
TRAILER_OVERHEAD = "x-imagegen-overhead-ms"
TRAILER_REQUEST_ID = "x-imagegen-request-id"
# Only when they apply:
TRAILER_SIZE_COERCION = "x-imagegen-size-coercion"
TRAILER_FILTERED = "x-imagegen-filtered-count"

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
    }
    if message.HasField("timeout"):
        fields["timeout"] = message.timeout.seconds + message.timeout.nanos / 1e9
    if message.HasField("provider_params"):
        fields["provider_params"] = _integral(json_format.MessageToDict(message.provider_params))
    return ImageRequest.create(**fields)


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


def image_to_proto(index: int, image: GeneratedImage) -> pb.Image:
    message = pb.Image(
        index=index,
        mime_type=image.mime_type or "",
        width=image.width or 0,
        height=image.height or 0,
        revised_prompt=image.revised_prompt or "",
    )
    if image.has_content:
        message.data = image.data()
    elif image.url is not None:
        message.url = image.url
    return message


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
    )


def size_coercion_to_proto(facts: CallFacts) -> pb.SizeCoercion | None:
    if facts.size_requested is None:
        return None
    return pb.SizeCoercion(requested=facts.size_requested, actual=facts.size_actual or "")


def generation_to_proto(generation: Generation) -> pb.GenerateImagesResponse:
    result, facts = generation.result, generation.facts
    return pb.GenerateImagesResponse(
        created=result.created or 0,
        images=[image_to_proto(i, image) for i, image in enumerate(result.images)],
        usage=usage_to_proto(result.usage),
        cost=cost_to_proto(facts),
        size_coercion=size_coercion_to_proto(facts),
        filtered_count=facts.filtered,
    )


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
        )
    )


def trailers(facts: CallFacts) -> tuple[tuple[str, str], ...]:
    """The cost and routing trailers, sent on every call."""
    always = (
        (TRAILER_COST, facts.response_cost_text),
        (TRAILER_MODEL_ID, _header_safe(facts.model_id)),
        (TRAILER_PROVIDER, facts.provider),
        (TRAILER_API_BASE, _header_safe(facts.api_base)),
        (TRAILER_ATTEMPTS, str(facts.attempts)),
        (TRAILER_OVERHEAD, f"{facts.overhead_ms:.3f}"),
        (TRAILER_REQUEST_ID, _header_safe(facts.request_id)),
    )
    optional = []
    if facts.size_requested is not None:
        coercion = f"{facts.size_requested}->{facts.size_actual}"
        optional.append((TRAILER_SIZE_COERCION, _header_safe(coercion)))
    if facts.filtered:
        optional.append((TRAILER_FILTERED, str(facts.filtered)))
    return (*always, *optional)


def _header_safe(value: str) -> str:
    # gRPC rejects the whole call ("Invalid metadata") for a non-printable-ASCII value; config
    # values (a model id, a base URL) are not guaranteed to be ASCII.
    if value.isascii() and value.isprintable():
        return value
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in value)


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
    )
