"""The one HTTP client every provider call goes through.

It owns the process-wide `httpx.AsyncClient` pool, turns the call's deadline into
the request timeout, measures time spent waiting on providers (so the gateway can
report its own overhead), and maps every httpx failure to the error tree in one
function, `map_transport_error`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

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

DEFAULT_LIMITS = httpx.Limits(
    max_connections=2000, max_keepalive_connections=200, keepalive_expiry=30
)
DEFAULT_CONNECT_TIMEOUT = 10.0
# Image generation responses carry several MB of base64; refuse absurd bodies rather than
# letting one misbehaving upstream take the process's memory.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A provider's answer, fully read."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> object:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.content)
        except ValueError:
            return None

    def text(self, limit: int = 2000) -> str:
        return self.content[:limit].decode("utf-8", errors="replace")


class StreamingResponse:
    """A provider's answer whose body is read as it arrives (server-sent events)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = dict(response.headers)

    def lines(self) -> AsyncIterator[str]:
        return self._response.aiter_lines()

    async def read(self) -> HttpResponse:
        """The whole body (for error answers, which are not streamed)."""
        content = await self._response.aread()
        return HttpResponse(self.status, self.headers, content[:MAX_RESPONSE_BYTES])


class HttpTransport:
    """Sends provider requests over one shared connection pool."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(limits=DEFAULT_LIMITS, follow_redirects=False)
        self.provider_seconds_total = 0.0

    async def send(
        self, request: HttpRequest, *, deadline: Deadline, provider: str
    ) -> HttpResponse:
        """Send `request` within what is left of `deadline`."""
        body, headers, timeout = _prepare(request, deadline)
        started = time.monotonic()
        try:
            response = await self._client.request(
                request.method, request.url, content=body, headers=headers, timeout=timeout
            )
            content = response.content
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # InvalidURL (e.g. "http://[::1") is not an HTTPError but is raised by request().
            raise map_transport_error(exc, provider=provider, deadline=deadline) from None
        finally:
            self.provider_seconds_total += time.monotonic() - started
        _refuse_redirect(response.status_code, provider)
        if len(content) > MAX_RESPONSE_BYTES:
            raise ProviderBadResponseError(
                "the provider's response is too large", provider=provider
            )
        return HttpResponse(response.status_code, dict(response.headers), content)

    @asynccontextmanager
    async def stream(
        self, request: HttpRequest, *, deadline: Deadline, provider: str
    ) -> AsyncIterator[StreamingResponse]:
        """Send `request` and read the answer as it arrives, within `deadline`.

        httpx failures while reading are mapped like `send`'s; leaving the block early
        (the caller cancelled) closes the connection, which aborts the upstream request.
        """
        body, headers, timeout = _prepare(request, deadline)
        started = time.monotonic()
        try:
            async with self._client.stream(
                request.method, request.url, content=body, headers=headers, timeout=timeout
            ) as response:
                _refuse_redirect(response.status_code, provider)
                yield StreamingResponse(response)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise map_transport_error(exc, provider=provider, deadline=deadline) from None
        finally:
            self.provider_seconds_total += time.monotonic() - started

    async def aclose(self) -> None:
        await self._client.aclose()


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


def encode_body(request: HttpRequest) -> bytes:
    """The exact bytes sent for `request` (adapters that sign the body sign these)."""
    return json.dumps(request.json, separators=(",", ":")).encode()


def _prepare(
    request: HttpRequest, deadline: Deadline
) -> tuple[bytes, dict[str, str], httpx.Timeout]:
    remaining = deadline.remaining()
    if remaining <= 0:
        raise DeadlineExceededError("the deadline passed before the provider was called")
    timeout = httpx.Timeout(remaining, connect=min(remaining, DEFAULT_CONNECT_TIMEOUT))
    headers = {"content-type": "application/json", **request.headers}
    return encode_body(request), headers, timeout


def map_transport_error(exc: Exception, *, provider: str, deadline: Deadline) -> ImageGenError:
    """The gateway error for any exception httpx raises. Never includes the exception text.

    Errors raised before the request left (no connection, no pool slot, a bad URL) carry
    `request_sent: false` in their metadata: the provider cannot have billed, and a caller
    may retry without fear of paying twice.
    """
    not_sent = {"request_sent": "false"}
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        if deadline.expired:
            return DeadlineExceededError(
                "the deadline passed before the provider could be reached", metadata=not_sent
            )
        return ProviderUnavailableError(
            "timed out connecting to the provider", provider=provider, metadata=not_sent
        )
    if isinstance(exc, httpx.TimeoutException):
        if deadline.expired:
            return DeadlineExceededError("the deadline passed while waiting for the provider")
        return ProviderTimeoutError("the provider did not answer in time", provider=provider)
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return ProviderUnavailableError(
            "could not connect to the provider", provider=provider, metadata=not_sent
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return InvalidRequestError("the provider URL is not a valid http(s) URL", metadata=not_sent)
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects):
        return ProviderBadResponseError(
            "the provider's response could not be read", provider=provider
        )
    if isinstance(exc, httpx.TransportError):
        # ReadError, WriteError, RemoteProtocolError, CloseError, LocalProtocolError...
        return ProviderUnavailableError("the connection to the provider failed", provider=provider)
    return ProviderUnavailableError("the provider call failed", provider=provider)
