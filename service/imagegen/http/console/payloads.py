"""JSON shapes of the console's API: domain values in, plain dicts out. No I/O here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from imagegen.gateway import ModelDescription
from imagegen.keys.model import KeySpec
from imagegen.providers.edit_support import capability_of
from imagegen.router.state import Load
from imagegen.spend.rows import SpendBucket, SpendGroup, SpendRow


def cost_text(cost: Decimal | None) -> str:
    """A USD decimal string, or "unknown": never a silent 0."""
    return "unknown" if cost is None else str(cost)


def model_payload(described: ModelDescription, deployments: int) -> dict[str, Any]:
    deployment, spec = described.deployment, described.spec
    capability = capability_of(spec)
    operations = ["generate"]
    if capability is not None:
        operations += sorted(op.value for op in capability.operations)
    return {
        "name": deployment.model_name,
        "provider": deployment.provider,
        "provider_model": deployment.provider_model,
        "deployments": deployments,
        "sizes": list(spec.sizes or ()),
        "free_form_sizes": spec.size_rule is not None,
        "size_rule": spec.size_rule.describe() if spec.size_rule is not None else "",
        "aspect_ratios": list(spec.aspect_ratios or ()),
        "default_size": spec.default_size,
        "qualities": list(spec.qualities or ()),
        "default_quality": spec.default_quality,
        "max_n": spec.max_n,
        "operations": operations,
        "max_input_images": capability.limits.max_images if capability is not None else 0,
        "streams_partials": spec.streams_partials,
        "seed": "seed" in (spec.provider_params or {}),
        "price_basis": described.price_basis,
        "supported_params": list(described.supported_params),
    }


def group_payload(group: SpendGroup) -> dict[str, Any]:
    return {
        "group": group.group,
        "requests": group.requests,
        "errors": group.errors,
        "images": group.images,
        "cost": str(group.cost),
        "unknown_cost_count": group.unknown_cost_count,
    }


def bucket_payload(bucket: SpendBucket) -> dict[str, Any]:
    return {"start": bucket.start, **group_payload(_as_group(bucket))}


def _as_group(b: SpendBucket) -> SpendGroup:
    return SpendGroup(b.group, b.requests, b.errors, b.images, b.cost, b.unknown_cost_count)


def row_payload(row: SpendRow, *, with_prompt: bool) -> dict[str, Any]:
    """One request as the console lists it: never image data; the prompt only when the
    gateway logs prompts (general_settings.log_prompts)."""
    payload: dict[str, Any] = {
        "time": row.time,
        "request_id": row.request_id,
        "key_alias": row.key_alias,
        "user": row.user,
        "model": row.model_group,
        "deployment": row.deployment,
        "provider": row.provider,
        "door": row.door,
        "status": row.status,
        "images": row.images,
        "size": row.size,
        "quality": row.quality,
        "cost": cost_text(row.cost),
        "charged": str(row.charged),
        "latency_ms": round(row.latency_ms, 1),
        "attempts": row.attempts,
        "tags": list(row.tags),
    }
    if with_prompt:
        payload["prompt"] = row.prompt
    return payload


def budget_payload(key: KeySpec, spent: Decimal) -> dict[str, Any]:
    return {
        "alias": key.alias,
        "spent": str(spent),
        "max_budget": None if key.max_budget is None else str(key.max_budget),
        "period": key.budget_period or "total",
    }


def health_payload(
    model_name: str,
    model_id: str,
    provider: str,
    load: Load,
    cooldown_until: float | None,
    recent: SpendGroup | None,
) -> dict[str, Any]:
    requests = recent.requests if recent is not None else 0
    errors = recent.errors if recent is not None else 0
    return {
        "model": model_name,
        "model_id": model_id,
        "provider": provider,
        "cooling_down_until": cooldown_until,
        "in_flight": load.in_flight,
        "requests_this_minute": load.requests,
        "recent_requests": requests,
        "recent_errors": errors,
        "error_rate": (errors / requests) if requests else None,
    }
