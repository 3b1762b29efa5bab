"""`litellm_settings.cache` and `cache_params`: LiteLLM's keys, honoured or refused at start.

LiteLLM's own keys this cache acts on: `type` (local | redis | disk | s3; gcs is refused),
`ttl`, `namespace`, `mode` (default_on | default_off), `host` / `port` / `password` /
`redis_url` (type redis), `disk_cache_dir` (type disk), `s3_bucket_name` / `s3_region_name` /
`s3_api_version` / `s3_use_ssl` / `s3_verify` / `s3_endpoint_url` / `s3_aws_access_key_id` /
`s3_aws_secret_access_key` / `s3_aws_session_token` / `s3_path` (type s3). imagegen's own:
`max_size_mb` (the local cache's byte bound) and `share_across_keys` (virtual keys read each
other's entries).
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imagegen.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 24 * 3600
# LiteLLM keys that shape what LiteLLM caches for text calls: meaningless for image calls.
_INERT_KEYS = frozenset({"supported_call_types", "default_in_memory_ttl", "max_connections"})


class CacheParams(BaseModel):
    """The `cache_params` mapping, validated."""

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)

    type: str = "local"
    """local (in memory, per process), redis (shared by replicas), disk (a directory)."""
    ttl: float = Field(default=DEFAULT_TTL_SECONDS, gt=0)
    """How long an entry is kept, in seconds (a request's `cache.ttl` may shorten it)."""
    default_in_redis_ttl: float | None = Field(default=None, gt=0)
    """type redis: the entries' lifetime in seconds, instead of ttl."""
    namespace: str | None = None
    """A prefix of every key (replicas with the same namespace share entries)."""
    mode: Literal["default_on", "default_off"] = "default_on"
    """default_off: only requests that send `cache: {"use-cache": true}` are cached."""
    host: str | None = None
    """type redis: the server's host (or give redis_url)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """type redis: the server's port."""
    password: str | None = None
    """type redis: the server's password."""
    redis_url: str | None = None
    """type redis: redis://[:password@]host:port/db."""
    disk_cache_dir: str | None = None
    """type disk: the directory entries are kept in."""
    s3_bucket_name: str | None = None
    """type s3: the bucket entries are kept in (required)."""
    s3_region_name: str | None = None
    """type s3: the bucket's region."""
    s3_api_version: str | None = None
    """type s3: passed to botocore as the client's api_version."""
    s3_use_ssl: bool = True
    """type s3: https to the S3 server (false: http)."""
    s3_verify: bool | str | None = None
    """False: no TLS verification; a path: a CA bundle."""
    s3_endpoint_url: str | None = None
    """An S3-compatible server (MinIO, Ceph, ...); unset: AWS."""
    s3_aws_access_key_id: str | None = None
    """type s3: credentials (default: the standard AWS credential chain)."""
    s3_aws_secret_access_key: str | None = None
    """type s3: the secret of s3_aws_access_key_id."""
    s3_aws_session_token: str | None = None
    """type s3: the session token of temporary credentials."""
    s3_path: str | None = None
    """A folder in the bucket the entries go under."""
    max_size_mb: int = Field(default=256, ge=1, le=1024 * 1024)
    """The local (in-memory) cache's bound on image bytes; least recently used go first."""
    share_across_keys: bool = False
    """Whether virtual keys read each other's entries (off: each key has its own)."""


class CacheSettings(BaseModel):
    """The cache as the gateway runs it (None in Settings: caching is off)."""

    model_config = ConfigDict(frozen=True)

    params: CacheParams
    redis_url: str | None = None


def build_cache_settings(
    enabled: bool, params: CacheParams | None, source: str
) -> CacheSettings | None:
    """The cache `litellm_settings` ask for, or ConfigError naming the key."""
    where = f"{source}: litellm_settings.cache_params"
    if not enabled:
        if params is not None:
            log.warning("%s is set but litellm_settings.cache is not true: no caching", where)
        return None
    params = params or CacheParams()
    for key in sorted(params.model_extra or {}):
        if key in _INERT_KEYS:
            log.warning("%s.%s has no effect on image calls and is ignored", where, key)
        else:
            raise ConfigError(f"{where}.{key}: not a cache setting imagegen knows")
    if params.type in ("gcs", "azure-blob", "redis-semantic", "qdrant-semantic"):
        raise ConfigError(
            f"{where}.type: {params.type!r} is not available for image calls; "
            "use local, redis, disk or s3"
        )
    if params.type not in ("local", "redis", "disk", "s3"):
        raise ConfigError(f"{where}.type: must be local, redis, disk or s3, not {params.type!r}")
    if params.type == "s3":
        if not params.s3_bucket_name:
            raise ConfigError(f"{where}: type s3 needs s3_bucket_name")
    else:
        for key in sorted(params.model_fields_set):
            if key.startswith("s3_"):
                raise ConfigError(f"{where}.{key}: only with type s3")
    redis_url = None
    if params.type == "redis":
        if params.redis_url:
            redis_url = params.redis_url
        elif params.host:
            auth = f":{params.password}@" if params.password else ""
            redis_url = f"redis://{auth}{params.host}:{params.port or 6379}/0"
        else:
            raise ConfigError(f"{where}: type redis needs host (and port) or redis_url")
    elif params.disk_cache_dir is not None and params.type != "disk":
        raise ConfigError(f"{where}.disk_cache_dir: only with type disk")
    return CacheSettings(params=params, redis_url=redis_url)
