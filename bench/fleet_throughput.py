"""Fleet throughput with budgets on vs off, memory store vs Redis store, side by side.

Two gateways run in this process (one event loop, like two replicas squeezed onto the
same cores) in front of the benchmark's fast fake upstream (bench/upstream.py, answering
at once, so the gateways are the bottleneck and the quota path's cost shows at its worst).
One key calls them in turn from `--concurrency` workers for `--seconds` per cell. The four
cells differ only in the key's limits and where they are kept:

- budgets off: the key has no budget, no rate limit and no parallel limit (the key lookup
  and the spend row remain, so only the quota path differs);
- budgets on: a budget, rpm and ipm that never refuse; on+parallel: and a
  max_parallel_requests that never refuses (a lease taken and given back per call);
- memory: each gateway keeps its own (fleet guarantees lost); redis: one private
  redis-server over loopback shared by both.

Cells are interleaved over `--rounds`; each figure is the median over rounds.

    .venv/bin/python bench/fleet_throughput.py [--seconds 4] [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from imagegen.client import AsyncImageGenClient
from imagegen.config import parse_settings
from imagegen.paths import DATA_DIR_ENV
from imagegen.server.app import start_server

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from quota_path import free_port, start_redis  # noqa: E402

MASTER = "sk-master-key-for-the-bench-0123456789"
KEY = "ig-bench-key-for-the-fleet-0123456789"
CALL: dict[str, Any] = {"model": "dall-e-2", "size": "256x256"}
LIMITS = ("off", "on", "on+parallel")
CELLS = tuple((store, limits) for store in ("memory", "redis") for limits in LIMITS)


def start_upstream() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "upstream.py"), "--port", str(port), "--image-bytes", "2000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5):
                return process, port
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                sys.exit("the fake upstream did not start")
            time.sleep(0.1)


def config(upstream: int, spend_log: Path, redis: str | None, limits: str) -> str:
    key: dict[str, Any] = {"alias": "bench", "key": KEY}
    if limits != "off":
        key |= {"max_budget": 1_000_000, "rpm": 10_000_000, "ipm": 10_000_000}
    if limits == "on+parallel":
        key |= {"max_parallel_requests": 100_000}
    general: dict[str, Any] = {"master_key": MASTER, "spend_log_path": str(spend_log)}
    if redis is not None:
        general |= {"quota_redis_url": redis, "quota_redis_namespace": f"bench:{uuid.uuid4().hex}"}
    document = {
        "model_list": [
            {
                "model_name": "dall-e-2",
                "litellm_params": {
                    "model": "openai/dall-e-2",
                    "api_base": f"http://127.0.0.1:{upstream}/v1",
                    "api_key": "sk-bench",
                },
            }
        ],
        "general_settings": general,
        "keys": [key],
    }
    return yaml.safe_dump(document)


async def cell(text: str, seconds: float, concurrency: int) -> tuple[float, float, int]:
    """Calls per second, p50 latency in ms and errors, over two gateways of `text`."""
    settings = parse_settings(text, source="bench.yaml")
    servers = [await start_server(settings, host="127.0.0.1", port=0, http_port=0) for _ in "ab"]
    clients = [AsyncImageGenClient(f"127.0.0.1:{s.port}", api_key=KEY) for s in servers]
    latencies: list[float] = []
    errors = 0
    try:
        # Warm up: channels, the budget's seed from the spend log.
        await asyncio.gather(*(c.generate_images("warm", **CALL) for c in clients))
        stop_at = time.monotonic() + seconds

        async def worker(index: int) -> None:
            nonlocal errors
            target = clients[index % 2]
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    await target.generate_images("a lighthouse", **CALL)
                except Exception:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.monotonic() - began
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop(grace=1)
    return len(latencies) / elapsed, statistics.median(latencies), errors


async def measure(tmp: Path, redis: str, upstream: int, args: argparse.Namespace) -> None:
    rows: dict[tuple[str, str], list[tuple[float, float, int]]] = {c: [] for c in CELLS}
    for round_index in range(args.rounds):
        for store, limits in CELLS:
            spend_log = tmp / f"spend-{round_index}-{store}-{limits}.sqlite3"
            text = config(upstream, spend_log, redis if store == "redis" else None, limits)
            rows[store, limits].append(await cell(text, args.seconds, args.concurrency))
    print(
        f"2 gateways in one process, {args.concurrency} workers, {args.seconds:g} s per cell, "
        f"{args.rounds} interleaved rounds, medians"
    )
    print("| quota store | budgets | calls/s | p50 ms | errors |")
    print("|---|---|---|---|---|")
    rates: dict[tuple[str, str], float] = {}
    for store, limits in CELLS:
        results = rows[store, limits]
        rates[store, limits] = statistics.median(r[0] for r in results)
        p50 = statistics.median(r[1] for r in results)
        errors = sum(r[2] for r in results)
        print(f"| {store} | {limits} | {rates[store, limits]:.0f} | {p50:.1f} | {errors} |")
    for store in ("memory", "redis"):
        for limits in LIMITS[1:]:
            change = rates[store, limits] / rates[store, "off"] - 1
            print(f"{store}: budgets {limits} vs off: {change:+.1%} calls/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagegen-fleet-bench-") as tmp:
        os.environ[DATA_DIR_ENV] = tmp
        redis_process, redis = start_redis(Path(tmp))
        upstream_process, upstream = start_upstream()
        try:
            asyncio.run(measure(Path(tmp), redis, upstream, args))
        finally:
            for process in (upstream_process, redis_process):
                process.terminate()
                process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
