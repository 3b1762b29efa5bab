"""Fetching an edit's input image from an `http(s)` URL, only from hosts the operator allows.

The door must not become a way to reach hosts its callers cannot (internal services, cloud
metadata addresses), so every URL — the caller's and each redirect's `Location` — is checked
against `server_settings.image_url_allowlist` before a connection is made to it. Redirects
are followed by hand for that reason (at most a few), and the body is read against a byte
bound while it arrives. Environment proxies and cookies are not used.

Errors name the field (`images[1].image_url`) and the host, never the whole URL: a signed
URL's query is a credential.
"""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from imagegen.errors import InvalidRequestError, invalid_field
from imagegen.images.url_allowlist import HostAllowlist

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ALLOWLIST_KEY = "server_settings.image_url_allowlist"


class ImageFetcher:
    """Fetches allowed image URLs over one connection pool (opened on first use)."""

    def __init__(self, allowlist: HostAllowlist, timeout_seconds: float) -> None:
        self.allowlist = allowlist
        self.timeout_seconds = timeout_seconds
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def checked(self, text: str, field: str) -> URL:
        """`text` as a URL this gateway may fetch; InvalidRequestError naming `field` if not.

        No connection is made here: this is the check that comes before any.
        """
        try:
            url = URL(text)
        except (ValueError, TypeError):
            raise invalid_field(field, "not a valid URL") from None
        return self._allowed(url, field)

    def _allowed(self, url: URL, field: str) -> URL:
        if url.scheme not in _DEFAULT_PORTS or not url.raw_host:
            raise invalid_field(field, "an image URL must be an http(s) URL or a data: URL")
        if url.user is not None or url.password is not None:
            raise invalid_field(field, "an image URL must not carry credentials")
        port = url.port or _DEFAULT_PORTS[url.scheme]
        if not self.allowlist.allows(url.raw_host, port):
            if not self.allowlist:
                raise invalid_field(
                    field,
                    "this gateway fetches no image URLs (none allowed in "
                    f"{_ALLOWLIST_KEY}): upload the image or send a data: URL",
                )
            raise invalid_field(
                field, f"host {url.raw_host[:253]!r} is not allowed by {_ALLOWLIST_KEY}"
            )
        return url

    async def fetch(self, url: URL, field: str, max_bytes: int) -> bytes:
        """The body of `url` (already `checked`), at most `max_bytes`; redirects are
        followed only to allowed hosts. Every failure is InvalidRequestError naming `field`."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._follow(url, field, max_bytes)
        except TimeoutError:
            raise invalid_field(
                field,
                f"fetching the image from {url.raw_host!r} took longer than "
                f"{self.timeout_seconds:g} s",
            ) from None
        except aiohttp.ClientError:
            raise invalid_field(
                field, f"the image could not be fetched from {url.raw_host!r}"
            ) from None

    async def _follow(self, url: URL, field: str, max_bytes: int) -> bytes:
        session = self._open()
        for _ in range(MAX_REDIRECTS + 1):
            async with session.get(url, allow_redirects=False) as response:
                if response.status in _REDIRECTS:
                    url = self._redirected(url, response.headers.get("Location"), field)
                    continue
                if response.status != 200:
                    raise invalid_field(
                        field,
                        f"fetching the image from {url.raw_host!r} answered HTTP {response.status}",
                    )
                return await _read_bounded(response, field, max_bytes)
        raise invalid_field(field, f"more than {MAX_REDIRECTS} redirects")

    def _redirected(self, url: URL, location: str | None, field: str) -> URL:
        if not location:
            raise invalid_field(field, "a redirect without a Location")
        try:
            target = url.join(URL(location))
        except (ValueError, TypeError):
            raise invalid_field(field, "a redirect to an invalid URL") from None
        try:
            return self._allowed(target, field)
        except InvalidRequestError as refused:
            raise invalid_field(field, f"redirected: {refused.message}") from None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                trust_env=False,  # no proxy from the environment: the host checked is the peer
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"Accept": "image/png, image/jpeg, image/webp"},
            )
        return self._session


async def _read_bounded(response: aiohttp.ClientResponse, field: str, max_bytes: int) -> bytes:
    too_large = f"the image is larger than the {max_bytes} bytes left for this request"
    if response.content_length is not None and response.content_length > max_bytes:
        raise invalid_field(field, too_large)
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > max_bytes:
            raise invalid_field(field, too_large)
    return bytes(data)
