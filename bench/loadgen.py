"""The benchmark's load generator: fixed concurrency, for a fixed time or a fixed request count.

It runs as its own process (so that its CPU is not the gateway's) and takes jobs as JSON
lines on stdin, answering each with one JSON line of results on stdout:

    {"kind": "http", "url": "http://127.0.0.1:4000/v1/images/generations",
     "model": "gpt-image-1", "concurrency": 32, "duration": 5, "warmup": 1}

kinds: `http` (POST an OpenAI images/generations body, aiohttp client), `grpc`
(GenerateImages over grpc.aio), `grpc_stream` (StreamGenerateImages: also times the first
image event), and for edits (`image_bytes`, `images`: the inputs) `http_edit` (OpenAI's
multipart POST /v1/images/edits) and `grpc_edit` (EditImages). With `requests` set, each of
`concurrency` workers sends requests until that many have been sent (`ramp` spreads the
workers' first requests over that many seconds).
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
from upstream import make_png  # bench/ is this script's directory

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
GRPC_CHANNELS = 8
CUTOFF_GRACE = 2.0
MAX_MESSAGE = 64 * 1024 * 1024


@dataclass
class Tally:
    """What the workers recorded."""

    latencies: list[float] = field(default_factory=list)
    first_image: list[float] = field(default_factory=list)
    image_bytes: int = 0
    cut: int = 0
    done_at: list[float] = field(default_factory=list)
    """When each request finished, in seconds from the start of the run."""
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


class Target:
    """One way of sending a request; `call` returns the image bytes received."""

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def call(self, tally: Tally) -> int:
        raise NotImplementedError


class HttpTarget(Target):
    def __init__(self, job: dict[str, Any]) -> None:
        self.url: str = job["url"]
        self.body = json.dumps(
            {"model": job["model"], "prompt": PROMPT, "n": 1, "size": "1024x1024"}
        ).encode()
        self.headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
        self.session: aiohttp.ClientSession | None = None
        self.timeout = aiohttp.ClientTimeout(total=float(job.get("timeout", 600)))

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=600)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def call(self, tally: Tally) -> int:
        assert self.session is not None
        async with self.session.post(
            self.url, data=self.body, headers=self.headers, timeout=self.timeout
        ) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"http_{response.status}")
        # The images arrive as base64 in JSON: count the JSON (parsing it is the client's cost,
        # the same for every target, and would only add noise here).
        if b'"b64_json"' not in body:
            raise RuntimeError("no_image")
        return len(body)


class GrpcTarget(Target):
    def __init__(self, job: dict[str, Any]) -> None:
        self.address: str = job["address"]
        self.model: str = job["model"]
        self.stream = job["kind"] == "grpc_stream"
        self.channels: list[grpc.aio.Channel] = []
        self.stubs: list[pb_grpc.ImageGenerationAsyncStub] = []
        self.next = 0
        self.timeout = float(job.get("timeout", 600))

    async def open(self) -> None:
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            # One TCP connection per channel (not a shared subchannel), so several
            # server processes behind SO_REUSEPORT all get connections.
            ("grpc.use_local_subchannel_pool", 1),
        ]
        for _ in range(GRPC_CHANNELS):
            channel = grpc.aio.insecure_channel(self.address, options=options)
            await channel.channel_ready()
            self.channels.append(channel)
            self.stubs.append(pb_grpc.ImageGenerationStub(channel))

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()

    async def call(self, tally: Tally) -> int:
        stub = self.stubs[self.next % len(self.stubs)]
        self.next += 1
        if not self.stream:
            request = pb.GenerateImagesRequest(model=self.model, prompt=PROMPT, size="1024x1024")
            response = await stub.GenerateImages(request, timeout=self.timeout)
            if not response.images or not response.images[0].data:
                raise RuntimeError("no_image")
            return len(response.images[0].data)
        started = time.perf_counter()
        stream_request = pb.StreamGenerateImagesRequest(
            model=self.model, prompt=PROMPT, size="1024x1024"
        )
        received = 0
        first: float | None = None
        async for event in stub.StreamGenerateImages(stream_request, timeout=self.timeout):
            kind = event.WhichOneof("event")
            if kind == "image":
                received += len(event.image.data)
            elif kind == "image_chunk":
                received += len(event.image_chunk.data)
            if first is None and kind in ("image", "image_chunk"):
                first = time.perf_counter() - started
        if first is None or not received:
            raise RuntimeError("no_image")
        tally.first_image.append(first)
        return received


EDIT_PROMPT = "put the two subjects side by side"


def edit_inputs(job: dict[str, Any]) -> list[bytes]:
    """The edit's input images: `images` distinct PNGs of noise, `image_bytes` each."""
    return [make_png(int(job["image_bytes"])) for _ in range(int(job.get("images", 2)))]


