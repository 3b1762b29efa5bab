"""Run the whole benchmark and write bench/RESULTS.md and bench/plot.png.

Processes (all on 127.0.0.1, all stopped at the end, whatever happens):
the fake upstream (bench/upstream.py), the imagegen server (`imagegen serve --config`), the
LiteLLM proxy (from bench/.venv-litellm, when present) and the load generator
(bench/loadgen.py), which takes one job at a time. Targets are measured in interleaved
rounds (direct, imagegen gRPC, imagegen HTTP, LiteLLM, direct, ...) and every figure is the
median over rounds, which cancels most of the drift of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edit_bench import check_raw, edits_section, grpc_leg_bytes, splice_section, validation_ms
from upstream import make_png

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
LITELLM_VENV = BENCH / ".venv-litellm"
IMAGE_BYTES = 1_500_000

# Upstream latency per scenario, in ms (the fake upstream reads it from the URL path).
LAT_A = 250
LAT_B = 0
LAT_C = 10_000
LAT_D = 1_000
LAT_F = LAT_A
EDITS_TITLE = "(f) Edits — two 1.5 MB input images, added latency and throughput"


def model_for(latency_ms: int) -> str:
    return f"bench-{latency_ms}"


LATENCIES = (LAT_A, LAT_B, LAT_C, LAT_D)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Bench:
    """The running processes and where to reach them."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    upstream_port: int = 0
    png_bytes: int = IMAGE_BYTES
    loadgen: subprocess.Popen[str] | None = None
    notes: list[str] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as handle:  # the child writes to its own copy of the descriptor
            popen = subprocess.Popen(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        if proc.alive():
            with suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        if self.loadgen is not None and self.loadgen.poll() is None:
            self.loadgen.kill()
            self.loadgen.wait(5)
        for proc in list(self.procs):
            self.stop(proc)

    # -- the load generator ---------------------------------------------------------------

    def job(self, job: dict[str, Any], *, limit: float) -> dict[str, Any]:
        """Run one load-generator job; `limit` seconds at most."""
        if self.loadgen is None or self.loadgen.poll() is not None:
            self.loadgen = subprocess.Popen(
                [PY, str(BENCH / "loadgen.py")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=(self.workdir / "loadgen.log").open("a"),
                text=True,
                cwd=ROOT,
            )
        stdin, stdout = self.loadgen.stdin, self.loadgen.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], limit)
        if not ready:
            self.loadgen.kill()
            self.loadgen.wait(5)
            self.loadgen = None
            return {"job": job, "failed": f"no answer within {limit:.0f} s"}
        line = stdout.readline()
        if not line:
            return {"job": job, "failed": "the load generator exited"}
        result: dict[str, Any] = json.loads(line)
        return result


# -- process helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            tail = proc.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited early:\n{tail}")
        with suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def descendants(pid: int) -> list[int]:
    """pid and all its descendants (a server's worker processes)."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        with suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with suppress(OSError):
                    children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                    found.extend(int(c) for c in children)
    return found


def status_kb(pid: int, key: str) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return sum(status_kb(p, "VmRSS") for p in descendants(pid)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU of pid and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in descendants(pid):
        with suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class RssSampler:
    """Samples the summed RSS of a process tree every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - started, rss_mb(self.pid)))
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)


# -- starting the servers -----------------------------------------------------------------


def start_upstream(bench: Bench) -> None:
    port = free_port()
    proc = bench.spawn(
        "upstream",
        [PY, str(BENCH / "upstream.py"), "--port", str(port), "--image-bytes", str(IMAGE_BYTES)],
    )
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), 30, "the upstream", proc)
    bench.upstream_port = port
    text = proc.log.read_text()
    bench.png_bytes = IMAGE_BYTES
    for word_index, word in enumerate(text.split()):
        if word == "PNG":
            bench.png_bytes = int(text.split()[word_index + 1])


def upstream_base(bench: Bench, latency_ms: int) -> str:
    prefix = f"/lat/{latency_ms}" if latency_ms else ""
    return f"http://127.0.0.1:{bench.upstream_port}{prefix}/v1"


