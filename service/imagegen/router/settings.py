"""`router_settings`: how requests are spread over a model group's deployments.

Names follow LiteLLM's Router where it has one (routing_strategy, num_retries,
retry_policy, allowed_fails, cooldown_time, fallbacks, content_policy_fallbacks,
default_fallbacks, redis_url), so an existing config keeps its meaning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imagegen.errors import ConfigError

log = logging.getLogger("imagegen.config")

STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "cost-based-routing",
)

# LiteLLM's retry_policy keys, mapped to the gateway's error classes (see retry.py).
RETRY_POLICY_KEYS = (
    "RateLimitErrorRetries",
    "TimeoutErrorRetries",
    "InternalServerErrorRetries",
    "ConnectionErrorRetries",
    "BadResponseErrorRetries",
    "AuthenticationErrorRetries",
)

FanOutPolicy = Literal["retry", "partial", "fail"]


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """The router's behaviour, validated."""

    routing_strategy: str = "simple-shuffle"
    """A built-in strategy name, or "package.module:function" for a custom one."""
    num_retries: int = 0
    """Further attempts after a retryable failure (across the group's deployments)."""
    retry_policy: Mapping[str, int] = field(default_factory=dict)
    """Per-error-class retry counts, overriding num_retries (LiteLLM's key names)."""
    retry_backoff_seconds: float = 0.5
    """First backoff; doubled per retry, with full jitter."""
    retry_backoff_max_seconds: float = 30.0
    max_retry_after_seconds: float = 60.0
    """A provider's Retry-After longer than this is not waited for (the attempt is not retried)."""
    allowed_fails: int = 3
    """Failures per deployment within a minute before it is cooled down."""
    cooldown_time: float = 5.0
    """Seconds a failing (or 429-answering) deployment is skipped."""
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_policy_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_fallbacks: tuple[str, ...] = ()
    redis_url: str | None = None
    redis_namespace: str = "imagegen:router"
    """Key prefix in Redis: replicas with the same prefix share state."""
    fan_out_on_failure: FanOutPolicy = "retry"
    """A failed n fan-out sub-call: retry it (then fail), return what succeeded, or fail."""
    fan_out_concurrency: int = 4
    """Parallel provider calls at most for one request's n fan-out."""
    latency_alpha: float = 0.3
    """Weight of the newest sample in the latency moving average."""


FallbackList = list[dict[str, list[str]]] | dict[str, list[str]]


class RouterSection(BaseModel):
    """The `router_settings` section of the YAML file (LiteLLM keys it lacks are ignored)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    routing_strategy: str = "simple-shuffle"
    num_retries: int = Field(default=0, ge=0, le=10)
    retry_policy: dict[str, int] = Field(default_factory=dict)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    retry_backoff_max_seconds: float = Field(default=30.0, ge=0)
    max_retry_after_seconds: float = Field(default=60.0, ge=0)
    allowed_fails: int = Field(default=3, ge=0)
    cooldown_time: float = Field(default=5.0, ge=0)
    fallbacks: FallbackList = Field(default_factory=list)
    content_policy_fallbacks: FallbackList = Field(default_factory=list)
    default_fallbacks: list[str] = Field(default_factory=list)
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int | None = Field(default=None, ge=1, le=65535)
    redis_password: str | None = None
    redis_namespace: str = Field(default="imagegen:router", min_length=1)
    fan_out_on_failure: FanOutPolicy = "retry"
    fan_out_concurrency: int = Field(default=4, ge=1, le=10)
    latency_alpha: float = Field(default=0.3, gt=0, le=1)

    @field_validator("retry_policy")
    @classmethod
    def _known_policy_keys(cls, value: dict[str, int]) -> dict[str, int]:
        for key, count in value.items():
            if key not in RETRY_POLICY_KEYS:
                raise ValueError(f"unknown key {key!r}; known: {', '.join(RETRY_POLICY_KEYS)}")
            if not 0 <= count <= 10:
                raise ValueError(f"{key} must be between 0 and 10")
        return value

    @field_validator("routing_strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES and ":" not in value:
            raise ValueError(
                f"must be one of {', '.join(STRATEGIES)}, or 'package.module:function'"
            )
        return value


def build_router_settings(section: RouterSection, source: str) -> RouterSettings:
    """The RouterSettings of a validated section (fallback shapes normalised)."""
    for key in sorted(section.model_extra or {}):
        log.warning("%s: router_settings.%s is not used by imagegen and is ignored", source, key)
    url = section.redis_url
    if url is None and section.redis_host is not None:
        auth = f":{section.redis_password}@" if section.redis_password else ""
        url = f"redis://{auth}{section.redis_host}:{section.redis_port or 6379}/0"
    if section.routing_strategy not in STRATEGIES:
        module, _, attr = section.routing_strategy.partition(":")
        if not module or not attr:
            raise ConfigError(
                f"{source}: router_settings.routing_strategy: a custom strategy is "
                "'package.module:function'"
            )
    return RouterSettings(
        routing_strategy=section.routing_strategy,
        num_retries=section.num_retries,
        retry_policy=dict(section.retry_policy),
        retry_backoff_seconds=section.retry_backoff_seconds,
        retry_backoff_max_seconds=section.retry_backoff_max_seconds,
        max_retry_after_seconds=section.max_retry_after_seconds,
        allowed_fails=section.allowed_fails,
        cooldown_time=section.cooldown_time,
        fallbacks=_fallback_map(section.fallbacks),
        content_policy_fallbacks=_fallback_map(section.content_policy_fallbacks),
        default_fallbacks=tuple(section.default_fallbacks),
        redis_url=url,
        redis_namespace=section.redis_namespace,
        fan_out_on_failure=section.fan_out_on_failure,
        fan_out_concurrency=section.fan_out_concurrency,
        latency_alpha=section.latency_alpha,
    )


def check_fallback_names(settings: RouterSettings, served: set[str], source: str) -> None:
    """Every model a fallback list names must be served (a typo would only show in an outage)."""
    lists: list[tuple[str, Mapping[str, tuple[str, ...]]]] = [
        ("fallbacks", settings.fallbacks),
        ("content_policy_fallbacks", settings.content_policy_fallbacks),
    ]
    for key, mapping in lists:
        for group, targets in mapping.items():
            for name in (group, *targets):
                if name not in served:
                    raise ConfigError(
                        f"{source}: router_settings.{key}: {name!r} is not in model_list"
                    )
    for name in settings.default_fallbacks:
        if name not in served:
            raise ConfigError(
                f"{source}: router_settings.default_fallbacks: {name!r} is not in model_list"
            )


def _fallback_map(value: FallbackList) -> dict[str, tuple[str, ...]]:
    # LiteLLM writes a list of one-key mappings; a plain mapping is accepted too.
    items: list[dict[str, list[str]]] = value if isinstance(value, list) else [value]
    merged: dict[str, tuple[str, ...]] = {}
    for item in items:
        for group, targets in item.items():
            merged[group] = (*merged.get(group, ()), *targets)
    return merged


def deployment_limit(value: Any, key: str, where: str, *, positive_float: bool = False) -> Any:
    """A per-deployment router key, validated (None when absent)."""
    if value is None:
        return None
    if positive_float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if not ok:
            raise ConfigError(f"{where}.{key}: must be a positive number")
        return float(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}.{key}: must be a non-negative integer")
    return value