class HttpEditTarget(HttpTarget):
    """OpenAI's POST /v1/images/edits: a multipart form with the images as `image[]` files,
    built once (every request sends the same bytes)."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(job)
        boundary = "imagegen-bench-boundary"
        parts = [
            _form_field(boundary, "model", job["model"].encode()),
            _form_field(boundary, "prompt", EDIT_PROMPT.encode()),
        ]
        for index, image in enumerate(edit_inputs(job)):
            parts.append(_form_field(boundary, "image[]", image, f"input-{index}.png"))
        self.body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        self.headers = {
            "content-type": f"multipart/form-data; boundary={boundary}",
            "authorization": "Bearer sk-bench",
        }


def _form_field(boundary: str, name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    kind = "content-type: image/png\r\n" if filename else ""
    head = f"--{boundary}\r\ncontent-disposition: {disposition}\r\n{kind}\r\n"
    return head.encode() + value + b"\r\n"


class GrpcEditTarget(GrpcTarget):
    """EditImages: the input images as raw bytes fields (no base64 on this leg)."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(job)
        self.request = pb.EditImagesRequest(
            model=self.model, prompt=EDIT_PROMPT, images=edit_inputs(job)
        )

    async def call(self, tally: Tally) -> int:
        stub = self.stubs[self.next % len(self.stubs)]
        self.next += 1
        response = await stub.EditImages(self.request, timeout=self.timeout)
        if not response.images or not response.images[0].data:
            raise RuntimeError("no_image")
        return len(response.images[0].data)


def make_target(job: dict[str, Any]) -> Target:
    if job["kind"] == "http":
        return HttpTarget(job)
    if job["kind"] == "http_edit":
        return HttpEditTarget(job)
    if job["kind"] in ("grpc", "grpc_stream"):
        return GrpcTarget(job)
    if job["kind"] == "grpc_edit":
        return GrpcEditTarget(job)
    raise ValueError(f"unknown kind {job['kind']!r}")


async def run_job(job: dict[str, Any]) -> dict[str, Any]:
    target = make_target(job)
    await target.open()
    try:
        warmup = float(job.get("warmup", 0))
        if warmup > 0:
            await _drive(target, job, Tally(), duration=warmup, count=None, ramp=0.0)
        tally = Tally()
        started = time.perf_counter()
        await _drive(
            target,
            job,
            tally,
            duration=job.get("duration"),
            count=job.get("requests"),
            ramp=float(job.get("ramp", 0)),
        )
        elapsed = time.perf_counter() - started
    finally:
        await target.close()
    return summarize(job, tally, elapsed)


async def _drive(
    target: Target,
    job: dict[str, Any],
    tally: Tally,
    *,
    duration: float | None,
    count: int | None,
    ramp: float,
) -> None:
    concurrency = int(job["concurrency"])
    run_start = time.perf_counter()
    stop_at = run_start + duration if duration else float("inf")
    remaining = [count if count is not None else -1]

    async def worker(index: int) -> None:
        if ramp:
            await asyncio.sleep(ramp * index / concurrency)
        while time.perf_counter() < stop_at:
            if remaining[0] == 0:
                return
            remaining[0] -= 1
            started = time.perf_counter()
            try:
                size = await target.call(tally)
            except grpc.aio.AioRpcError as exc:
                tally.error(f"grpc_{exc.code().name}")
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.error(type(exc).__name__)
                continue
            except RuntimeError as exc:
                tally.error(str(exc))
                continue
            now = time.perf_counter()
            tally.latencies.append(now - started)
            tally.done_at.append(now - run_start)
            tally.image_bytes += size

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    # A timed run ends shortly after its time: requests still running then are cut (and
    # counted), so that an overloaded target cannot stretch the benchmark by minutes.
    wait = None if duration is None else duration + CUTOFF_GRACE
    _, pending = await asyncio.wait(tasks, timeout=wait)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    tally.cut += len(pending)


def summarize(job: dict[str, Any], tally: Tally, elapsed: float) -> dict[str, Any]:
    lat = tally.latencies
    duration = job.get("duration")
    if duration:
        # Throughput over the timed window only (not the tail after it).
        window = float(duration)
        completed = sum(1 for t in tally.done_at if t <= window)
    else:
        window, completed = elapsed, len(lat)
    rps = completed / window if window > 0 else 0.0
    return {
        "job": job,
        "ok": len(lat),
        "errors": tally.errors,
        "cut": tally.cut,
        "elapsed": elapsed,
        "rps": rps,
        "mb_per_s": rps * tally.image_bytes / len(lat) / 1e6 if lat else 0.0,
        "p50_ms": _ms(statistics.median(lat) if lat else None),
        "p99_ms": _ms(percentile(lat, 0.99)),
        "mean_ms": _ms(statistics.fmean(lat) if lat else None),
        "first_image_p50_ms": _ms(
            statistics.median(tally.first_image) if tally.first_image else None
        ),
        "first_image_p99_ms": _ms(percentile(tally.first_image, 0.99)),
        "latencies_ms": [round(v * 1000, 3) for v in lat] if job.get("keep_latencies") else None,
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def raise_file_limit() -> None:
    """2,000 sockets and more need more than the usual 1,024 file descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def serve_jobs() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        job = json.loads(line)
        try:
            result = await run_job(job)
        except Exception as exc:  # report, and keep serving the next job
            result = {"job": job, "failed": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


def main() -> int:
    raise_file_limit()
    # The default event loop on purpose: grpc.aio supports only asyncio's own loop.
    asyncio.run(serve_jobs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
