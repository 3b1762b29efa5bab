"""Key changes reach every replica: the database is the truth, Redis pub/sub the signal.

A replica that creates or revokes a key publishes one message (no key, no hash: just
"changed"); every replica, the sender included, then reloads the keys from the
database. Nothing is read from the database per request. A lost subscription (Redis
restarted) is re-established with a reload, since messages sent meanwhile are lost; a
slow periodic reload bounds the damage of anything else that was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.exceptions import RedisError

from imagegen.keys.registry import KeyRegistry

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
_RECONNECT_SECONDS = 0.5


class KeySync:
    """Publishes this replica's key changes and applies everyone's."""

    def __init__(self, redis: Any, channel: str, registry: KeyRegistry) -> None:
        self.redis = redis
        self.channel = channel
        self.registry = registry
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self.registry.listeners.append(self.publish)
        self._task = asyncio.create_task(self._listen(), name="imagegen-key-sync")
        # Subscribed before serving: a change published right after start is not missed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def publish(self) -> None:
        try:
            await self.redis.publish(self.channel, "changed")
        except RedisError as exc:
            # The change is in the database; other replicas see it at their next resync.
            log.error(
                "keys: could not tell the other replicas of a key change (%s); they apply "
                "it within %.0f s",
                type(exc).__name__,
                RESYNC_SECONDS,
            )

    async def _reload(self) -> None:
        try:
            await self.registry.refresh()
        except Exception as exc:
            log.warning("keys: reloading keys from the database failed (%s)", type(exc).__name__)

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    # Whatever was published while we were not listening.
                    await self._reload()
                    await self._receive(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("keys: change subscription lost (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(_RECONNECT_SECONDS)

    async def _receive(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        next_resync = loop.time() + RESYNC_SECONDS
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None or loop.time() >= next_resync:
                await self._reload()
                next_resync = loop.time() + RESYNC_SECONDS
