"""Scenario (e), burst: N calls whose 1.5 MB answers all land in the same second.

The fake upstream (bench/upstream.py) holds every call 5 s, so N GenerateImages calls started
together are answered together. The gateway's RSS is sampled every 50 ms from /proc; each
run is on a freshly started server. Every size is run with and without the memory budget
(`server_settings.memory_budget_mb`), interleaved, so the two are side by side in one run.

    python bench/burst.py                         # 1,000 and 2,000, budget 512 MiB vs none
    python bench/burst.py --sizes 200 --budget-mb 64 --no-report

Writes bench/burst.png (RSS over time, one line per run) and the (e) section of
bench/RESULTS.md (between its markers), and the raw figures to bench/out/burst.json.
A call shed with RESOURCE_EXHAUSTED is counted apart, with whether it carried RetryInfo.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from run_all import (  # noqa: E402  (bench/ is a directory of scripts, not a package)
    ROOT,
    Bench,
    RssSampler,
    free_port,
    http_ok,
    raise_file_limit,
    rss_mb,
    running,
    start_upstream,
    tcp_open,
    upstream_base,
    wait_until,
)

from imagegen._gen.v1 import image_generation_pb2 as pb  # noqa: E402
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc  # noqa: E402

UPSTREAM_DELAY_MS = 5_000
CHANNELS = 8
CALL_TIMEOUT = 120.0
MAX_MESSAGE = 64 * 1024 * 1024
MARK_BEGIN = "<!-- burst:begin -->"
MARK_END = "<!-- burst:end -->"


@dataclass
class BurstRun:
    """One burst against one freshly started server."""

    calls: int
    budget_mb: int | None
    ok: int = 0
    shed: int = 0
    shed_with_retry_info: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_details: dict[str, str] = field(default_factory=dict)
    """The first error message of each code."""
    p50_s: float | None = None
    p99_s: float | None = None
    idle_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    end_rss_mb: float = 0.0
    seconds: float = 0.0
    rss: list[tuple[float, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        budget = "no budget" if self.budget_mb is None else f"budget {self.budget_mb} MiB"
        return f"{self.calls:,} calls, {budget}"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def write_config(path: Path, upstream: str, budget_mb: int | None) -> None:
    budget = "null" if budget_mb is None else str(budget_mb)
    path.write_text(
        "model_list:\n"
        "  - model_name: burst\n"
        "    litellm_params:\n"
        "      model: openai/gpt-image-1\n"
        f"      api_base: {upstream}\n"
        "      api_key: sk-bench\n"
        "litellm_settings:\n"
        "  request_timeout: 300\n"
        "server_settings:\n"
        f"  memory_budget_mb: {budget}\n"
    )


def start_gateway(bench: Bench, label: str, config: Path) -> tuple[int, int, Any]:
    grpc_port, http_port = free_port(), free_port()
    imagegen = ROOT / ".venv" / "bin" / "imagegen"
    argv = [str(imagegen), "serve", "--config", str(config), "--host", "127.0.0.1"]
    argv += ["--port", str(grpc_port), "--http-port", str(http_port)]
    proc = bench.spawn(label, argv)
    wait_until(
        lambda: tcp_open(grpc_port) and http_ok(f"http://127.0.0.1:{http_port}/health/readiness"),
        60,
        label,
        proc,
    )
    return grpc_port, http_port, proc


async def fire(address: str, calls: int, run: BurstRun) -> None:
    """`calls` GenerateImages calls started together; their outcomes go into `run`."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.use_local_subchannel_pool", 1),
    ]
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(CHANNELS)]
    try:
        for channel in channels:
            await asyncio.wait_for(channel.channel_ready(), 30)
        stubs = [pb_grpc.ImageGenerationStub(c) for c in channels]
        latencies: list[float] = []

        async def one(index: int) -> None:
            request = pb.GenerateImagesRequest(model="burst", prompt="a burst", size="1024x1024")
            started = time.monotonic()
            try:
                response = await stubs[index % CHANNELS].GenerateImages(
                    request, timeout=CALL_TIMEOUT
                )
            except grpc.aio.AioRpcError as error:
                latencies.append(time.monotonic() - started)
                if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    run.shed += 1
                    run.shed_with_retry_info += has_retry_info(error)
                else:
                    name = error.code().name
                    run.errors[name] = run.errors.get(name, 0) + 1
                    run.error_details.setdefault(
                        name, f"{error.details()!s:.300} after {time.monotonic() - started:.1f} s"
                    )
                return
            latencies.append(time.monotonic() - started)
            if response.images and response.images[0].data:
                run.ok += 1
            else:
                run.errors["no image"] = run.errors.get("no image", 0) + 1

        await asyncio.gather(*(one(i) for i in range(calls)))
        run.p50_s = percentile(latencies, 0.5)
        run.p99_s = percentile(latencies, 0.99)
    finally:
        for channel in channels:
            await channel.close()


def has_retry_info(error: grpc.aio.AioRpcError) -> bool:
    status = rpc_status.from_call(error)
    if status is None:
        return False
    return any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)


