"""A deployment: one served model name bound to a provider model, its endpoint and its
routing limits. A leaf of the package (the router, the gateway and the config read it;
it reads only the provider's Endpoint and the pricing Price)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from imagegen.pricing.table import Price
from imagegen.providers.base import Endpoint


@dataclass(frozen=True, slots=True)
class Deployment:
    """One served model: a public name bound to a provider model and its endpoint."""

    model_name: str
    """The name callers send in the request's `model` field."""
    model_id: str
    """Stable id of this deployment (config `model_info.id`, else a hash of its settings)."""
    provider: str
    """Adapter name: openai, azure, xinference, local."""
    provider_model: str
    """The provider's own model name (for Azure: the deployment name)."""
    endpoint: Endpoint
    """Base URL, credentials and provider options."""
    base_model: str | None = None
    """The underlying model, when `provider_model` does not say (Azure deployments)."""
    price: Price | None = None
    """A price from the config, overriding the shipped table."""
    timeout: float | None = None
    """Per-deployment upper bound on a call, in seconds."""
    drop_params: bool | None = None
    """Drop unsupported parameters for this deployment (overrides the global setting)."""
    provider_params: Mapping[str, JsonValue] = field(default_factory=dict)
    """Provider parameters sent on every call (a request's own values win)."""
    coerce_size: bool | None = None
    """Let the gateway pick the nearest size the model can make (reported), instead of failing."""
    request_defaults: Mapping[str, Any] = field(default_factory=dict)
    """Standard parameters (quality, size, n...) used when a request leaves them unset."""
    router_options: Mapping[str, Any] = field(default_factory=dict)
    """LiteLLM router keys with no effect here (stream_timeout...), kept as given."""
    weight: float = 1.0
    """Share of the group's traffic under weighted random routing."""
    rpm: int | None = None
    """Requests per minute this deployment may receive (None: no limit)."""
    ipm: int | None = None
    """Images per minute this deployment may be asked for (None: no limit)."""
    tpm: int | None = None
    """Tokens per minute (input + output, as its model reports them) this deployment may use:
    once the current minute's calls have reported that many, it takes no more calls until the
    next minute (None: no limit). Only for models that report tokens."""
    max_parallel_requests: int | None = None
    """Provider calls in flight at once at most (None: no limit)."""
    order: int | None = None
    """Priority tier: lower orders are tried first; None sorts after every number."""
