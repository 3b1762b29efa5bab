"""An OpenAI-shaped upstream that fails in one chosen way, at the socket level.

aiohttp cannot send a response that stalls half-way, resets mid-body or lies about its
length; a raw asyncio server can. Each connection reads one HTTP/1.1 request and answers
according to `fault` (see FAULTS), so the gateway meets the failure exactly as a real
network would show it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import struct
from types import TracebackType
from typing import Self

from tests.fakes.images import png_bytes

FAULTS = (
    "429_retry_after",
    "429",
    "500",
    "502",
    "503",
    "slow_headers",
    "slow_body",
    "reset_mid_body",
    "truncated_json",
    "wrong_content_type",
    "empty_image",
    "malformed_image",
    "never_answers",
)
# Long enough that any test deadline passes first.
STALL_SECONDS = 3600.0


def _error(status: int, reason: str, code: str) -> tuple[int, str, bytes, dict[str, str]]:
    body = {
        "error": {"message": f"fault injected: {code}", "type": code, "param": None, "code": code}
    }
    return status, reason, json.dumps(body).encode(), {}


class FaultyUpstream:
    """A loopback server answering every request with `fault`; use as an async context."""

    def __init__(self, fault: str) -> None:
        assert fault in FAULTS, fault
        self.fault = fault
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.base_url = ""

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        self.requests += 1
        fault = self.fault
        if fault == "never_answers" or fault == "slow_headers":
            await asyncio.sleep(STALL_SECONDS)
            return
        good = json.dumps(
            {
                "created": 1,
                "data": [{"b64_json": base64.b64encode(png_bytes(8, 8)).decode()}],
                "usage": _usage(),
            }
        ).encode()
        if fault in ("slow_body", "reset_mid_body"):
            writer.write(_head(200, "OK", "application/json", len(good)) + good[: len(good) // 2])
            await writer.drain()
            if fault == "slow_body":
                await asyncio.sleep(STALL_SECONDS)
                return
            # An RST, not a FIN: SO_LINGER with a zero timeout.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        status, reason, body, headers = self._canned(good)
        content_type = "text/html" if fault == "wrong_content_type" else "application/json"
        writer.write(_head(status, reason, content_type, len(body), headers) + body)
        await writer.drain()

    def _canned(self, good: bytes) -> tuple[int, str, bytes, dict[str, str]]:
        fault = self.fault
        if fault == "429_retry_after":
            status, reason, body, _ = _error(429, "Too Many Requests", "rate_limit_exceeded")
            return status, reason, body, {"retry-after": "1"}
        if fault == "429":
            return _error(429, "Too Many Requests", "rate_limit_exceeded")
        if fault == "500":
            return _error(500, "Internal Server Error", "server_error")
        if fault == "502":
            return 502, "Bad Gateway", b"<html>bad gateway</html>", {}
        if fault == "503":
            return _error(503, "Service Unavailable", "server_error")
        if fault == "truncated_json":
            return 200, "OK", good[: len(good) // 3], {}
        if fault == "wrong_content_type":
            return 200, "OK", b"<html><body>maintenance</body></html>", {}
        if fault == "empty_image":
            return 200, "OK", json.dumps({"created": 1, "data": [{"b64_json": ""}]}).encode(), {}
        if fault == "malformed_image":
            malformed = {"created": 1, "data": [{"b64_json": "!!not base64!!"}]}
            return 200, "OK", json.dumps(malformed).encode(), {}
        raise AssertionError(fault)


def _usage() -> dict[str, object]:
    return {
        "total_tokens": 272,
        "input_tokens": 10,
        "output_tokens": 262,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
    }


def _head(
    status: int, reason: str, content_type: str, length: int, headers: dict[str, str] | None = None
) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {reason}",
        f"content-type: {content_type}",
        f"content-length: {length}",
        "connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