def burst(
    bench: Bench, calls: int, budget_mb: int | None, delay_ms: int = UPSTREAM_DELAY_MS
) -> BurstRun:
    """One burst of `calls` against a fresh gateway; the upstream answers after `delay_ms`."""
    run = BurstRun(calls=calls, budget_mb=budget_mb)
    label = f"burst-{calls}-{budget_mb or 'none'}"
    config = bench.workdir / f"{label}.yaml"
    write_config(config, upstream_base(bench, delay_ms), budget_mb)
    grpc_port, _, proc = start_gateway(bench, label, config)
    try:
        time.sleep(0.5)
        run.idle_rss_mb = rss_mb(proc.popen.pid)
        started = time.monotonic()
        with RssSampler(proc.popen.pid) as sampler:
            asyncio.run(fire(f"127.0.0.1:{grpc_port}", calls, run))
            time.sleep(1.0)  # what is left after the burst
        run.seconds = time.monotonic() - started
        run.rss = [(round(t, 2), round(mb, 1)) for t, mb in sampler.samples]
        run.peak_rss_mb = sampler.peak
        run.end_rss_mb = rss_mb(proc.popen.pid)
    finally:
        bench.stop(proc)
    return run


def plot(runs: list[BurstRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        style = "-" if run.budget_mb is not None else "--"
        axes.plot([t for t, _ in run.rss], [mb for _, mb in run.rss], style, label=run.label)
    axes.axhline(1024, color="grey", linewidth=0.8, linestyle=":")
    axes.text(0.2, 1040, "1 GB", color="grey", fontsize=8)
    axes.set_xlabel("seconds from the first call (upstream answers at 5 s)")
    axes.set_ylabel("gateway RSS, MB")
    axes.set_title("(e) burst: 1.5 MB answers landing together")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(runs: list[BurstRun]) -> str:
    lines = [
        "| calls | memory budget | ok | shed (with RetryInfo) | other errors | p50 s | p99 s "
        "| p99 vs no budget | idle RSS MB | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    baseline = {r.calls: r.p99_s for r in runs if r.budget_mb is None}
    for run in runs:
        base = baseline.get(run.calls)
        versus = f"{run.p99_s / base:.2f}x" if run.p99_s and base else ""
        budget = "none" if run.budget_mb is None else f"{run.budget_mb} MiB"
        lines.append(
            f"| {run.calls:,} | {budget} | {run.ok} | {run.shed} ({run.shed_with_retry_info}) "
            f"| {sum(run.errors.values()) or 0} | {fmt(run.p50_s)} | {fmt(run.p99_s)} "
            f"| {versus} | {run.idle_rss_mb:.0f} | {run.peak_rss_mb:.0f} |"
        )
    return "\n".join(lines)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(runs: list[BurstRun], results: Path, cpus: int) -> None:
    section = "\n".join(
        [
            MARK_BEGIN,
            "## (e) Burst — N answers of 1.5 MB landing in the same second",
            "",
            f"Written by `bench/burst.py` on {time.strftime('%Y-%m-%d %H:%M')}, {cpus} CPUs. "
            f"N GenerateImages calls start together; the fake upstream holds each "
            f"{UPSTREAM_DELAY_MS / 1000:.0f} s, so all answers arrive within a second. Each run is "
            "a freshly started gateway (one process); RSS is sampled every 50 ms. Runs with and "
            "without `server_settings.memory_budget_mb` are interleaved in one invocation.",
            "",
            table(runs),
            "",
            "![RSS over time during the burst](burst.png)",
            MARK_END,
        ]
    )
    text = results.read_text() if results.exists() else ""
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        _, tail = rest.split(MARK_END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--budget-mb", type=int, default=512)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "burst.json")
    parser.add_argument("--plot", type=Path, default=BENCH / "burst.png")
    parser.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--no-report", action="store_true", help="print only; write no files")
    parser.add_argument(
        "--from-raw", action="store_true", help="redraw the plot and the section from --out"
    )
    args = parser.parse_args()
    if args.from_raw:
        raw = json.loads(args.out.read_text())
        runs = [BurstRun(**{**r, "rss": [tuple(x) for x in r["rss"]]}) for r in raw]
        plot(runs, args.plot)
        report(runs, args.results, os.cpu_count() or 0)
        return 0
    raise_file_limit()
    runs = []
    with tempfile.TemporaryDirectory(prefix="imagegen-burst-") as tmp, running(Path(tmp)) as bench:
        start_upstream(bench)
        for calls in args.sizes:
            for budget in (None, args.budget_mb):
                run = burst(bench, calls, budget)
                print(
                    f"{run.label}: ok {run.ok}, shed {run.shed}, errors {run.errors}, "
                    f"p50 {fmt(run.p50_s)} s, p99 {fmt(run.p99_s)} s, "
                    f"peak RSS {run.peak_rss_mb:.0f} MB (idle {run.idle_rss_mb:.0f})",
                    flush=True,
                )
                runs.append(run)
    if not args.no_report:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([asdict(r) for r in runs], indent=1))
        plot(runs, args.plot)
        report(runs, args.results, os.cpu_count() or 0)
    median_ok = statistics.median(r.ok for r in runs) if runs else 0
    return 0 if median_ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
