"""The keys a gateway accepts: the config's, and the database's (managed by KeyAdmin).

Held in memory, by hash, so authenticating a call costs one SHA-256 and a dict lookup.
Keys are created and revoked through a KeyAdmin service, which updates the database and
the memory together, then tells `listeners` (in a fleet: the other replicas, which
`refresh` from the database).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from imagegen.errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from imagegen.keys.model import KeySpec, hash_key, new_key
from imagegen.keys.store import KeyStore


class KeyRegistry:
    """Lookup and management of virtual keys."""

    def __init__(self, store: KeyStore, configured: Iterable[KeySpec], master_key: str | None):
        self.store = store
        self.master_key = master_key
        self._by_hash: dict[str, KeySpec] = {key.key_hash: key for key in configured}
        self.listeners: list[Callable[[], Awaitable[None]]] = []
        """Called after this process created or revoked a key."""

    async def load(self) -> None:
        """Add the database's keys (config keys win on a clash of hashes)."""
        for key in await self.store.load_keys():
            self._by_hash.setdefault(key.key_hash, key)

    async def refresh(self) -> None:
        """Replace the database's keys by what the database holds now (config keys stay)."""
        stored = await self.store.load_keys()
        by_hash = {k.key_hash: k for k in self._by_hash.values() if k.source == "config"}
        for key in stored:
            by_hash.setdefault(key.key_hash, key)
        self._by_hash = by_hash

    async def _changed(self) -> None:
        for listener in self.listeners:
            await listener()

    def is_master(self, token: str) -> bool:
        return self.master_key is not None and hmac.compare_digest(
            token.encode(), self.master_key.encode()
        )

    def lookup(self, token: str) -> KeySpec | None:
        """The live key `token` is, if any."""
        key = self._by_hash.get(hash_key(token))
        return None if key is None or key.revoked else key

    def keys(self) -> list[KeySpec]:
        return list(self._by_hash.values())

    def by_alias(self, alias: str) -> KeySpec | None:
        return next((k for k in self._by_hash.values() if k.alias == alias), None)

    async def create(self, template: KeySpec) -> tuple[str, KeySpec]:
        """A new database key like `template` (its hash is ignored): the secret, and the key."""
        if self.by_alias(template.alias) is not None:
            raise AlreadyExistsError(
                f"a key with alias {template.alias!r} exists already",
                metadata={"alias": template.alias},
            )
        secret = new_key()
        key = replace(
            template, key_hash=hash_key(secret), source="database", created_at=time.time()
        )
        await self.store.add_key(key)
        self._by_hash[key.key_hash] = key
        await self._changed()
        return secret, key

    async def revoke(self, alias: str) -> KeySpec:
        key = self.by_alias(alias)
        if key is None:
            raise NotFoundError(f"no key with alias {alias!r}", metadata={"alias": alias})
        if key.source == "config":
            raise FailedPreconditionError(
                f"key {alias!r} is defined in the config file: remove it there",
                metadata={"alias": alias},
            )
        await self.store.revoke_key(alias)
        revoked = replace(key, revoked=True)
        self._by_hash[key.key_hash] = revoked
        await self._changed()
        return revoked

    async def update(self, updated: KeySpec) -> KeySpec:
        """Store `updated` in place of the database key with its hash; the stored key."""
        current = self._by_hash.get(updated.key_hash)
        if current is None or current.revoked:
            raise NotFoundError("no such key", metadata={"key": "unknown"})
        if current.source == "config":
            raise FailedPreconditionError(
                f"key {current.alias!r} is defined in the config file: change it there",
                metadata={"alias": current.alias},
            )
        other = self.by_alias(updated.alias)
        if other is not None and other.key_hash != updated.key_hash:
            raise AlreadyExistsError(
                f"a key with alias {updated.alias!r} exists already",
                metadata={"alias": updated.alias},
            )
        stored = replace(updated, source="database", created_at=current.created_at)
        if not await self.store.update_key(stored):
            raise NotFoundError("no such key", metadata={"key": "unknown"})
        self._by_hash[stored.key_hash] = stored
        await self._changed()
        return stored
