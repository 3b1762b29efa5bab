"""`router_settings`: how requests are spread over a model group's deployments.

Names follow LiteLLM's Router where it has one (routing_strategy, num_retries,
retry_policy, allowed_fails, cooldown_time, fallbacks, content_policy_fallbacks,
default_fallbacks, redis_url), so an existing config keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from imagegen.errors import ConfigError

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


FallbackMap = dict[str, tuple[str, ...]]


class RouterSettings(BaseModel):
    """`router_settings`, validated and used as is (keys with no equivalent are refused earlier)."""

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)

    routing_strategy: str = "simple-shuffle"
    """A built-in strategy name, or "package.module:function" for a custom one."""
    num_retries: int = Field(default=0, ge=0, le=10)
    """Further attempts after a retryable failure (across the group's deployments)."""
    retry_policy: dict[str, int] = Field(default_factory=dict)
    """Per-error-class retry counts, overriding num_retries (LiteLLM's key names)."""
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    """First backoff; doubled per retry, with full jitter."""
    retry_backoff_max_seconds: float = Field(default=30.0, ge=0)
    """The backoff ceiling."""
    max_retry_after_seconds: float = Field(default=60.0, ge=0)
    """A provider's Retry-After longer than this is not waited for (the attempt is not retried)."""
    allowed_fails: int = Field(default=3, ge=0)
    """Failures per deployment within a minute before it is cooled down."""
    cooldown_time: float = Field(default=5.0, ge=0)
    """Seconds a failing (or 429-answering) deployment is skipped."""
    fallbacks: FallbackMap = Field(default_factory=dict)
    """Model group → the groups to try after it fails (LiteLLM's list of one-key mappings,
    or one mapping)."""
    content_policy_fallbacks: FallbackMap = Field(default_factory=dict)
    """Model group → the groups to try after a safety refusal."""
    default_fallbacks: tuple[str, ...] = ()
    """Fallbacks for models without their own."""
    redis_url: str | None = Field(default=None, repr=False)
    """Shared router state; built from redis_host/redis_port/redis_password when not given."""
    redis_host: str | None = None
    """Builds redis_url with redis_port and redis_password."""
    redis_port: int | None = Field(default=None, ge=1, le=65535)
    """See redis_host."""
    redis_password: str | None = Field(default=None, repr=False)
    """See redis_host."""
    redis_namespace: str = Field(default="imagegen:router", min_length=1)
    """Key prefix in Redis: replicas with the same prefix share state."""
    fan_out_on_failure: FanOutPolicy = "retry"
    """A failed n fan-out sub-call: retry it (then fail), return what succeeded, or fail."""
    fan_out_concurrency: int = Field(default=4, ge=1, le=10)
    """Parallel provider calls at most for one request's n fan-out."""
    latency_alpha: float = Field(default=0.3, gt=0, le=1)
    """Weight of the newest sample in the latency moving average."""

    @model_validator(mode="before")
    @classmethod
    def _redis_url_from_parts(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("redis_url") is None and data.get("redis_host"):
            password = data.get("redis_password")
            auth = f":{password}@" if password else ""
            port = data.get("redis_port") or 6379
            data = {**data, "redis_url": f"redis://{auth}{data['redis_host']}:{port}/0"}
        return data

    @field_validator("fallbacks", "content_policy_fallbacks", mode="before")
    @classmethod
    def _fallback_map(cls, value: Any) -> Any:
        # LiteLLM writes a list of one-key mappings; a plain mapping is accepted too.
        if not isinstance(value, list):
            return value
        merged: dict[str, tuple[Any, ...]] = {}
        for item in value:
            if not isinstance(item, dict):
                raise ValueError("each entry must map a model group to a list of groups")
            for group, targets in item.items():
                if not isinstance(targets, list | tuple):
                    raise ValueError(f"{group!r} must map to a list of model groups")
                merged[group] = (*merged.get(group, ()), *targets)
        return merged

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


def check_router_settings(settings: RouterSettings, source: str) -> RouterSettings:
    """`settings` once the checks that name the config file have passed."""
    if settings.routing_strategy not in STRATEGIES:
        module, _, attr = settings.routing_strategy.partition(":")
        if not module or not attr:
            raise ConfigError(
                f"{source}: router_settings.routing_strategy: a custom strategy is "
                "'package.module:function'"
            )
    return settings


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
