"""Benchmark of the polling engine: many jobs waiting on a submit-then-poll provider at once.

    .venv/bin/python bench/polling.py [--jobs 500] [--job-seconds 10] [--poll 1.0]

Starts, each in its own process on 127.0.0.1: a job server speaking Black Forest Labs' API (a
job is `Ready` `--job-seconds` after its submit) and `imagegen serve` with one
`black_forest_labs/flux-pro-1.1` deployment polling every `--poll` seconds. Then `--jobs`
concurrent `GenerateImages` calls. Reported:

- the gateway's CPU (% of one core) and RSS while every job is waiting (from /proc, sampled
  from 2 s after the last submit until 1 s before the first job is ready);
- readiness-to-caller latency: from the moment the job server makes a job ready to the moment
  the caller has the image (both clocks are this machine's wall clock);
- the gateway's own part of it: from the poll that found the job ready to the caller holding
  the image (result fetch, answer);
- errors.

Prints a markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import grpc
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "service"))

from imagegen._gen.v1 import image_generation_pb2 as pb  # noqa: E402
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------ the job server


def small_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (256, 256), (40, 90, 160)).save(out, "JPEG", quality=80)
    return out.getvalue()


def job_server(port: int, job_seconds: float) -> None:
    """BFL's submit / get_result / delivery routes; a job is ready job_seconds after submit."""
    jobs: dict[str, tuple[str, float]] = {}
    # When each job's first `Ready` answer went out: from there on the wait is the gateway's.
    answered: dict[str, float] = {}
    image = small_jpeg()
    base = f"http://127.0.0.1:{port}"

    async def submit(request: web.Request) -> web.Response:
        body = await request.json()
        job_id = uuid.uuid4().hex
        jobs[job_id] = (str(body["prompt"]), time.time() + job_seconds)
        return web.json_response({"id": job_id, "polling_url": f"{base}/v1/get_result?id={job_id}"})

    async def get_result(request: web.Request) -> web.Response:
        job_id = request.query["id"]
        _, ready_at = jobs[job_id]
        if time.time() < ready_at:
            return web.json_response({"id": job_id, "status": "Pending", "result": None})
        answered.setdefault(job_id, time.time())
        sample = f"{base}/delivery/{job_id}.jpeg"
        return web.json_response({"id": job_id, "status": "Ready", "result": {"sample": sample}})

    async def delivery(request: web.Request) -> web.Response:
        return web.Response(body=image, content_type="image/jpeg")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {prompt: [ready, answered.get(job_id)] for job_id, (prompt, ready) in jobs.items()}
        )

    app = web.Application()
    app.router.add_post("/v1/flux-pro-1.1", submit)
    app.router.add_get("/v1/get_result", get_result)
    app.router.add_get("/delivery/{name}", delivery)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ------------------------------------------------------------------ measuring


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


