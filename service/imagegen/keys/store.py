"""What the key registry needs from a database: the spend store provides it (keys sit
below spend, so the registry names this protocol, not the spend store)."""

from __future__ import annotations

from typing import Protocol

from imagegen.keys.model import KeySpec


class KeyStore(Protocol):
    """Virtual keys, persisted."""

    async def load_keys(self) -> list[KeySpec]: ...

    async def add_key(self, key: KeySpec) -> None:
        """Store a new key; AlreadyExistsError when the alias is taken."""

    async def revoke_key(self, alias: str) -> bool:
        """Mark the key revoked; False when no stored key has that alias."""

    async def update_key(self, key: KeySpec) -> bool:
        """Replace the stored key of `key.key_hash` by `key`; False when none is stored.
        AlreadyExistsError when its new alias is another key's."""
