"""Soak: steady mixed load against a real `imagegen serve` process, bounded in time and count.

Unary and streaming calls that succeed, plus injected failures (a provider 500 and a safety
refusal, by the OpenAI fake's trigger words), from a fixed number of concurrent callers.
The server's RSS and open file descriptors are sampled from /proc throughout; the report
gives them after warm-up and at the end. The run fails when any call ends other than as
its kind expects, when RSS or descriptors keep growing, or when the spend log does not hold
exactly one row per request after the server's graceful stop.

    python scripts/soak.py --seconds 600          # the full soak (make soak)
    python scripts/soak.py --seconds 20           # the shortened form the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from tests.fakes.openai import OpenAIFake

# Which outcome each kind of call must end with: anything else is a soak failure.
EXPECTED = {
    "unary": "OK",
    "stream": "OK",
    "provider_500": "UNAVAILABLE",
    "refused": "INVALID_ARGUMENT",
}
MIX = ("unary",) * 6 + ("stream",) * 2 + ("provider_500", "refused")
PROMPTS = {
    "unary": "a quiet harbour",
    "stream": "a quiet harbour",
    "provider_500": "servererror",
    "refused": "forbidden",
}
# Growth allowed between warm-up and the end: allocator noise, not a leak.
RSS_SLACK_BYTES = 24 * 1024 * 1024
FD_SLACK = 8


@dataclass
class Sample:
    at: float
    rss_bytes: int
    open_fds: int


@dataclass
class Report:
    seconds: float
    requests: int
    by_kind: dict[str, int]
    unexpected: list[str]
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    fds_start: int
    fds_end: int
    requests_per_second: float
    spend_rows: int = 0
    passed: bool = False
    problems: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sample(pid: int) -> Sample:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return Sample(time.monotonic(), rss, len(os.listdir(f"/proc/{pid}/fd")))


async def call(stub: pb_grpc.ImageGenerationAsyncStub, kind: str) -> str:
    fields: dict[str, Any] = {"prompt": PROMPTS[kind], "model": "gpt-image-1", "size": "1024x1024"}
    try:
        if kind == "stream":
            request = pb.StreamGenerateImagesRequest(**fields, partial_images=1, quality="low")
            last = None
            async for message in stub.StreamGenerateImages(request, timeout=30):
                last = message.WhichOneof("event")
            return "OK" if last == "summary" else f"stream ended with {last}"
        await stub.GenerateImages(pb.GenerateImagesRequest(**fields, quality="low"), timeout=30)
        return "OK"
    except grpc.aio.AioRpcError as error:
        return error.code().name


async def soak(seconds: float, max_requests: int, concurrency: int) -> Report:
    async with OpenAIFake() as fake:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "soak.yaml"
            config.write_text(
                "model_list:\n"
                "  - model_name: gpt-image-1\n"
                "    litellm_params:\n"
                "      model: openai/gpt-image-1\n"
                f"      api_base: {fake.base_url}/v1\n"
                f"      api_key: {fake.api_key}\n"
                "general_settings:\n"
                f"  spend_log_path: {Path(tmp) / 'spend.sqlite3'}\n"
            )
            port = free_port()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "imagegen.cli",
                "serve",
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--http-port",
                "0",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                report = await drive(process.pid, port, seconds, max_requests, concurrency, fake)
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), timeout=60)
            # A graceful stop flushes the spend log: one row per request, none lost.
            with sqlite3.connect(Path(tmp) / "spend.sqlite3") as db:
                (report.spend_rows,) = db.execute("SELECT COUNT(*) FROM imagegen_spend").fetchone()
            if report.spend_rows != report.requests:
                report.problems.append(
                    f"{report.spend_rows} spend rows for {report.requests} requests"
                )
                report.passed = False
            return report


async def drive(
    pid: int, port: int, seconds: float, max_requests: int, concurrency: int, fake: OpenAIFake
) -> Report:
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=30)
        stub: pb_grpc.ImageGenerationAsyncStub = pb_grpc.ImageGenerationStub(channel)
        outcomes: Counter[str] = Counter()
        unexpected: list[str] = []
        samples: list[Sample] = [sample(pid)]
        started = time.monotonic()
        stop_at = started + seconds
        budget = [max_requests]
        chooser = random.Random(7)

        async def caller() -> None:
            while time.monotonic() < stop_at and budget[0] > 0:
                budget[0] -= 1
                kind = chooser.choice(MIX)
                outcome = await call(stub, kind)
                outcomes[kind] += 1
                if outcome != EXPECTED[kind] and len(unexpected) < 20:
                    unexpected.append(f"{kind}: {outcome}")

        async def sampler() -> None:
            while time.monotonic() < stop_at and budget[0] > 0:
                await asyncio.sleep(min(1.0, seconds / 20))
                samples.append(sample(pid))

        await asyncio.gather(sampler(), *(caller() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        # Let the server settle (streams closing, pools idling) before the final reading.
        await asyncio.sleep(0.5)
        samples.append(sample(pid))
    del fake
    warm = samples[max(1, len(samples) // 10)] if len(samples) > 2 else samples[0]
    end = samples[-1]
    requests = sum(outcomes.values())
    report = Report(
        seconds=round(elapsed, 1),
        requests=requests,
        by_kind=dict(outcomes),
        unexpected=unexpected,
        rss_start_mb=round(warm.rss_bytes / 2**20, 1),
        rss_end_mb=round(end.rss_bytes / 2**20, 1),
        rss_peak_mb=round(max(s.rss_bytes for s in samples) / 2**20, 1),
        fds_start=warm.open_fds,
        fds_end=end.open_fds,
        requests_per_second=round(requests / elapsed, 1),
    )
    if unexpected:
        report.problems.append(f"{len(unexpected)}+ calls ended unexpectedly")
    if end.rss_bytes > warm.rss_bytes + RSS_SLACK_BYTES:
        report.problems.append("RSS grew beyond the allowed slack")
    if end.open_fds > warm.open_fds + FD_SLACK:
        report.problems.append("open file descriptors grew")
    if requests == 0:
        report.problems.append("no request was made")
    report.passed = not report.problems
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    report = asyncio.run(soak(args.seconds, args.max_requests, args.concurrency))
    print(json.dumps(asdict(report), indent=2))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
