"""Hit versus miss latency of the image cache, end to end over gRPC on loopback.

A gateway (in this process) in front of bench/upstream.py (a fast fake gpt-image-1 upstream
in a subprocess, answering one ~1.5 MB PNG at once, or after --upstream-ms), with
`litellm_settings.cache: true`. Three request kinds, measured one at a time:

- uncached: `cache: {use-cache: false}`: the plain path;
- miss: `use-cache: true` with a new prompt each time: the plain path plus the lookup, the
  entry's encoding, sealing (AES-GCM) and storing;
- hit: the same request again: the lookup, unsealing and replaying; no provider call.

Run: .venv/bin/python bench/cache_bench.py [--requests 200] [--upstream-ms 0] [--redis-url URL]
Prints medians and p90 in milliseconds as a Markdown table.
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
from pathlib import Path

import grpc
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.config import parse_settings
from imagegen.server.app import start_server

HERE = Path(__file__).resolve().parent


def start_upstream(image_bytes: int) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "upstream.py"), "--image-bytes", str(image_bytes)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, int(line.split()[1])


async def measure(
    stub: pb_grpc.ImageGenerationAsyncStub, make: list[pb.GenerateImagesRequest]
) -> list[float]:
    took = []
    for request in make:
        began = time.perf_counter()
        await stub.GenerateImages(request)
        took.append((time.perf_counter() - began) * 1000)
    return took


def row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"| {name} | {len(samples)} | {statistics.median(samples):.2f} | {p90:.2f} |"


async def run(requests: int, upstream_ms: int, image_bytes: int, redis_url: str | None) -> None:
    os.environ.setdefault("IMAGEGEN_DATA_DIR", tempfile.mkdtemp(prefix="imagegen-bench-"))
    upstream, port = start_upstream(image_bytes)
    path = f"/lat/{upstream_ms}/v1" if upstream_ms else "/v1"
    config = {
        "model_list": [
            {
                "model_name": "gpt-image-1",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_key": "sk-bench",
                    "api_base": f"http://127.0.0.1:{port}{path}",
                },
            }
        ],
        "litellm_settings": {"cache": True},
    }
    if redis_url:
        config["litellm_settings"] = {
            "cache": True,
            "cache_params": {
                "type": "redis",
                "redis_url": redis_url,
                "namespace": str(time.time()),
            },
        }
    settings = parse_settings(yaml.safe_dump(config), source="cache-bench")
    running = await start_server(settings, host="127.0.0.1", port=0, http_port=0)
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{running.port}", options=[("grpc.max_receive_message_length", 64 << 20)]
    )
    stub = pb_grpc.ImageGenerationStub(channel)

    def request(prompt: str, use_cache: bool) -> pb.GenerateImagesRequest:
        return pb.GenerateImagesRequest(
            prompt=prompt, model="gpt-image-1", cache=pb.CacheControl(use_cache=use_cache)
        )

    try:
        # Warm-up: connections, code paths, the allocator.
        await measure(stub, [request(f"warm {i}", True) for i in range(20)])
        uncached = await measure(stub, [request(f"u {i}", False) for i in range(requests)])
        miss = await measure(stub, [request(f"m {i}", True) for i in range(requests)])
        hit = await measure(stub, [request("m 0", True) for _ in range(requests)])
    finally:
        await channel.close()
        await running.stop(grace=0)
        upstream.terminate()
        upstream.wait()
    kind = "redis" if redis_url else "local"
    print(f"upstream latency {upstream_ms} ms, image ~{image_bytes} bytes, {kind} cache\n")
    print("| request | n | median ms | p90 ms |\n| --- | --- | --- | --- |")
    print(row("uncached", uncached))
    print(row("miss (stored)", miss))
    print(row("hit", hit))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--upstream-ms", type=int, default=0)
    parser.add_argument("--image-bytes", type=int, default=1_500_000)
    parser.add_argument("--redis-url", default=None, help="a redis cache instead of local")
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.upstream_ms, args.image_bytes, args.redis_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