@dataclass
class Gateway:
    label: str
    proc: Proc
    grpc_port: int | None
    http_port: int


def start_imagegen(bench: Bench, *, workers: int = 1, label: str = "imagegen") -> Gateway:
    grpc_port, http_port = free_port(), free_port()
    lines = ["model_list:"]
    for latency in LATENCIES:
        lines += [
            f"  - model_name: {model_for(latency)}",
            "    litellm_params:",
            "      model: openai/gpt-image-1",
            f"      api_base: {upstream_base(bench, latency)}",
            "      api_key: sk-bench",
        ]
    lines += ["litellm_settings:", "  request_timeout: 600", "server_settings:"]
    lines.append("  stream_keepalive_seconds: 60")
    if workers > 1:
        lines.append(f"  workers: {workers}")
    config = bench.workdir / f"{label}.yaml"
    config.write_text("\n".join(lines) + "\n")
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
    return Gateway(label, proc, grpc_port, http_port)


def start_litellm(bench: Bench) -> Gateway | None:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        bench.notes.append(
            f"LiteLLM was not measured: {binary.relative_to(ROOT)} is missing "
            "(`make bench` installs litellm[proxy]==1.80.0 there)."
        )
        return None
    port = free_port()
    lines = ["model_list:"]
    for latency in LATENCIES:
        lines += [
            f"  - model_name: {model_for(latency)}",
            "    litellm_params:",
            "      model: openai/gpt-image-1",
            f"      api_base: {upstream_base(bench, latency)}",
            "      api_key: sk-bench",
            "      timeout: 600",
        ]
    lines += [
        "litellm_settings:",
        "  telemetry: false",
        "  request_timeout: 600",
        "  set_verbose: false",
        "  json_logs: false",
    ]
    config = bench.workdir / "litellm.yaml"
    config.write_text("\n".join(lines) + "\n")
    argv = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1"]
    env = {
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_SCHEMA_UPDATE": "True",
        "NO_DOCS": "True",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    proc = bench.spawn("litellm", argv, env)
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/health/liveliness"), 120, "litellm", proc
        )
    except RuntimeError as exc:
        bench.notes.append(f"LiteLLM was not measured: its proxy did not start ({exc}).")
        bench.stop(proc)
        return None
    return Gateway("litellm", proc, None, port)


# -- scenarios ------------------------------------------------------------------------------


