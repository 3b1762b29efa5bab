"""The quota policy a gateway's settings ask for (and, in fleet mode, its key sync)."""

from __future__ import annotations

from imagegen.config import Settings
from imagegen.quota.memory import MemoryQuota
from imagegen.quota.policy import QuotaPolicy
from imagegen.quota.redis_quota import RedisQuota
from imagegen.spend.store import Store


def shared_redis_url(settings: Settings) -> str | None:
    """general_settings.quota_redis_url, else the router's Redis: one Redis, one fleet."""
    return settings.access.quota_redis_url or settings.router.redis_url


def build_quota(settings: Settings, store: Store) -> QuotaPolicy:
    access = settings.access
    url = shared_redis_url(settings)
    shared = None
    if url:
        shared = RedisQuota(
            url, access.quota_redis_namespace, store, hold_seconds=access.quota_hold_seconds
        )
    return QuotaPolicy(MemoryQuota(store), shared, fail_open=access.quota_fail_open)
