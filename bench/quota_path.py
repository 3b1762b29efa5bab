"""The cost of sharing quotas: the per-request quota path, memory store vs Redis store.

One request's quota path is what the access hook does for a key with a budget and a
rate limit: hold the quote and count the call in the key's minute (take), then replace
the hold by the charge (settle). The committing of the charge once the spend
row is written runs off the request path and is not timed. Redis is a private
redis-server on a free loopback port; the spend log a SQLite file in a temporary
directory. Rounds alternate memory and Redis; each figure is the median over rounds of
the per-round p50 (and p99).

    .venv/bin/python bench/quota_path.py [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from imagegen.keys.model import KeySpec
from imagegen.spend.quota.memory import MemoryQuota
from imagegen.spend.quota.policy import QuotaPolicy
from imagegen.spend.quota.redis_quota import RedisQuota
from imagegen.spend.store_sqlite import SqliteStore

QUOTE = Decimal("0.016")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (make setup installs it)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                sys.exit("redis-server did not start")
            time.sleep(0.05)


async def one_round(policy: QuotaPolicy, requests: int) -> list[float]:
    """Per-request quota path durations, in ms, for `requests` sequential requests."""
    # A budget and limits that never refuse: the figure is the cost of checking.
    key = KeySpec(
        key_hash=uuid.uuid4().hex * 2,
        alias="bench",
        rpm=10 * requests,
        ipm=10 * requests,
        max_budget=Decimal(10 * requests),
    )

    async def durable() -> None:
        return None

    # The first call seeds the budget from the spend log; not part of the steady state.
    hold = await policy.take(key, QUOTE, 1, time.time(), [])
    assert hold is not None
    await policy.settle(hold, QUOTE, durable)
    timings: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        hold = await policy.take(key, QUOTE, 1, time.time(), [])
        assert hold is not None
        await policy.settle(hold, QUOTE, durable)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def ping_round(redis: Any, requests: int) -> list[float]:
    """One Redis round trip from redis-py, in ms: the floor under the shared path."""
    timings: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        await redis.ping()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(redis_url: str, sqlite_path: Path, requests: int, rounds: int) -> None:
    store = SqliteStore(str(sqlite_path))
    await store.open()
    memory = QuotaPolicy(MemoryQuota(store), None, fail_open=False)
    shared = QuotaPolicy(
        MemoryQuota(store),
        RedisQuota(redis_url, f"bench:{uuid.uuid4().hex}", store),
        fail_open=False,
    )
    results: dict[str, list[tuple[float, float]]] = {"memory": [], "redis": [], "ping": []}
    try:
        for _ in range(rounds):
            for name, policy in (("memory", memory), ("redis", shared)):
                timings = await one_round(policy, requests)
                results[name].append((quantile(timings, 0.5), quantile(timings, 0.99)))
            assert shared.shared is not None
            timings = await ping_round(shared.shared.redis, requests)
            results["ping"].append((quantile(timings, 0.5), quantile(timings, 0.99)))
    finally:
        await shared.aclose()
        await store.close()
    p50 = {n: statistics.median(r[0] for r in rows) for n, rows in results.items()}
    p99 = {n: statistics.median(r[1] for r in rows) for n, rows in results.items()}
    print(f"{requests} requests x {rounds} rounds, medians of per-round quantiles")
    print("| quota store | p50 ms | p99 ms |")
    print("|---|---|---|")
    names = {"memory": "memory", "redis": "redis", "ping": "(floor: one redis-py PING)"}
    for name, label in names.items():
        print(f"| {label} | {p50[name]:.3f} | {p99[name]:.3f} |")
    print(f"added p50 of the Redis path: {p50['redis'] - p50['memory']:.3f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagegen-quota-bench-") as tmp:
        process, url = start_redis(Path(tmp))
        try:
            asyncio.run(measure(url, Path(tmp) / "spend.sqlite3", args.requests, args.rounds))
        finally:
            process.terminate()
            process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
