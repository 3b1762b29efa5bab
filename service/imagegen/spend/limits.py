"""Per-key requests-per-minute and images-per-minute limits, over a sliding minute."""

from __future__ import annotations

from collections import deque

from imagegen.errors import KeyRateLimitedError
from imagegen.keys.model import KeySpec

WINDOW_SECONDS = 60.0


class RateLimiter:
    """Admits a call when it fits in the key's last minute; counts it when admitted.

    In memory, per process: limits are per gateway instance.
    """

    def __init__(self) -> None:
        self._calls: dict[str, deque[tuple[float, int]]] = {}

    def admit(self, key: KeySpec, images: int, now: float) -> None:
        """Count a call of `images` images, or raise KeyRateLimitedError."""
        if key.rpm is None and key.ipm is None:
            return
        calls = self._calls.setdefault(key.key_id, deque())
        while calls and calls[0][0] <= now - WINDOW_SECONDS:
            calls.popleft()
        if key.rpm is not None and len(calls) >= key.rpm:
            retry = calls[len(calls) - key.rpm][0] + WINDOW_SECONDS - now
            raise _limited(key, "rpm", key.rpm, "requests", retry)
        if key.ipm is not None:
            used = sum(count for _, count in calls)
            if used + images > key.ipm:
                retry = WINDOW_SECONDS
                freed = 0
                for started, count in calls:
                    freed += count
                    if used - freed + images <= key.ipm:
                        retry = started + WINDOW_SECONDS - now
                        break
                raise _limited(key, "ipm", key.ipm, "images", retry)
        calls.append((now, images))


def _limited(key: KeySpec, limit: str, value: int, what: str, retry: float) -> KeyRateLimitedError:
    return KeyRateLimitedError(
        f"key {key.alias!r} is limited to {value} {what} per minute",
        subject=f"key:{key.alias}:{limit}",
        retry_after=max(0.0, retry),
        metadata={"key_alias": key.alias, "limit": limit},
    )