@dataclass
class Cell:
    """One target at one setting, over all rounds."""

    results: list[dict[str, Any]] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        return [r[key] for r in self.results if r.get(key) is not None]

    def median(self, key: str) -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None

    def errors(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for r in self.results:
            if "failed" in r:
                total[r["failed"]] = total.get(r["failed"], 0) + 1
            for kind, count in (r.get("errors") or {}).items():
                total[kind] = total.get(kind, 0) + count
        return total


Targets = dict[str, dict[str, Any]]


def targets_for(bench: Bench, gateways: list[Gateway], latency_ms: int) -> Targets:
    """Each target's job fields for `latency_ms`, direct first."""
    model = model_for(latency_ms)
    path = "/v1/images/generations"
    targets: Targets = {
        "direct": {"kind": "http", "url": upstream_base(bench, latency_ms) + "/images/generations"}
    }
    for gw in gateways:
        if gw.grpc_port is not None:
            targets[f"{gw.label} gRPC"] = {
                "kind": "grpc",
                "address": f"127.0.0.1:{gw.grpc_port}",
            }
        targets[f"{gw.label} HTTP" if gw.grpc_port is not None else gw.label] = {
            "kind": "http",
            "url": f"http://127.0.0.1:{gw.http_port}{path}",
        }
    for job in targets.values():
        job["model"] = model
    return targets


def interleaved(
    bench: Bench,
    targets: Targets,
    settings: list[dict[str, Any]],
    rounds: int,
    *,
    setting_key: str,
) -> dict[tuple[str, Any], Cell]:
    cells: dict[tuple[str, Any], Cell] = {}
    for round_index in range(rounds):
        for setting in settings:
            for name, fields in targets.items():
                job = {**fields, **setting}
                limit = float(job.get("duration", 30)) + float(job.get("warmup", 0)) + 60
                result = bench.job(job, limit=limit)
                result["round"] = round_index
                cells.setdefault((name, setting[setting_key]), Cell()).results.append(result)
                show(name, setting, result)
    return cells


def show(name: str, setting: dict[str, Any], result: dict[str, Any]) -> None:
    if "failed" in result:
        print(f"  {name:22} {setting}: FAILED {result['failed']}", flush=True)
        return
    print(
        f"  {name:22} c={setting.get('concurrency')}: {result['rps']:8.1f} req/s "
        f"p50 {result['p50_ms']} ms p99 {result['p99_ms']} ms errors {result['errors']}",
        flush=True,
    )


def scenario_a(bench: Bench, gateways: list[Gateway], args: argparse.Namespace) -> dict[str, Any]:
    print("(a) added latency, 1.5 MB images, upstream", LAT_A, "ms", flush=True)
    targets = targets_for(bench, gateways, LAT_A)
    settings = [
        {"concurrency": c, "duration": args.duration * (2 if c == 1 else 1), "warmup": 1.0}
        for c in (1, 32, 256)
    ]
    cells = interleaved(bench, targets, settings, args.rounds, setting_key="concurrency")
    return {"targets": list(targets), "cells": cells, "levels": [1, 32, 256]}


def scenario_b(bench: Bench, gateways: list[Gateway], args: argparse.Namespace) -> dict[str, Any]:
    print("(b) maximum throughput, instant upstream", flush=True)
    targets = targets_for(bench, gateways, LAT_B)
    settings = [{"concurrency": 64, "duration": args.duration, "warmup": 1.0}]
    cpu: dict[str, list[float]] = {}
    cells: dict[tuple[str, Any], Cell] = {}
    for round_index in range(args.rounds):
        for name, fields in targets.items():
            gw = next((g for g in gateways if name.startswith(g.label)), None)
            before = cpu_seconds(gw.proc.popen.pid) if gw else 0.0
            job = {**fields, **settings[0]}
            result = bench.job(job, limit=args.duration + 60)
            if gw is not None and result.get("ok"):
                spent = cpu_seconds(gw.proc.popen.pid) - before
                # Includes the warm-up's requests too: an upper bound per request.
                cpu.setdefault(name, []).append(spent * 1000 / max(1, result["ok"]))
            result["round"] = round_index
            cells.setdefault((name, 64), Cell()).results.append(result)
            show(name, settings[0], result)
    return {"targets": list(targets), "cells": cells, "cpu_ms": cpu}


def scenario_c(bench: Bench, gateways: list[Gateway], args: argparse.Namespace) -> dict[str, Any]:
    """Each target on a freshly started server, so that idle RSS is the server's own."""
    print(f"(c) {args.inflight} in flight, upstream {LAT_C} ms", flush=True)
    names = list(targets_for(bench, gateways, LAT_C))
    for gw in gateways:
        bench.stop(gw.proc)
    out: dict[str, Any] = {}
    for name in names:
        fresh: Gateway | None = None
        if name != "direct":
            fresh = start_litellm(bench) if name == "litellm" else start_imagegen(bench)
            if fresh is None:
                continue
            time.sleep(1.0)  # let start-up allocations settle before the idle reading
        fields = targets_for(bench, [fresh] if fresh else [], LAT_C)[name]
        job = {
            **fields,
            "concurrency": args.inflight,
            "requests": args.inflight,
            "ramp": 1.0,
            "timeout": 60,
        }
        pid = fresh.proc.popen.pid if fresh else 0
        idle = rss_mb(pid) if fresh else 0.0
        sampler = RssSampler(pid) if fresh else None
        try:
            if sampler is not None:
                sampler.__enter__()
            result = bench.job(job, limit=90)
        finally:
            if sampler is not None:
                sampler.__exit__()
            if fresh is not None:
                bench.stop(fresh.proc)
        # RSS while every request waits on the upstream (after the 1 s ramp, before answers).
        waiting = 0.0
        if sampler is not None:
            window = [mb for t, mb in sampler.samples if 2.0 < t < LAT_C / 1000 - 0.5]
            waiting = max(window, default=0.0)
        out[name] = {
            "result": result,
            "idle_mb": idle,
            "waiting_mb": waiting,
            "peak_mb": sampler.peak if sampler else None,
            "samples": sampler.samples if sampler else [],
        }
        show(name, {"concurrency": args.inflight}, result)
        if sampler is not None:
            print(
                f"    RSS idle {idle:.0f} MB, waiting {waiting:.0f} MB, peak {sampler.peak:.0f} MB",
                flush=True,
            )
    return out


def scenario_d(bench: Bench, gateways: list[Gateway], args: argparse.Namespace) -> dict[str, Any]:
    print(f"(d) streaming, upstream {LAT_D} ms", flush=True)
    targets = targets_for(bench, gateways, LAT_D)
    streams: Targets = {"direct": targets["direct"]}
    for gw in gateways:
        if gw.grpc_port is not None:
            streams[f"{gw.label} gRPC stream"] = {
                "kind": "grpc_stream",
                "address": f"127.0.0.1:{gw.grpc_port}",
                "model": model_for(LAT_D),
            }
    settings = [{"concurrency": 1, "requests": args.stream_requests, "warmup": 0.0}]
    cells = interleaved(bench, streams, settings, 2, setting_key="concurrency")
    return {"targets": list(streams), "cells": cells}


# -- the report -----------------------------------------------------------------------------


def scenario_f(bench: Bench, gateways: list[Gateway], args: argparse.Namespace) -> dict[str, Any]:
    """Edits with two 1.5 MB inputs: direct (multipart to the upstream) vs imagegen gRPC."""
    print("(f) edits, two 1.5 MB input images, upstream", LAT_F, "ms", flush=True)
    load, when = os.getloadavg()[0], time.strftime("%Y-%m-%d %H:%M")
    gateway = gateways[0]
    assert gateway.grpc_port is not None
    model = model_for(LAT_F)
    inputs = [make_png(IMAGE_BYTES) for _ in range(2)]
    wire = grpc_leg_bytes(gateway.grpc_port, model, inputs)
    check_raw(wire)  # the run fails here if the images ever cross as base64
    common = {"model": model, "image_bytes": IMAGE_BYTES, "images": 2}
    targets: Targets = {
        "direct": {
            "kind": "http_edit",
            "url": upstream_base(bench, LAT_F) + "/images/edits",
            **common,
        },
        "imagegen gRPC": {
            "kind": "grpc_edit",
            "address": f"127.0.0.1:{gateway.grpc_port}",
            **common,
        },
    }
    settings = [
        {"concurrency": c, "duration": args.duration * (2 if c == 1 else 1), "warmup": 1.0}
        for c in (1, 32)
    ]
    cells = interleaved(bench, targets, settings, args.rounds, setting_key="concurrency")
    return {
        "targets": list(targets),
        "cells": cells,
        "levels": [1, 32],
        "wire": wire,
        "validation_ms": validation_ms(inputs),
        "measured": f"{when}, {os.cpu_count()} CPUs, 1-minute load average {load:.1f} at start",
    }


def edits_text(bench: Bench, f: dict[str, Any]) -> str:
    return edits_section(f, latency_ms=LAT_F, image_mb=bench.png_bytes / 1e6, fmt=fmt, ratio=ratio)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def added(cell: Cell, direct: Cell, key: str) -> float | None:
    """Median over rounds of (target - direct) for `key`, pairing results of the same round."""
    by_round = {r["round"]: r.get(key) for r in direct.results}
    diffs = [
        r[key] - by_round[r["round"]]
        for r in cell.results
        if r.get(key) is not None and by_round.get(r["round"]) is not None
    ]
    return statistics.median(diffs) if diffs else None


def report(
    bench: Bench,
    a: dict[str, Any],
    b: dict[str, Any],
    c: dict[str, Any],
    d: dict[str, Any],
    extra: dict[str, Any],
    args: argparse.Namespace,
    wall: float,
) -> str:
    litellm_name = "litellm"
    mb_per_req = bench.png_bytes / 1e6
    out: list[str] = []
    out.append("# imagegen benchmark results\n")
    out.append(
        f"Written by `make bench` (bench/run_all.py) on {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; the whole run took "
        f"{wall / 60:.1f} min. Images: one {mb_per_req:.2f} MB PNG per request "
        f"({mb_per_req * 4 / 3:.2f} MB as base64). Every process (fake upstream, gateway, "
        "LiteLLM, load generator) shares this machine's cores over loopback. Figures are "
        f"medians over {args.rounds} interleaved rounds (direct, imagegen, LiteLLM, direct, …).\n"
    )
    out.append(
        "Targets: **direct** is the load generator calling the fake upstream itself over "
        "HTTP (the same bytes). **imagegen gRPC** is `GenerateImages`; **imagegen HTTP** is "
        "the OpenAI-compatible door (`POST /v1/images/generations`, base64 JSON out); "
        "**litellm** is LiteLLM 1.80.0's proxy (`litellm[proxy]==1.80.0`, 1 worker, no "
        "database) on the same route. imagegen runs one process (the default) on a plain "
        "config (a model_list, no keys, guardrails or exporters): the router and the "
        "always-on hooks (request bounds, metrics and the request log line) are in every "
        "figure; keys, spend logging and guardrails add their own cost when configured.\n"
    )
    for note in bench.notes:
        out.append(f"> {note}\n")

    cells = a["cells"]
    out.append(f"## (a) Added latency — upstream {LAT_A} ms, 1.5 MB images\n")
    out.append(
        "| target | concurrency | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | "
        "req/s vs direct | req/s vs litellm | errors |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for level in a["levels"]:
        direct = cells[("direct", level)]
        lite = cells.get((litellm_name, level))
        for name in a["targets"]:
            cell = cells[(name, level)]
            out.append(
                f"| {name} | {level} | {fmt(cell.median('rps'))} | {fmt(cell.median('p50_ms'))} "
                f"| {fmt(cell.median('p99_ms'))} | "
                f"{fmt(added(cell, direct, 'p50_ms'), 2) if name != 'direct' else ''} | "
                f"{fmt(added(cell, direct, 'p99_ms'), 2) if name != 'direct' else ''} | "
                f"{ratio(cell.median('rps'), direct.median('rps'))} | "
                f"{ratio(cell.median('rps'), lite.median('rps')) if lite else '-'} | "
                f"{sum(cell.errors().values())} |"
            )
    out.append("")

    out.append("## (b) Maximum throughput — instant upstream, concurrency 64\n")
    out.append(
        "| target | req/s | image MB/s | p50 ms | p99 ms | vs direct | vs litellm | "
        "gateway CPU ms/request | errors |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    bcells = b["cells"]
    direct = bcells[("direct", 64)]
    lite = bcells.get((litellm_name, 64))
    for name in b["targets"]:
        cell = bcells[(name, 64)]
        rps = cell.median("rps")
        cpu = b["cpu_ms"].get(name)
        out.append(
            f"| {name} | {fmt(rps)} | {fmt(rps * mb_per_req if rps else None)} | "
            f"{fmt(cell.median('p50_ms'))} | {fmt(cell.median('p99_ms'))} | "
            f"{ratio(rps, direct.median('rps'))} | "
            f"{ratio(rps, lite.median('rps')) if lite else '-'} | "
            f"{fmt(statistics.median(cpu), 2) if cpu else '-'} | {sum(cell.errors().values())} |"
        )
    out.append("")

    out.append(f"## (c) In-flight capacity — {args.inflight} concurrent requests, upstream 10 s\n")
    out.append(
        "Each target runs on a freshly started server. All requests start within the first "
        "second and wait on the upstream together. "
        "*waiting* is the server's RSS while all of them are in flight; *peak* is the highest "
        "sample (50 ms period) over the run, including when all answers arrive at once; "
        "per request = (waiting - idle) / in flight.\n"
    )
    out.append(
        "| target | ok | errors | p50 s | idle RSS MB | RSS waiting MB | peak RSS MB | "
        "KB per in-flight request |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    for name, row in c.items():
        result = row["result"]
        per = (
            (row["waiting_mb"] - row["idle_mb"]) * 1024 / args.inflight
            if row["peak_mb"] is not None
            else None
        )
        errors = result.get("errors") or ({result["failed"]: 1} if "failed" in result else {})
        p50 = result.get("p50_ms")
        out.append(
            f"| {name} | {result.get('ok', 0)} | {errors or 0} | "
            f"{fmt(p50 / 1000 if p50 else None, 2)} | {fmt(row['idle_mb'], 0)} | "
            f"{fmt(row['waiting_mb'], 0)} | {fmt(row['peak_mb'], 0)} | {fmt(per, 1)} |"
        )
    out.append("")

    out.append(f"## (d) Streaming — time to first image event, upstream {LAT_D} ms\n")
    out.append(
        "direct = the whole upstream answer received by the client; imagegen = the first "
        "`image`/`image_chunk` event of `StreamGenerateImages`.\n"
    )
    out.append(
        "| target | first image p50 ms | p99 ms | vs upstream (direct) p50 | complete p50 ms |"
    )
    out.append("|---|---|---|---|---|")
    dcells = d["cells"]
    direct_p50 = dcells[("direct", 1)].median("p50_ms")
    for name in d["targets"]:
        cell = dcells[(name, 1)]
        first = cell.median("first_image_p50_ms") if name != "direct" else direct_p50
        diff = None if first is None or direct_p50 is None else first - direct_p50
        p99 = cell.median("first_image_p99_ms" if name != "direct" else "p99_ms")
        out.append(
            f"| {name} | {fmt(first)} | {fmt(p99)}"
            f" | {'' if name == 'direct' else ('+' if (diff or 0) >= 0 else '') + fmt(diff, 2)} | "
            f"{fmt(cell.median('p50_ms'))} |"
        )
    out.append("")
    for title, text in extra.items():
        out.append(f"## {title}\n")
        out.append(text)
        out.append("")
    return "\n".join(out) + "\n"


def plot(a: dict[str, Any], b: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in a["targets"]:
        levels = a["levels"]
        p50 = [a["cells"][(name, c)].median("p50_ms") for c in levels]
        p99 = [a["cells"][(name, c)].median("p99_ms") for c in levels]
        (line,) = left.plot(levels, p50, marker="o", label=f"{name} p50")
        left.plot(levels, p99, marker="x", linestyle="--", color=line.get_color(), alpha=0.6)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xticks(a["levels"], [str(c) for c in a["levels"]])
    left.set_xlabel("concurrency")
    left.set_ylabel("latency ms (p50 solid, p99 dashed)")
    left.set_title(f"(a) latency vs concurrency, upstream {LAT_A} ms, 1.5 MB images")
    left.legend(fontsize=8)
    names = b["targets"]
    rps = [b["cells"][(n, 64)].median("rps") or 0 for n in names]
    right.barh(names, rps)
    right.set_xlabel("requests/s")
    right.set_title("(b) max throughput, instant upstream, concurrency 64")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# -- main -----------------------------------------------------------------------------------


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@contextmanager
def running(workdir: Path) -> Iterator[Bench]:
    bench = Bench(workdir)

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        yield bench
    finally:
        bench.stop_all()


def workers_section(
    bench: Bench, args: argparse.Namespace, single: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    gateway = start_imagegen(bench, workers=2, label="imagegen-2w")
    try:
        targets = targets_for(bench, [gateway], LAT_B)
        settings = [{"concurrency": 64, "duration": args.duration, "warmup": 1.0}]
        cells = interleaved(bench, targets, settings, args.rounds, setting_key="concurrency")
    finally:
        bench.stop(gateway.proc)
    lines = [
        "Same load as (b), with `server_settings.workers: 2` (two processes on one port, "
        "SO_REUSEPORT), measured after (b) in the same run.\n",
        "| target | req/s | p50 ms | p99 ms | vs 1 worker | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name in targets:
        if name == "direct":
            continue
        cell = cells[(name, 64)]
        one = single["cells"].get((name.replace("imagegen-2w", "imagegen"), 64))
        lines.append(
            f"| {name} | {fmt(cell.median('rps'))} | {fmt(cell.median('p50_ms'))} | "
            f"{fmt(cell.median('p99_ms'))} | "
            f"{ratio(cell.median('rps'), one.median('rps')) if one else '-'} | "
            f"{sum(cell.errors().values())} |"
        )
    return "\n".join(lines) + "\n", {"cells": cells}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--inflight", type=int, default=2000)
    parser.add_argument("--stream-requests", type=int, default=8)
    parser.add_argument("--workers", action="store_true", help="also measure 2 worker processes")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--only", default="abcdf", help="scenarios to run (for quick checks)")
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    parser.add_argument("--plot", default=str(BENCH / "plot.png"))
    parser.add_argument("--raw", default=str(BENCH / "out" / "raw.json"))
    args = parser.parse_args()
    raise_file_limit()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="imagegen-bench-"))
    empty: dict[str, Any] = {"targets": [], "cells": {}, "levels": [], "cpu_ms": {}}
    with running(workdir) as bench:
        start_upstream(bench)
        gateways = [start_imagegen(bench)]
        if not args.no_litellm:
            lite = start_litellm(bench)
            if lite is not None:
                gateways.append(lite)
        a = scenario_a(bench, gateways, args) if "a" in args.only else empty
        b = scenario_b(bench, gateways, args) if "b" in args.only else empty
        d = scenario_d(bench, gateways, args) if "d" in args.only else empty
        f = scenario_f(bench, gateways, args) if "f" in args.only else empty
        # Last: an overloaded target can leave the upstream busy for a while after it.
        c = scenario_c(bench, gateways, args) if "c" in args.only else {}
        extra: dict[str, Any] = {}
        raw_extra: dict[str, Any] = {}
        if "f" in args.only:
            extra[EDITS_TITLE] = edits_text(bench, f)
        if args.workers and "b" in args.only:
            for gw in gateways:
                bench.stop(gw.proc)
            text, raw_extra = workers_section(bench, args, b)
            extra["Multi-process serving — 1 vs 2 workers"] = text
        wall = time.monotonic() - started
        if "a" in args.only and "b" in args.only and "d" in args.only:
            text = report(bench, a, b, c, d, extra, args, wall)
            notes = BENCH / "NOTES.md"
            if notes.exists():
                # The hand-written part: before/after figures of each fix, profiles, analysis.
                text += "\n" + notes.read_text()
            Path(args.out).write_text(text)
            plot(a, b, Path(args.plot))
            print(f"wrote {args.out} and {args.plot}")
        elif "f" in args.only:
            # Scenario (f) alone updates its own section of the results in place. ((e) is
            # bench/polling.py's section, which it prints for pasting.)
            splice_section(Path(args.out), EDITS_TITLE, extra[EDITS_TITLE])
            print(f"wrote section (f) of {args.out}")
        raw = Path(args.raw)
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(_raw(a, b, c, d, f, raw_extra), indent=1, default=str))
        print(f"raw results in {raw}; logs in {workdir}")
    shutil.rmtree(workdir, ignore_errors=True) if args.out == "-" else None
    return 0


def _raw(*parts: dict[str, Any]) -> list[Any]:
    def flat(part: dict[str, Any]) -> dict[str, Any]:
        return {
            str(key): ([r for r in value.results] if isinstance(value, Cell) else value)
            for key, value in part.items()
            if key != "cells"
        } | {str(key): value.results for key, value in part.get("cells", {}).items()}

    return [flat(p) for p in parts]


if __name__ == "__main__":
    sys.exit(main())
