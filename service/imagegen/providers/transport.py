"""The one HTTP client every provider call goes through.

It owns the process-wide aiohttp connection pool, turns the call's deadline into the
request timeout, measures time spent waiting on providers (so the gateway can report its
own overhead), and maps every client failure to the error tree in one function,
`map_transport_error`.

aiohttp rather than httpx: its C HTTP parser reads a multi-MB image answer in one piece
for a fifth of httpx's CPU (bench/RESULTS.md), and answers are images of 1-8 MB.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.request import proxy_bypass

import aiohttp
import yarl
from aiohttp.helpers import ProxyInfo, proxies_from_env

from imagegen import memory
from imagegen.deadline import Deadline
from imagegen.errors import (
    DeadlineExceededError,
    ImageGenError,
    InvalidRequestError,
    ProviderBadResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegen.providers import url_redaction
from imagegen.providers.base import HttpRequest

url_redaction.install()

MAX_CONNECTIONS = 2000
KEEPALIVE_SECONDS = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
# Image generation responses carry several MB of base64; refuse absurd bodies rather than
# letting one misbehaving upstream take the process's memory.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
# aiohttp's read-ahead per connection: an answer waiting for the memory budget holds about
# this much (x2, its pause threshold) in the process, the rest stays in the socket. With
# aiohttp's default (64 KiB) an unread 2 MB answer held ~700 KB; with 16 KiB, ~130 KB
# (bench/RESULTS.md, scenario e), for ~0.1 ms more CPU per 2 MB answer read.
READ_BUFFER_BYTES = 16 * 1024
# Hosts whose proxy decision is remembered; callers' own api_base values could be many.
MAX_REMEMBERED_HOSTS = 1024


def json_or_none(content: bytes) -> object:
    """`content` parsed as JSON, or None when it is not JSON."""
    try:
        return json.loads(content)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A provider's answer, fully read."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> object:
        """The body as JSON, or None when it is not JSON."""
        return json_or_none(self.content)

    def text(self, limit: int = 2000) -> str:
        return self.content[:limit].decode("utf-8", errors="replace")


def _headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined with ", " (as httpx did)."""
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


async def _read_body(response: aiohttp.ClientResponse, deadline: Deadline) -> bytes:
    """The whole body, read only within the call's memory lease (see imagegen.memory).

    With a Content-Length the bytes are taken before the first is read; without one, each
    piece is taken before the next is read. Until then the body waits in the socket, and
    TCP flow control holds the provider back."""
    image = _is_image(response)
    length = response.content_length
    if length is not None or memory.current() is None:
        await memory.take_body(length or 0, image=image, deadline=deadline)
        return await response.read()
    chunks: list[bytes] = []
    async for chunk in response.content.iter_any():
        chunks.append(chunk)
        await memory.take_body(len(chunk), image=image, deadline=deadline)
    return b"".join(chunks)


def _is_image(response: aiohttp.ClientResponse) -> bool:
    # An image body is the image; anything else (JSON, SSE) carries base64 to be decoded.
    return response.content_type.startswith("image/")


