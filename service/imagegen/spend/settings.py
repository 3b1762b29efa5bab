"""The `general_settings` and `keys` sections of the config (LiteLLM's names).

general_settings:
  master_key: os.environ/IMAGEGEN_MASTER_KEY   # manages keys, reads all spend
  database_url: postgresql://user@host/db       # absent: SQLite at spend_log_path
  spend_log_path: ./spend.sqlite3               # absent: spend.sqlite3 in the data directory
keys:
  - alias: team-a
    key: os.environ/TEAM_A_KEY                  # or key_hash: <sha256 hex of the key>
    models: [dall-e-3]
    rpm: 60
    ipm: 120
    max_parallel_requests: 8                    # calls in flight at once (streams included)
    max_parallel_streams: 2                     # streams open at once
    max_budget: 25.00
    budget_period: monthly
    tags: [team-a]
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imagegen.errors import ConfigError
from imagegen.keys.model import KeySpec, hash_key
from imagegen.paths import default_spend_log_path

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AccessSettings(BaseModel):
    """`general_settings` (LiteLLM's keys that imagegen uses, plus its spend log options),
    validated and used as is by the access hook; `keys` holds the `keys:` section's entries.
    Everything is off by default."""

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)

    master_key: str | None = Field(default=None, min_length=16)
    """Manages keys and reads all spend."""
    database_url: str | None = None
    """PostgreSQL for keys and spend (absent: SQLite at spend_log_path)."""
    spend_log_path: str | None = None
    """The SQLite spend log (absent: spend.sqlite3 in the data directory)."""
    spend_batch_size: int = Field(default=200, ge=1, le=10_000)
    """Spend rows written in one transaction at most."""
    spend_batch_interval_ms: int = Field(default=50, ge=1, le=60_000)
    """How long a spend row may wait for others to share its write."""
    log_prompts: bool = False
    """Store prompts in the spend log (off: never)."""
    allow_unpriced_models: bool = False
    """Let budgeted keys call models that cannot be priced before the call."""
    quota_redis_url: str | None = None
    """Share key limits, budgets and key changes through this Redis (else router's redis_url)."""
    quota_redis_namespace: str = Field(default="imagegen:quota", min_length=1)
    """Key prefix in Redis: replicas with the same namespace share quotas."""
    quota_fail_open: bool = False
    """Redis unreachable: serve under this replica's own limits instead of refusing."""
    quota_hold_seconds: float = Field(default=10.0, ge=1, le=300)
    """How long a budget hold outlives the last sign of life of the replica that made it."""
    keys: tuple[KeySpec, ...] = ()
    """The `keys:` section, checked by `with_keys` (a file's general_settings has no `keys`)."""

    @property
    def batch_interval(self) -> float:
        """spend_batch_interval_ms in seconds."""
        return self.spend_batch_interval_ms / 1000

    @property
    def keys_required(self) -> bool:
        """Whether every call needs a key (keys in the config, or a key store with a master)."""
        return bool(self.keys) or self.master_key is not None

    @property
    def spend_log(self) -> bool:
        """Whether a spend log is kept: with keys, or wherever a database is named."""
        return self.keys_required or bool(self.database_url) or bool(self.spend_log_path)

    @property
    def sqlite_path(self) -> Path:
        return Path(self.spend_log_path) if self.spend_log_path else default_spend_log_path()


class KeyEntry(BaseModel):
    """One entry of `keys:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str = Field(min_length=1, max_length=128)
    """The key's name in spend rows, logs and admin calls."""
    key: str | None = Field(default=None, min_length=16)
    """The secret (os.environ/NAME); stored only as its SHA-256 hash."""
    key_hash: str | None = None
    """The SHA-256 hex of the secret, instead of key."""
    models: list[str] = Field(default_factory=list)
    """The model names the key may call (empty: every served model)."""
    rpm: int | None = Field(default=None, ge=1)
    """Requests per minute."""
    ipm: int | None = Field(default=None, ge=1)
    """Images per minute (n counts)."""
    max_parallel_requests: int | None = Field(default=None, ge=1)
    """Calls in flight at once, streams included."""
    max_parallel_streams: int | None = Field(default=None, ge=1)
    """Streams open at once."""
    max_budget: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    """USD the key may spend per budget_period (or in its lifetime)."""
    budget_period: Literal["daily", "monthly"] | None = None
    """daily or monthly; absent: the budget is for the key's lifetime."""
    tags: list[str] = Field(default_factory=list)
    """Added to every spend row of the key."""
    allow_request_credentials: bool = False
    """Let the key's callers send api_key / api_base / api_version."""


def with_keys(general: AccessSettings, entries: list[KeyEntry], source: str) -> AccessSettings:
    """`general` with the `keys:` section, validated together; ConfigError names the file
    and key."""
    keys: list[KeySpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{source}: keys[{index}]"
        if (entry.key is None) == (entry.key_hash is None):
            raise ConfigError(f"{where}: give key or key_hash (one of them)")
        if entry.key_hash is not None and not _HEX64.match(entry.key_hash):
            raise ConfigError(f"{where}.key_hash: must be 64 lowercase hex digits (SHA-256)")
        if entry.alias in seen:
            raise ConfigError(f"{where}.alias: {entry.alias!r} is used twice")
        if entry.budget_period is not None and entry.max_budget is None:
            raise ConfigError(f"{where}.budget_period: needs a max_budget")
        seen.add(entry.alias)
        # A KeySpec is the key record every source shares (this file, the key store's
        # database rows, the admin API), not a copy of this section.
        keys.append(
            KeySpec(
                key_hash=entry.key_hash or hash_key(entry.key or ""),
                alias=entry.alias,
                models=tuple(entry.models),
                rpm=entry.rpm,
                ipm=entry.ipm,
                max_parallel_requests=entry.max_parallel_requests,
                max_parallel_streams=entry.max_parallel_streams,
                max_budget=entry.max_budget,
                budget_period=entry.budget_period,
                tags=tuple(entry.tags),
                allow_request_credentials=entry.allow_request_credentials,
            )
        )
    return general.model_copy(update={"keys": tuple(keys)})


# The keys a file's general_settings may hold (`keys` is a section of its own).
GENERAL_SETTINGS_KEYS = tuple(name for name in AccessSettings.model_fields if name != "keys")
