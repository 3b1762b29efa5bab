"""A loopback HTTP server that hosts images and records every TCP connection made to it.

Raw asyncio (not aiohttp's server) so that a connection is recorded when it is accepted,
before any byte of a request arrives: a test can assert that the gateway never connected at
all, not only that it sent no request.

Paths:
    /image/<name>          the bytes registered under <name> (Content-Length)
    /chunked/<name>        the same bytes, chunked (no Content-Length)
    /redirect?to=<url>     302 to <url>
    anything else          404
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class ImageHost:
    images: dict[str, bytes] = field(default_factory=dict)
    connections: int = 0
    paths: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ImageHost:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode("latin-1")
            self.paths.append(target)
            writer.write(self._answer(target))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def _answer(self, target: str) -> bytes:
        parts = urlsplit(target)
        kind, _, name = parts.path.strip("/").partition("/")
        if kind == "image" and name in self.images:
            body = self.images[name]
            return _head("200 OK", f"content-length: {len(body)}\r\n") + body
        if kind == "chunked" and name in self.images:
            body = self.images[name]
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + 65536]), body[i : i + 65536])
                for i in range(0, len(body), 65536)
            )
            return _head("200 OK", "transfer-encoding: chunked\r\n") + chunks + b"0\r\n\r\n"
        if kind == "redirect":
            (location,) = parse_qs(parts.query)["to"]
            return _head("302 Found", f"location: {location}\r\ncontent-length: 0\r\n")
        return _head("404 Not Found", "content-length: 0\r\n")


def _head(status: str, headers: str) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: image/png\r\n{headers}connection: close\r\n\r\n"
    return head.encode()
