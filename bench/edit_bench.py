"""Scenario (f) of bench/run_all.py, edits: what only it needs.

- `grpc_leg_bytes`: one EditImages call through a byte-counting TCP relay, so the bench can
  assert that the input images cross the gRPC leg as raw bytes (about 1.00x their size;
  base64 would be 1.33x or more), not take it on trust;
- `edits_section`: the section's Markdown;
- `splice_section`: puts that section into an existing RESULTS.md (a run of scenario (f)
  alone, `--only f`, updates its section and leaves the others as they were).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The largest ratio of bytes on the wire to image bytes that still means "raw": HTTP/2
#: frames, gRPC headers and the other fields are well under 1%; base64 alone is 33%.
RAW_RATIO_LIMIT = 1.05


@dataclass(frozen=True, slots=True)
class WireBytes:
    """What one call moved through the relay, each way, next to the image bytes it carried."""

    to_gateway: int
    from_gateway: int
    input_image_bytes: int
    output_image_bytes: int

    @property
    def input_ratio(self) -> float:
        return self.to_gateway / self.input_image_bytes

    @property
    def output_ratio(self) -> float:
        return self.from_gateway / self.output_image_bytes


class _Relay:
    """Accepts one connection on a free loopback port and pipes it to `port`, counting."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.counts = {"up": 0, "down": 0}
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._pipes: list[threading.Thread] = []
        self._thread.start()

    def _serve(self) -> None:
        client, _ = self.listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target))
        self._pipes = [
            threading.Thread(target=self._pipe, args=(client, upstream, "up"), daemon=True),
            threading.Thread(target=self._pipe, args=(upstream, client, "down"), daemon=True),
        ]
        for pipe in self._pipes:
            pipe.start()

    def _pipe(self, source: socket.socket, sink: socket.socket, way: str) -> None:
        try:
            while data := source.recv(1 << 16):
                self.counts[way] += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        self._thread.join(5)
        for pipe in self._pipes:
            pipe.join(5)


def grpc_leg_bytes(port: int, model: str, images: list[bytes]) -> WireBytes:
    """One EditImages call with `images` to the gateway's gRPC `port`, through the relay."""
    import grpc

    from imagegen._gen.v1 import image_generation_pb2 as pb
    from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc

    relay = _Relay(port)
    limit = 64 << 20
    options = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{relay.port}", options=options) as channel:
            request = pb.EditImagesRequest(model=model, prompt="probe", images=images)
            response = pb_grpc.ImageGenerationStub(channel).EditImages(request, timeout=60)
    finally:
        relay.close()
    return WireBytes(
        to_gateway=relay.counts["up"],
        from_gateway=relay.counts["down"],
        input_image_bytes=sum(len(image) for image in images),
        output_image_bytes=sum(len(image.data) for image in response.images),
    )


def validation_ms(images: list[bytes], runs: int = 15) -> float:
    """Median time, in ms, to validate `images` as an edit's inputs (sniffed and fully
    decoded), in this process: the part of the gateway's work that a generation has not."""
    import statistics
    import time

    from imagegen.images.limits import OPENAI_GPT_IMAGE
    from imagegen.images.validate import validate_edit_inputs

    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        validate_edit_inputs(images, None, OPENAI_GPT_IMAGE, mask_required=False)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def check_raw(wire: WireBytes) -> None:
    """Raises AssertionError unless both directions carried the images as raw bytes."""
    assert 1.0 <= wire.input_ratio < RAW_RATIO_LIMIT, f"inputs not raw on the gRPC leg: {wire}"
    assert 1.0 <= wire.output_ratio < RAW_RATIO_LIMIT, f"output not raw on the gRPC leg: {wire}"


def edits_section(
    scenario: dict[str, Any],
    *,
    latency_ms: int,
    image_mb: float,
    fmt: Callable[..., str],
    ratio: Callable[[float | None, float | None], str],
) -> str:
    """The Markdown of scenario (f)."""
    cells, wire, decode = scenario["cells"], scenario["wire"], scenario["validation_ms"]
    lines = [
        f"Measured {scenario['measured']}. "
        f"Two {image_mb:.2f} MB PNG inputs per request, upstream {latency_ms} ms. **direct** is "
        "the load generator posting OpenAI's multipart edit form (the two images as `image[]` "
        "files) to the fake upstream's `/v1/images/edits` itself; **imagegen gRPC** is "
        "`EditImages` with the two images as raw `bytes` fields: the gateway sniffs and "
        "decodes both inputs, then posts the same multipart form upstream.\n",
        "| target | concurrency | req/s | p50 ms | p99 ms | added p50 ms | req/s vs direct | "
        "errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in scenario["levels"]:
        direct = cells[("direct", level)]
        for name in scenario["targets"]:
            cell = cells[(name, level)]
            p50, base = cell.median("p50_ms"), direct.median("p50_ms")
            added = None if name == "direct" or p50 is None or base is None else p50 - base
            lines.append(
                f"| {name} | {level} | {fmt(cell.median('rps'))} | {fmt(p50)} | "
                f"{fmt(cell.median('p99_ms'))} | {fmt(added, 2) if added is not None else ''} | "
                f"{ratio(cell.median('rps'), direct.median('rps'))} | "
                f"{sum(cell.errors().values())} |"
            )
    lines.append(
        f"\nRaw bytes on the gRPC leg (asserted by the bench, one probe call through a "
        f"byte-counting relay): client to gateway {wire.to_gateway:,} bytes for "
        f"{wire.input_image_bytes:,} bytes of input images ({wire.input_ratio:.3f}x), gateway "
        f"to client {wire.from_gateway:,} bytes for a {wire.output_image_bytes:,}-byte image "
        f"({wire.output_ratio:.3f}x); base64 would be 1.33x or more.\n"
    )
    lines.append(
        f"Of the gateway's work, validating the two inputs (format sniffed, both fully decoded, "
        f"before any provider call) took {decode:.1f} ms per request (median, in-process, "
        "after the run); the rest is moving the bytes: 3 MB in over gRPC, the same 3 MB out "
        "as the multipart body, a digest of each input for the request log, 2 MB of base64 "
        "back and 1.5 MB out over gRPC. At concurrency 32 the gateway, the load generator "
        "and the upstream share the 2 cores, so that work bounds its throughput.\n"
    )
    return "\n".join(lines)


def splice_section(path: Path, title: str, text: str) -> None:
    """`## {title}` with `text` in the Markdown file at `path`: replacing the section of that
    title, or inserted before the first later section (the workers' and the notes)."""
    heading = f"## {title}\n"
    block = f"{heading}\n{text}\n"
    current = path.read_text() if path.exists() else ""
    marker = title.split(" ", 1)[0]  # "(f)": the title's words may change between runs
    start = next((i for i in _headings(current) if current.startswith(f"## {marker} ", i)), None)
    if start is not None:
        later = [i for i in _headings(current) if i > start]
        end = later[0] if later else len(current)
        path.write_text(current[:start] + block + current[end:])
        return
    later = [i for i in _headings(current) if not current.startswith("## (", i)]
    at = later[0] if later else len(current)
    path.write_text(current[:at] + block + current[at:])


def _headings(text: str) -> list[int]:
    found = [0] if text.startswith("## ") else []
    index = text.find("\n## ")
    while index >= 0:
        found.append(index + 1)
        index = text.find("\n## ", index + 1)
    return found
