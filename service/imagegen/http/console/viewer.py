"""Who is looking at the console: the master key, one virtual key, or anyone (no keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imagegen.keys.model import KeySpec
from imagegen.spend.hook import AccessHook

Role = Literal["master", "key", "open"]


@dataclass(frozen=True, slots=True)
class Viewer:
    role: Role
    key: KeySpec | None = None
    """The virtual key (role "key"): spend, budgets and requests are this key's only."""

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key is not None else None

    def may_use(self, model: str) -> bool:
        return self.key is None or not self.key.models or model in self.key.models


def viewer_of(access: AccessHook | None, token: str | None) -> Viewer:
    """Authenticate `token` as the API does (a missing or bad key raises 401)."""
    if access is None:
        return Viewer("open")
    key = access.authenticate(token)
    if key is not None:
        return Viewer("key", key)
    if token and access.registry.is_master(token):
        return Viewer("master")
    # Keys are not required here: like QuerySpend, the spend log is open to every caller.
    return Viewer("open")
