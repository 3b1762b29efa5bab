"""Soak: steady mixed load against a real `imagegen serve` process, bounded in time and count.

Unary and streaming calls that succeed, plus injected failures (a provider 500 and a safety
refusal, by the OpenAI fake's trigger words), from a fixed number of concurrent callers.
The server's RSS and open file descriptors are sampled from /proc throughout; the report
gives them after warm-up and at the end. The run fails when any call ends other than as
its kind expects, when RSS or descriptors keep growing, or when the spend log does not hold
exactly one row per request after the server's graceful stop.

    python scripts/soak.py --seconds 600          # the full soak (make soak)
    python scripts/soak.py --seconds 20           # the shortened form the test suite runs
    python scripts/soak.py --seconds 60 --bursts 200   # plus a burst every few seconds

With `--bursts N`, every `--burst-every` seconds N more calls start together on a second
model whose upstream (bench/upstream.py) answers each with a 1.5 MB image after a second,
all at once, within the server's memory budget (`--budget-mb`). Every burst call must
succeed, and RSS must stay flat: the highest reading of the run's second half may not
exceed that of its first half (after the first burst) by more than the slack.
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
import subprocess
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

ROOT = Path(__file__).resolve().parents[1]

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
# Bursts: each answer a 1.5 MB image, a second after the burst starts.
BURST_IMAGE_BYTES = 1_500_000
BURST_DELAY_MS = 1000
# Peak-to-peak growth allowed between the halves of a bursty run (each burst's peak varies
# with how its answers interleave).
BURST_RSS_SLACK_BYTES = 48 * 1024 * 1024
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
    burst_calls: int = 0
    burst_failures: dict[str, int] = field(default_factory=dict)
    rss_peak_first_half_mb: float = 0.0
    rss_peak_second_half_mb: float = 0.0
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


@dataclass(frozen=True)
class Bursts:
    """Bursts of calls with large answers, on top of the steady load (size 0: none)."""

    size: int = 0
    every: float = 3.0
    budget_mb: int = 64


def start_burst_upstream() -> tuple[subprocess.Popen[str], int]:
    """bench/upstream.py: answers every call with one 1.5 MB image, after a delay."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "upstream.py"),
            *("--port", "0", "--image-bytes", str(BURST_IMAGE_BYTES)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise RuntimeError("the burst upstream did not start")
    return process, int(line.split()[1])


async def soak(
    seconds: float, max_requests: int, concurrency: int, bursts: Bursts | None = None
) -> Report:
    bursts = bursts or Bursts()
    upstream: subprocess.Popen[str] | None = None
    extra = ""
    if bursts.size:
        upstream, port = start_burst_upstream()
        extra = (
            "  - model_name: burst\n"
            "    litellm_params:\n"
            "      model: openai/gpt-image-1\n"
            f"      api_base: http://127.0.0.1:{port}/lat/{BURST_DELAY_MS}/v1\n"
            "      api_key: sk-soak\n"
            "server_settings:\n"
            f"  memory_budget_mb: {bursts.budget_mb}\n"
        )
    try:
        async with OpenAIFake() as fake:
            with tempfile.TemporaryDirectory() as tmp:
                config = Path(tmp) / "soak.yaml"
                config.write_text(
                    "model_list:\n"
                    "  - model_name: gpt-image-1\n"
                    "    litellm_params:\n"
                    "      model: openai/gpt-image-1\n"
                    f"      api_base: {fake.base_url}/v1\n"
                    f"      api_key: {fake.api_key}\n" + extra + "general_settings:\n"
                    f"  spend_log_path: {Path(tmp) / 'spend.sqlite3'}\n"
                )
                return await serve_and_drive(
                    config, Path(tmp), seconds, max_requests, concurrency, fake, bursts
                )
    finally:
        if upstream is not None:
            upstream.terminate()
            upstream.wait(10)
            if upstream.stdout is not None:
                upstream.stdout.close()


async def serve_and_drive(
    config: Path,
    tmp: Path,
    seconds: float,
    max_requests: int,
    concurrency: int,
    fake: OpenAIFake,
    bursts: Bursts,
) -> Report:
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
        report = await drive(process.pid, port, seconds, max_requests, concurrency, fake, bursts)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=60)
    # A graceful stop flushes the spend log: one row per request, none lost.
    with sqlite3.connect(tmp / "spend.sqlite3") as db:
        (report.spend_rows,) = db.execute("SELECT COUNT(*) FROM imagegen_spend").fetchone()
    if report.spend_rows != report.requests + report.burst_calls:
        report.problems.append(
            f"{report.spend_rows} spend rows for {report.requests + report.burst_calls} requests"
        )
        report.passed = False
    return report


