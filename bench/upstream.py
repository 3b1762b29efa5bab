"""A fast fake OpenAI Images upstream for the benchmark.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length or chunked request bodies) on a raw
asyncio protocol to answer `POST .../images/generations` (and `.../images/edits`) with one
pre-encoded response, so the
upstream costs almost nothing next to whatever sits in front of it. The latency is part of the
path: `/lat/<ms>/v1/images/generations` answers after <ms> milliseconds, `/v1/...` at once, so
one process serves every scenario and every client is pointed at it with a plain `api_base`.

Run: python bench/upstream.py --port 0 --image-bytes 1500000  (prints "PORT <n>" when ready)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import signal
import sys

from PIL import Image


def make_png(target_bytes: int) -> bytes:
    """A real PNG of random noise (incompressible) of about `target_bytes` bytes."""
    side = max(8, int((target_bytes / 3) ** 0.5))
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    return out.getvalue()


def build_body(png: bytes) -> bytes:
    """The generations answer, in gpt-image-1's shape (b64_json, usage, size, quality)."""
    payload = {
        "created": 1_700_000_000,
        "data": [{"b64_json": base64.b64encode(png).decode("ascii")}],
        "size": "1024x1024",
        "quality": "high",
        "output_format": "png",
        "usage": {
            "input_tokens": 12,
            "output_tokens": 4160,
            "total_tokens": 4172,
            "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
        },
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def http_response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: requests are answered in order."""

    def __init__(self, answer: bytes, not_found: bytes) -> None:
        self._answer = answer
        self._not_found = not_found
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._pending: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in self._pending:
            handle.cancel()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._take_request():
            pass

    def _take_request(self) -> bool:
        """Answer one complete request from the buffer; False when more bytes are needed."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            consumed = _chunked_length(self._buffer, start)
            if consumed is None:
                return False
            del self._buffer[: start + consumed]
        else:
            length = int(headers.get("content-length", "0") or 0)
            if len(self._buffer) < start + length:
                return False
            del self._buffer[: start + length]
        self._answer_path(path)
        return True

    def _answer_path(self, path: str) -> None:
        delay = 0.0
        if path.startswith("/lat/"):
            ms, _, rest = path[5:].partition("/")
            delay = int(ms) / 1000
            path = "/" + rest
        if path.endswith(("/images/generations", "/images/edits")):
            # An edit's multipart body (its input images) has been read whole above; the
            # answer is the same image.
            answer = self._answer
        elif path == "/health":
            answer = http_response("200 OK", b"ok", "text/plain")
        else:
            answer = self._not_found
        if delay <= 0:
            self._write(answer)
        else:
            # A timer, not a task: 2,000 sleeping requests cost a heap entry each.
            self._pending.append(self._loop.call_later(delay, self._write, answer))

    def _write(self, answer: bytes) -> None:
        if self._pending and self._pending[0].when() <= self._loop.time():
            self._pending.pop(0)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(answer)


def _chunked_length(buffer: bytearray, start: int) -> int | None:
    """Bytes taken by a complete chunked body starting at `start`, or None if incomplete."""
    pos = start
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2 + size + 2
        if len(buffer) < pos:
            return None
        if size == 0:
            return pos - start


async def run(host: str, port: int, image_bytes: int) -> None:
    png = make_png(image_bytes)
    body = build_body(png)
    answer = http_response("200 OK", body)
    not_found = http_response("404 Not Found", b'{"error":{"message":"not found"}}')
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(answer, not_found), host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound} BODY {len(body)} PNG {len(png)}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--image-bytes", type=int, default=1_500_000)
    args = parser.parse_args()
    asyncio.run(run(args.host, args.port, args.image_bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
