"""What the gateway knows about a virtual key (never the key itself)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

BudgetPeriod = Literal["daily", "monthly"]
KEY_PREFIX = "ig-"


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256, hex.

    A fast hash is right here, unlike for passwords: generated keys carry 256 random
    bits, so there is nothing to brute-force, and a slow hash would cost every request.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh secret: "ig-" and 32 random bytes, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A virtual key's permissions, limits and budget."""

    key_hash: str
    alias: str
    models: tuple[str, ...] = ()
    """Model names it may call; empty: all."""
    rpm: int | None = None
    ipm: int | None = None
    """Images per minute (the n of each request counts)."""
    max_parallel_requests: int | None = None
    """Calls of the key in flight at once (streams included), fleet-wide in fleet mode."""
    max_parallel_streams: int | None = None
    """Streaming calls of the key open at once (they also count as requests)."""
    max_budget: Decimal | None = None
    budget_period: BudgetPeriod | None = None
    """None: the budget covers the key's whole life."""
    tags: tuple[str, ...] = ()
    allow_request_credentials: bool = False
    revoked: bool = False
    source: str = "config"
    """"config" or "database"."""
    created_at: float = 0.0

    @property
    def key_id(self) -> str:
        """A stable, non-secret id: a prefix of the hash (which reveals nothing of the key)."""
        return self.key_hash[:16]