async def drive(
    pid: int,
    port: int,
    seconds: float,
    max_requests: int,
    concurrency: int,
    fake: OpenAIFake,
    bursts: Bursts,
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
            period = 0.1 if bursts.size else min(1.0, seconds / 20)
            while time.monotonic() < stop_at and budget[0] > 0:
                await asyncio.sleep(period)
                samples.append(sample(pid))

        burst_outcomes: Counter[str] = Counter()

        async def burster() -> None:
            while bursts.size and time.monotonic() + bursts.every < stop_at:
                await asyncio.sleep(bursts.every)
                request = pb.GenerateImagesRequest(
                    model="burst", prompt="a burst", size="1024x1024"
                )
                calls = [stub.GenerateImages(request, timeout=60) for _ in range(bursts.size)]
                for outcome in await asyncio.gather(*calls, return_exceptions=True):
                    if isinstance(outcome, grpc.aio.AioRpcError):
                        burst_outcomes[outcome.code().name] += 1
                    elif isinstance(outcome, BaseException):
                        burst_outcomes[type(outcome).__name__] += 1
                    else:
                        burst_outcomes["OK"] += 1

        await asyncio.gather(sampler(), burster(), *(caller() for _ in range(concurrency)))
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
    base_rss, base_fds = warm.rss_bytes, warm.open_fds
    if bursts.size:
        # A burst fills the provider pool and the budget: the baseline is the first half's
        # highest reading, after the first burst, not the quiet moment before it.
        first = [s for s in samples if s.at < (started + stop_at) / 2] or samples
        base_rss = max(s.rss_bytes for s in first)
        base_fds = max(s.open_fds for s in first)
    if end.rss_bytes > base_rss + RSS_SLACK_BYTES:
        report.problems.append("RSS grew beyond the allowed slack")
    if end.open_fds > base_fds + FD_SLACK:
        report.problems.append("open file descriptors grew")
    if requests == 0:
        report.problems.append("no request was made")
    if bursts.size:
        burst_check(report, samples, started, stop_at, burst_outcomes)
    report.passed = not report.problems
    return report


def burst_check(
    report: Report,
    samples: list[Sample],
    started: float,
    stop_at: float,
    outcomes: Counter[str],
) -> None:
    """Every burst call served; RSS as high after the run's middle as before it, no higher."""
    report.burst_calls = sum(outcomes.values())
    report.burst_failures = {code: n for code, n in outcomes.items() if code != "OK"}
    middle = (started + stop_at) / 2
    first = [s.rss_bytes for s in samples if s.at < middle]
    second = [s.rss_bytes for s in samples if s.at >= middle]
    report.rss_peak_first_half_mb = round(max(first, default=0) / 2**20, 1)
    report.rss_peak_second_half_mb = round(max(second, default=0) / 2**20, 1)
    if report.burst_failures:
        report.problems.append(f"burst calls failed: {report.burst_failures}")
    if report.burst_calls == 0:
        report.problems.append("no burst was made")
    if max(second, default=0) > max(first, default=0) + BURST_RSS_SLACK_BYTES:
        report.problems.append("RSS peaks grew from one half of the bursty run to the other")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bursts", type=int, default=0, help="calls per burst (0: none)")
    parser.add_argument("--burst-every", type=float, default=3.0)
    parser.add_argument("--budget-mb", type=int, default=64)
    args = parser.parse_args()
    bursts = Bursts(args.bursts, args.burst_every, args.budget_mb)
    report = asyncio.run(soak(args.seconds, args.max_requests, args.concurrency, bursts))
    print(json.dumps(asdict(report), indent=2))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