async def wait_ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(args: argparse.Namespace, tmp: str) -> tuple[subprocess.Popen[bytes], ...]:
    """The job server and the gateway, each in its own process."""
    upstream = subprocess.Popen(
        [sys.executable, __file__, "--serve-jobs", str(args.upstream_port), "--job-seconds",
         str(args.job_seconds)]
    )  # fmt: skip
    config = {
        "model_list": [
            {
                "model_name": "flux",
                "litellm_params": {
                    "model": "black_forest_labs/flux-pro-1.1",
                    "api_base": f"http://127.0.0.1:{args.upstream_port}",
                    "api_key": "bench-key",
                    "poll_interval": args.poll,
                },
            }
        ],
    }
    config_path = Path(tmp) / "config.yaml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    gateway = subprocess.Popen(
        [str(ROOT / ".venv/bin/imagegen"), "serve", "--config", str(config_path),
         "--host", "127.0.0.1", "--port", str(args.grpc_port), "--no-http", "--data-dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return upstream, gateway


async def measure(args: argparse.Namespace, gateway_pid: int) -> dict[str, object]:
    stats_url = f"http://127.0.0.1:{args.upstream_port}/stats"
    await wait_ready(stats_url)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{args.grpc_port}")
    await asyncio.wait_for(channel.channel_ready(), 30)
    stub = pb_grpc.ImageGenerationStub(channel)
    idle_rss = rss_mb(gateway_pid)
    done: dict[str, float] = {}
    errors: dict[str, int] = {}

    async def one(index: int) -> None:
        prompt = f"job-{index}"
        try:
            await stub.GenerateImages(
                pb.GenerateImagesRequest(prompt=prompt, model="flux"),
                timeout=args.job_seconds * 4 + 30,
            )
            done[prompt] = time.time()
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] = errors.get(exc.code().name, 0) + 1

    started = time.time()
    tasks = [asyncio.ensure_future(one(i)) for i in range(args.jobs)]
    # The waiting window: from 2 s after the submits to 1 s before the first job is ready.
    await asyncio.sleep(2.0)
    cpu0, wall0 = cpu_seconds(gateway_pid), time.monotonic()
    samples = []
    while time.time() < started + args.job_seconds - 1.0:
        samples.append(rss_mb(gateway_pid))
        await asyncio.sleep(0.2)
    cpu1, wall1 = cpu_seconds(gateway_pid), time.monotonic()
    await asyncio.gather(*tasks)
    async with aiohttp.ClientSession() as session, session.get(stats_url) as response:
        ready = await response.json()
    await channel.close()
    latencies = sorted((done[p] - ready[p][0]) * 1000 for p in done if p in ready)
    # From the poll that saw the job ready to the caller holding the image: the gateway's part.
    own = sorted((done[p] - ready[p][1]) * 1000 for p in done if ready.get(p, [0, None])[1])
    nan = float("nan")
    return {
        "jobs": args.jobs,
        "ok": len(done),
        "errors": errors,
        "cpu_percent": 100 * (cpu1 - cpu0) / max(wall1 - wall0, 1e-9),
        "idle_rss": idle_rss,
        "waiting_rss": statistics.median(samples) if samples else nan,
        "p50": latencies[len(latencies) // 2] if latencies else nan,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else nan,
        "max": latencies[-1] if latencies else nan,
        "own_p50": own[len(own) // 2] if own else nan,
        "own_p99": own[max(0, int(len(own) * 0.99) - 1)] if own else nan,
    }


def report(args: argparse.Namespace, r: dict[str, object]) -> str:
    target = args.poll * 1000 + 50
    return f"""## (e) Polling engine — {args.jobs} jobs of {args.job_seconds:g} s, polled every {args.poll:g} s

Written by `bench/polling.py` on {time.strftime("%Y-%m-%d %H:%M")}, {os.cpu_count()} CPUs, Python {platform.python_version()}. A job server speaking Black Forest Labs' API (its own process) makes each job ready {args.job_seconds:g} s after its submit; one `imagegen serve` process with a `black_forest_labs/flux-pro-1.1` deployment (`poll_interval: {args.poll:g}`) serves {args.jobs} concurrent `GenerateImages` calls. CPU and RSS are the gateway's while every job waits; latency is from the job becoming ready upstream to the caller holding the image (result fetched by the gateway, 256x256 JPEG).

| jobs | ok | errors | gateway CPU while waiting (% of a core) | idle RSS MB | RSS waiting MB | ready→caller p50 ms | p99 ms | max ms | target p99 ms | ready poll→caller p50 ms | p99 ms |
|---|---|---|---|---|---|---|---|---|---|---|---|
| {r["jobs"]} | {r["ok"]} | {r["errors"] or 0} | {r["cpu_percent"]:.1f} | {r["idle_rss"]:.0f} | {r["waiting_rss"]:.0f} | {r["p50"]:.0f} | {r["p99"]:.0f} | {r["max"]:.0f} | {target:.0f} | {r["own_p50"]:.0f} | {r["own_p99"]:.0f} |
"""  # noqa: E501


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--job-seconds", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--serve-jobs", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_jobs is not None:
        job_server(args.serve_jobs, args.job_seconds)
        return
    args.upstream_port, args.grpc_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        processes = start(args, tmp)
        try:
            result = asyncio.run(measure(args, processes[1].pid))
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(10)
    print(report(args, result))


if __name__ == "__main__":
    main()