class StreamingResponse:
    """A provider's answer whose body is read as it arrives (server-sent events)."""

    def __init__(self, response: aiohttp.ClientResponse, deadline: Deadline) -> None:
        self._response = response
        self._deadline = deadline
        self._image = _is_image(response)
        self.status = response.status
        self.headers: Mapping[str, str] = _headers(response)

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, without their line ends (\n, \r\n or \r).

        Split here rather than with aiohttp's readline, which refuses lines longer than its
        read buffer, and an SSE `data:` line carries a whole base64 image.
        """
        pending = b""
        async for chunk in self._response.content.iter_any():
            # Each piece is counted before the next is read (streams respect the budget).
            await memory.take_body(len(chunk), image=self._image, deadline=self._deadline)
            pending += chunk
            *complete, pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            for line in complete:
                yield line.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")

    async def read(self) -> HttpResponse:
        """The whole body (for error answers, which are not streamed)."""
        content = await _read_body(self._response, self._deadline)
        return HttpResponse(self.status, self.headers, content[:MAX_RESPONSE_BYTES])

    async def read_at_most(self, limit: int) -> bytes | None:
        """The body, or None as soon as it is longer than `limit` bytes (a result file from
        a provider's delivery host: refused before it is held in memory)."""
        length = self._response.content_length
        if length is not None and length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in self._response.content.iter_any():
            await memory.take_body(len(chunk), image=self._image, deadline=self._deadline)
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


class HttpTransport:
    """Sends provider requests over one shared connection pool.

    The pool is made on first use, on the running event loop (aiohttp sessions belong to
    one loop)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies = EnvironmentProxies()
        self.provider_seconds_total = 0.0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
            )
            # Not trust_env: with it aiohttp reads ~/.netrc and the proxy variables on a
            # worker thread for every request (two thread hops, a fifth of the gateway's
            # CPU under load: bench/NOTES.md). Proxies are chosen by EnvironmentProxies.
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=True,
                read_bufsize=READ_BUFFER_BYTES,
            )
        return self._session

    async def send(
        self, request: HttpRequest, *, deadline: Deadline, provider: str
    ) -> HttpResponse:
        """Send `request` within what is left of `deadline`."""
        body, headers, timeout = _prepare(request, deadline)
        started = time.monotonic()
        try:
            url = _url(request.url)
            async with self._client().request(
                request.method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                **self._proxies.arguments(url, headers),
            ) as response:
                length = response.content_length
                if length is not None and length > MAX_RESPONSE_BYTES:
                    raise ProviderBadResponseError(
                        "the provider's response is too large", provider=provider
                    )
                content = await _read_body(response, deadline)
                status, response_headers = response.status, _headers(response)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_transport_error(exc, provider=provider, deadline=deadline) from None
        finally:
            self.provider_seconds_total += time.monotonic() - started
        _refuse_redirect(status, provider)
        if len(content) > MAX_RESPONSE_BYTES:
            raise ProviderBadResponseError(
                "the provider's response is too large", provider=provider
            )
        return HttpResponse(status, response_headers, content)

    @asynccontextmanager
    async def stream(
        self, request: HttpRequest, *, deadline: Deadline, provider: str
    ) -> AsyncIterator[StreamingResponse]:
        """Send `request` and read the answer as it arrives, within `deadline`.

        Client failures while reading are mapped like `send`'s; leaving the block early
        (the caller cancelled) closes the connection, which aborts the upstream request.
        """
        body, headers, timeout = _prepare(request, deadline)
        started = time.monotonic()
        try:
            url = _url(request.url)
            async with self._client().request(
                request.method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                **self._proxies.arguments(url, headers),
            ) as response:
                _refuse_redirect(response.status, provider)
                try:
                    yield StreamingResponse(response, deadline)
                except BaseException:
                    # Not back to the pool half-read: the upstream must see the abort.
                    response.close()
                    raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_transport_error(exc, provider=provider, deadline=deadline) from None
        finally:
            self.provider_seconds_total += time.monotonic() - started

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _refuse_redirect(status: int, provider: str) -> None:
    # Redirects are never followed: the configured api_base is the only host a provider call
    # may reach, and a redirect could send the credentials on to another host (SSRF). The
    # provider generated nothing, so the call costs nothing (the upstream status says so).
    if 300 <= status < 400:
        raise ProviderBadResponseError(
            f"the provider answered with a redirect ({status}); redirects are not followed",
            provider=provider,
            upstream_status=status,
        )


class EnvironmentProxies:
    """The proxy for each provider URL, from HTTPS_PROXY / HTTP_PROXY and
    NO_PROXY (as curl and httpx read them), decided once per scheme and host."""

    def __init__(self) -> None:
        self._proxies: dict[str, ProxyInfo] | None = None
        self._chosen: dict[tuple[str, str], tuple[yarl.URL | None, str | None]] = {}

    def arguments(self, url: yarl.URL, headers: dict[str, str]) -> dict[str, Any]:
        """The request arguments that send `url` through its proxy (none: direct).

        Proxy credentials go on the CONNECT for https targets; a plain-http request is sent
        to the proxy itself, so they go in `headers`."""
        proxy, authorization = self._choose(url)
        if proxy is None:
            return {}
        if authorization is None:
            return {"proxy": proxy}
        if url.scheme == "https":
            return {"proxy": proxy, "proxy_headers": {"Proxy-Authorization": authorization}}
        headers["Proxy-Authorization"] = authorization
        return {"proxy": proxy}

    def _choose(self, url: yarl.URL) -> tuple[yarl.URL | None, str | None]:
        key = (url.scheme, url.host or "")
        chosen = self._chosen.get(key)
        if chosen is None:
            if self._proxies is None:
                self._proxies = proxies_from_env()
            info = self._proxies.get(url.scheme)
            chosen = (None, None)
            if info is not None and not proxy_bypass(url.host or ""):
                auth = info.proxy_auth.encode() if info.proxy_auth is not None else None
                chosen = (info.proxy, auth)
            if len(self._chosen) < MAX_REMEMBERED_HOSTS:
                self._chosen[key] = chosen
        return chosen


def encode_body(request: HttpRequest) -> bytes:
    """The exact bytes sent for `request` (adapters that sign the body sign these)."""
    if request.body is not None:
        return request.body
    return json.dumps(request.json, separators=(",", ":")).encode()


def _url(url: str) -> yarl.URL:
    """The URL exactly as the adapter wrote it: a re-quoted path would break signatures
    computed over it (SigV4 signs the path with its `:` as `%3A`)."""
    try:
        parsed = yarl.URL(url, encoded=True)
    except (ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidRequestError("the provider URL is not a valid http(s) URL", request_sent=False)
    return parsed


def _prepare(
    request: HttpRequest, deadline: Deadline
) -> tuple[bytes, dict[str, str], aiohttp.ClientTimeout]:
    remaining = deadline.remaining()
    if remaining <= 0:
        raise DeadlineExceededError("the deadline passed before the provider was called")
    # `connect` covers waiting for a pool slot and connecting: nothing has been sent yet.
    timeout = aiohttp.ClientTimeout(
        total=remaining, connect=min(remaining, DEFAULT_CONNECT_TIMEOUT)
    )
    if request.method in _BODYLESS_METHODS:
        # Job status and result-file fetches (polling providers) carry no body.
        return b"", dict(request.headers), timeout
    if request.body is not None:
        return request.body, dict(request.headers), timeout
    headers = {"content-type": "application/json", **request.headers}
    return encode_body(request), headers, timeout


_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE"})


def map_transport_error(exc: Exception, *, provider: str, deadline: Deadline) -> ImageGenError:
    """The gateway error for any exception the HTTP client raises. Never includes its text.

    Errors raised before the request left (no connection, no pool slot, a bad URL) carry
    `request_sent=False` (ErrorInfo metadata `request_sent: false`): the provider cannot
    have billed, and a caller may retry without fear of paying twice.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        if deadline.expired:
            return DeadlineExceededError(
                "the deadline passed before the provider could be reached", request_sent=False
            )
        return ProviderUnavailableError(
            "timed out connecting to the provider", provider=provider, request_sent=False
        )
    if isinstance(exc, TimeoutError):
        # aiohttp's SocketTimeoutError, ServerTimeoutError and the total timeout.
        if deadline.expired:
            return DeadlineExceededError("the deadline passed while waiting for the provider")
        return ProviderTimeoutError("the provider did not answer in time", provider=provider)
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Refused, DNS, TLS handshake, proxy: the request did not leave.
        return ProviderUnavailableError(
            "could not connect to the provider", provider=provider, request_sent=False
        )
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return InvalidRequestError(
            "the provider URL is not a valid http(s) URL", request_sent=False
        )
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.RedirectClientError):
        # A status line or headers that are not HTTP, a bad content encoding.
        return ProviderBadResponseError(
            "the provider's response could not be read", provider=provider
        )
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        # Reset, disconnected mid-answer, a body cut short.
        return ProviderUnavailableError("the connection to the provider failed", provider=provider)
    return ProviderUnavailableError("the provider call failed", provider=provider)
