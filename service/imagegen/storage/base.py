"""The result store interface: bytes in, a URL out that serves exactly those bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredImage:
    """One stored image: its object key and the URL a caller may fetch it from."""

    key: str
    url: str
    size: int


class ResultStore(Protocol):
    """A place to put generated images; every URL it returns is valid for `ttl_seconds`."""

    name: str
    """The backend's name for metrics ("local", "s3")."""

    @property
    def ready(self) -> bool:
        """Whether it can hand out URLs now (a local store needs the door's address)."""
        ...

    async def put(self, data: bytes, mime_type: str | None) -> StoredImage:
        """Store `data` and return where it can be fetched."""
        ...

    async def aclose(self) -> None: ...
