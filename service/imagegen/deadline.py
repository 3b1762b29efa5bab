"""A point in monotonic time by which a call must be finished."""

from __future__ import annotations

import time
from dataclasses import dataclass

DEFAULT_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute expiry on the monotonic clock."""

    expires_at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left; zero or negative once expired."""
        return self.expires_at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0
