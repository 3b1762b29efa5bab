"""The router state in Redis, shared by every replica that uses the same namespace.

Limits are checked and counted in one Lua script, so two replicas cannot both take the
last request of a minute. In-flight counters carry an expiry: a replica that dies with
calls in flight stops counting against the deployment after IN_FLIGHT_TTL seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from imagegen.errors import ConfigError
from imagegen.router.state import Limits, Load, minute_window

IN_FLIGHT_TTL = 900
WINDOW_TTL = 180
LATENCY_TTL = 7 * 24 * 3600

_ACQUIRE = """
local in_flight = tonumber(redis.call('GET', KEYS[1]) or '0')
local requests = tonumber(redis.call('GET', KEYS[2]) or '0')
local images = tonumber(redis.call('GET', KEYS[3]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[4]) or '0')
local wanted = tonumber(ARGV[4])
if tonumber(ARGV[1]) >= 0 and in_flight >= tonumber(ARGV[1]) then return 'max_parallel_requests' end
if tonumber(ARGV[2]) >= 0 and requests + 1 > tonumber(ARGV[2]) then return 'rpm' end
if tonumber(ARGV[3]) >= 0 and images + wanted > tonumber(ARGV[3]) then return 'ipm' end
if tonumber(ARGV[7]) >= 0 and tokens >= tonumber(ARGV[7]) then return 'tpm' end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
redis.call('INCRBY', KEYS[3], wanted)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
return ''
"""

_RELEASE = """
local left = redis.call('DECR', KEYS[1])
if left < 0 then redis.call('SET', KEYS[1], 0) end
return 0
"""

_COOL_DOWN = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 0
"""

_EWMA = """
local old = redis.call('GET', KEYS[1])
local value = tonumber(ARGV[1])
if old then value = tonumber(ARGV[2]) * value + (1 - tonumber(ARGV[2])) * tonumber(old) end
redis.call('SET', KEYS[1], tostring(value), 'EX', tonumber(ARGV[3]))
return 0
"""


def _limit(value: int | None) -> int:
    return -1 if value is None else value


class RedisStore:
    """RouterStore in Redis (redis.asyncio, one connection pool per store)."""

    def __init__(self, url: str, namespace: str) -> None:
        try:
            self._redis: Any = aioredis.Redis.from_url(url, decode_responses=True)
        except ValueError as exc:
            raise ConfigError(f"router_settings.redis_url: not a Redis URL ({exc})") from None
        self._ns = namespace
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)
        self._cool_down = self._redis.register_script(_COOL_DOWN)
        self._ewma = self._redis.register_script(_EWMA)

    def _key(self, *parts: object) -> str:
        return ":".join((self._ns, *(str(p) for p in parts)))

    async def try_acquire(self, model_id: str, limits: Limits, images: int) -> str | None:
        window = minute_window()
        keys = [
            self._key("inflight", model_id),
            self._key("requests", model_id, window),
            self._key("images", model_id, window),
            self._key("tokens", model_id, window),
        ]
        args = [
            _limit(limits.max_parallel),
            _limit(limits.rpm),
            _limit(limits.ipm),
            images,
            IN_FLIGHT_TTL,
            WINDOW_TTL,
            _limit(limits.tpm),
        ]
        refused = await self._acquire(keys=keys, args=args)
        return str(refused) if refused else None

    async def release(self, model_id: str) -> None:
        await self._release(keys=[self._key("inflight", model_id)])

    async def record_tokens(self, model_id: str, tokens: int) -> None:
        key = self._key("tokens", model_id, minute_window())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, WINDOW_TTL)
            await pipe.execute()

    async def loads(self, model_ids: Sequence[str]) -> dict[str, Load]:
        if not model_ids:
            return {}
        window = minute_window()
        keys: list[str] = []
        for model_id in model_ids:
            keys += [
                self._key("inflight", model_id),
                self._key("requests", model_id, window),
                self._key("images", model_id, window),
                self._key("tokens", model_id, window),
            ]
        values = [int(v or 0) for v in await self._redis.mget(keys)]
        return {
            model_id: Load(
                in_flight=max(0, values[4 * i]),
                requests=values[4 * i + 1],
                images=values[4 * i + 2],
                tokens=values[4 * i + 3],
            )
            for i, model_id in enumerate(model_ids)
        }

    async def record_failure(self, model_id: str) -> int:
        key = self._key("failures", model_id, minute_window())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_TTL)
            count, _ = await pipe.execute()
        return int(count)

    async def cool_down(self, model_id: str, until: float) -> None:
        ttl_ms = max(1, int((until - time.time()) * 1000))
        await self._cool_down(keys=[self._key("cooldown", model_id)], args=[repr(until), ttl_ms])

    async def cooldowns(self, model_ids: Sequence[str]) -> dict[str, float]:
        if not model_ids:
            return {}
        values = await self._redis.mget([self._key("cooldown", m) for m in model_ids])
        now = time.time()
        return {
            model_id: float(value)
            for model_id, value in zip(model_ids, values, strict=True)
            if value is not None and float(value) > now
        }

    async def record_latency(self, model_id: str, size: str, seconds: float, alpha: float) -> None:
        key = self._key("latency", model_id, size)
        await self._ewma(keys=[key], args=[repr(seconds), repr(alpha), LATENCY_TTL])

    async def latencies(self, model_ids: Sequence[str], size: str) -> dict[str, float]:
        if not model_ids:
            return {}
        values = await self._redis.mget([self._key("latency", m, size) for m in model_ids])
        return {
            model_id: float(value)
            for model_id, value in zip(model_ids, values, strict=True)
            if value is not None
        }

    async def aclose(self) -> None:
        await self._redis.aclose()
