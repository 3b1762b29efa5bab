"""The image cache around the router: a hit costs nothing, identical requests fly once.

For a cacheable request (see `key.cacheable`), the router's run is wrapped:

- an entry under the request's key answers it: the deployment that made it is prepared
  again (the facts name it), its images are replayed, and no attempt is made, so the
  request's cost is 0 and no budget is charged;
- otherwise, if an identical request is already in flight in this process, this one waits
  for it (within its own deadline) and is answered from its result (single flight); with a
  shared cache (redis) the same holds across replicas: one claims the call in Redis, the
  others poll for its entry until the claim ends;
- otherwise this request calls the provider, and stores the result unless told not to.

Only whole, byte-carrying results are stored: not partial fan-outs, filtered answers or
provider URLs (which expire on the provider's schedule, not ours).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from imagegen.cache.backends import (
    CacheBackend,
    DiskBackend,
    MemoryBackend,
    RedisBackend,
    S3Backend,
)
from imagegen.cache.entry import Entry, Material
from imagegen.cache.key import cacheable, edit_digests, honours_seed, material
from imagegen.cache.settings import CacheSettings
from imagegen.errors import DeadlineExceededError, ImageGenError
from imagegen.events import Decision, ImageReady
from imagegen.paths import data_dir
from imagegen.router.router import Picked, Route, RouteContext, RouteEvent, Served
from imagegen.types import Attempt, CacheControl

log = logging.getLogger(__name__)

DECISION_KIND = "cache"
_NO_CONTROL = CacheControl()
# A waiter whose leader failed tries again (it may lead, or find another flight) this often.
_MAX_ROUNDS = 3
# How often a replica waiting for another replica's call looks for its entry.
_POLL_SECONDS = 0.05


class Runner(Protocol):
    def run(self, route: Route, ctx: RouteContext) -> AsyncIterator[RouteEvent]: ...


class _Lookup:
    __slots__ = ("control", "key", "material")

    def __init__(self, material: Material, key: str, control: CacheControl) -> None:
        self.material = material
        self.key = key
        self.control = control


class ImageCache:
    """The cache `settings` describe, over `backend` (built from the settings if not given)."""

    def __init__(self, settings: CacheSettings, backend: CacheBackend | None = None) -> None:
        self.settings = settings
        self.params = settings.params
        self.backend = backend or backend_for(settings)
        self._prefix = f"imagegen:cache:{self.params.namespace or ''}:"
        # key → the sealed-open entry bytes of the call in flight (None: nothing to share).
        self._flights: dict[str, asyncio.Future[bytes | None]] = {}

    async def aclose(self) -> None:
        await self.backend.aclose()

    async def run(
        self, router: Runner, route: Route, ctx: RouteContext
    ) -> AsyncIterator[RouteEvent]:
        lookup = self._lookup(route, ctx)
        if lookup is None:
            async for event in router.run(route, ctx):
                yield event
            return
        claim: str | None = None
        for _ in range(_MAX_ROUNDS):
            plain, coalesced = None, False
            if not lookup.control.no_cache:
                plain = await self._read(lookup)
                flight = self._flights.get(lookup.key)
                if plain is None and flight is not None:
                    plain = await self._wait(flight, ctx)
                    coalesced = plain is not None
                    if plain is None:
                        continue  # the leader failed or stored nothing: try again
                if plain is None and self.backend.shared:
                    claim, plain = await self._claim(lookup, ctx)
                    coalesced = plain is not None
            if plain is not None:
                entry = Entry.decode(plain)
                replayed = await self._replay(entry, route, ctx, coalesced)
                if replayed is not None:
                    for event in replayed:
                        yield event
                    return
            break
        async for event in self._lead(router, route, ctx, lookup, claim):
            yield event

    async def _claim(self, lookup: _Lookup, ctx: RouteContext) -> tuple[str | None, bytes | None]:
        """Across replicas: (a claim token, None) when this request is to make the call, or
        (None, the entry) when another replica made it meanwhile."""
        token = uuid.uuid4().hex
        try:
            while True:
                ttl = max(ctx.deadline.remaining(), 1.0)
                if await self.backend.lead(lookup.key, token, ttl):
                    return token, None
                # Another replica is making these images: wait for its entry.
                while await self.backend.leading(lookup.key):
                    remaining = ctx.deadline.remaining()
                    if remaining <= 0:
                        raise DeadlineExceededError(
                            "the deadline passed while an identical request was generating"
                        )
                    await asyncio.sleep(min(_POLL_SECONDS, remaining))
                    plain = await self._read(lookup)
                    if plain is not None:
                        return None, plain
                plain = await self._read(lookup)
                if plain is not None:
                    return None, plain
                # Its claim ended with no entry (it failed): try to make the call here.
        except ImageGenError:
            raise
        except Exception:
            log.warning(
                "the %s cache could not coordinate; calling the provider", self.backend.name
            )
            return None, None

    def _lookup(self, route: Route, ctx: RouteContext) -> _Lookup | None:
        control = ctx.request.cache or _NO_CONTROL
        try:
            group = route.resolve(ctx.model)
            # The call as the group's first deployment would get it: the normalised parameters.
            plan = route.prepare(group[0], None, ctx.deadline)
        except ImageGenError:
            return None  # the router reports the same problem properly
        if plan.call is None:
            return None
        default_on = self.params.mode == "default_on"
        if not cacheable(plan.call, control, default_on=default_on):
            return None
        caller = ctx.state.caller
        scope = "" if self.params.share_across_keys or caller is None else caller.key_id
        namespace = f"{scope}\x00{control.namespace or ''}"
        found = material(
            plan.call, group, namespace=namespace, input_digests=edit_digests(plan.call)
        )
        return _Lookup(found, self._prefix + found.lookup_key, control)

    async def _read(self, lookup: _Lookup) -> bytes | None:
        try:
            sealed = await self.backend.get(lookup.key)
        except Exception:
            # The cache is an optimisation: when its store is down, requests go on uncached.
            log.warning("the %s cache could not be read; calling the provider", self.backend.name)
            return None
        if sealed is None:
            return None
        plain = lookup.material.open(sealed)
        if plain is None:
            return None
        max_age = lookup.control.s_maxage
        if max_age is not None and time.time() - Entry.decode(plain).stored_at > max_age:
            return None
        return plain

    async def _wait(self, flight: asyncio.Future[bytes | None], ctx: RouteContext) -> bytes | None:
        remaining = ctx.deadline.remaining()
        try:
            # shield: a waiter that gives up must not cancel the leader's result for the others.
            return await asyncio.wait_for(asyncio.shield(flight), timeout=max(remaining, 0))
        except TimeoutError:
            raise DeadlineExceededError(
                "the deadline passed while an identical request was generating"
            ) from None

    async def _replay(
        self, entry: Entry, route: Route, ctx: RouteContext, coalesced: bool
    ) -> list[RouteEvent] | None:
        """The events of a hit, or None when the deployment that made it is gone."""
        try:
            group = route.resolve(entry.model_name)
        except ImageGenError:
            return None
        deployment = next((d for d in group if d.model_id == entry.model_id), None)
        if deployment is None:
            return None
        try:
            plan = route.prepare(deployment, None, ctx.deadline)
        except ImageGenError:
            return None
        ctx.state.cache = "hit"
        ctx.state.cache_saved = entry.cost
        self._decide(ctx, "coalesced" if coalesced else "hit")
        result = entry.result
        events: list[RouteEvent] = [Picked(plan)]
        events += [ImageReady(index=i, image=image) for i, image in enumerate(result.images)]
        events.append(Served(plan, result))
        return events

    async def _lead(
        self, router: Runner, route: Route, ctx: RouteContext, lookup: _Lookup, claim: str | None
    ) -> AsyncIterator[RouteEvent]:
        ctx.state.cache = "miss"
        self._decide(ctx, "miss")
        flight: asyncio.Future[bytes | None] | None = None
        if lookup.key not in self._flights:
            flight = asyncio.get_running_loop().create_future()
            self._flights[lookup.key] = flight
        plain: bytes | None = None
        try:
            served: Served | None = None
            async for event in router.run(route, ctx):
                if isinstance(event, Served):
                    served = event
                yield event
            entry = self._entry(served, ctx, lookup.control)
            if entry is not None:
                plain = entry.encode()
                if not lookup.control.no_store:
                    await self._write(lookup, plain)
        finally:
            if flight is not None:
                # Waiters are answered (or told to go on their own) however this ended.
                flight.set_result(plain)
                if self._flights.get(lookup.key) is flight:
                    del self._flights[lookup.key]
            if claim is not None:
                await self._release(lookup, claim)

    def _entry(
        self, served: Served | None, ctx: RouteContext, control: CacheControl
    ) -> Entry | None:
        if served is None or served.plan.call is None:
            return None
        result = served.result
        whole = result.images and not result.filtered and not result.failed
        if not whole or not all(image.has_content for image in result.images):
            return None
        # Stored only when the deployment that served honours the seed (a fallback may not),
        # or the caller asked for it.
        if control.use_cache is not True and not honours_seed(served.plan.call):
            return None
        deployment = served.plan.deployment
        return Entry(
            model_name=deployment.model_name,
            model_id=deployment.model_id,
            result=result,
            cost=_cost(ctx.state.attempts),
            stored_at=time.time(),
        )

    async def _write(self, lookup: _Lookup, plain: bytes) -> None:
        params = self.params
        ttl = (
            lookup.control.ttl
            or (params.default_in_redis_ttl if self.backend.name == "redis" else None)
            or params.ttl
        )
        try:
            await self.backend.set(lookup.key, lookup.material.seal(plain), ttl)
        except Exception:
            log.warning("the %s cache could not be written", self.backend.name)

    async def _release(self, lookup: _Lookup, claim: str) -> None:
        try:
            await self.backend.release(lookup.key, claim)
        except Exception:
            # It expires with the deadline it was taken for.
            log.warning("the %s cache claim could not be released", self.backend.name)

    def _decide(self, ctx: RouteContext, action: str) -> None:
        ctx.state.decisions.append(
            Decision(kind=DECISION_KIND, name=self.backend.name, action=action)
        )


def _cost(attempts: list[Attempt]) -> Decimal | None:
    total = Decimal(0)
    for attempt in attempts:
        if attempt.cost is None:
            return None
        total += attempt.cost
    return total


def backend_for(settings: CacheSettings) -> CacheBackend:
    params = settings.params
    if params.type == "redis":
        assert settings.redis_url is not None  # checked with the settings
        return RedisBackend(settings.redis_url)
    if params.type == "disk":
        directory = Path(params.disk_cache_dir) if params.disk_cache_dir else data_dir() / "cache"
        return DiskBackend(directory)
    if params.type == "s3":
        assert params.s3_bucket_name is not None  # checked with the settings
        return S3Backend(
            bucket=params.s3_bucket_name,
            path=params.s3_path,
            region=params.s3_region_name,
            api_version=params.s3_api_version,
            use_ssl=params.s3_use_ssl,
            verify=params.s3_verify,
            endpoint_url=params.s3_endpoint_url,
            access_key_id=params.s3_aws_access_key_id,
            secret_access_key=params.s3_aws_secret_access_key,
            session_token=params.s3_aws_session_token,
        )
    return MemoryBackend(params.max_size_mb * 1024 * 1024)


__all__ = ["ImageCache", "backend_for"]
