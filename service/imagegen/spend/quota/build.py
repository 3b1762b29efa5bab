"""The quota policy the access settings ask for (and, in fleet mode, its key sync)."""

from __future__ import annotations

from imagegen.spend.quota.memory import MemoryQuota
from imagegen.spend.quota.policy import QuotaPolicy
from imagegen.spend.quota.redis_quota import RedisQuota
from imagegen.spend.settings import AccessSettings
from imagegen.spend.store import Store


def build_quota(access: AccessSettings, store: Store) -> QuotaPolicy:
    """Redis-shared when `quota_redis_url` is set (assembly fills it from the router's Redis
    when only that one is configured), else this process's memory."""
    shared = None
    if access.quota_redis_url:
        shared = RedisQuota(
            access.quota_redis_url,
            access.quota_redis_namespace,
            store,
            hold_seconds=access.quota_hold_seconds,
        )
    return QuotaPolicy(MemoryQuota(store), shared, fail_open=access.quota_fail_open)
