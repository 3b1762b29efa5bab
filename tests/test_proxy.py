"""Provider calls honour HTTP(S)_PROXY and NO_PROXY, as an operator behind an egress proxy
expects, without aiohttp's per-request environment reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from imagegen.deadline import Deadline
from imagegen.errors import ProviderUnavailableError
from imagegen.providers.base import HttpRequest
from imagegen.providers.transport import HttpTransport

PROVIDER_URL = "http://images.provider.invalid/v1/images/generations"


class RecordingProxy:
    """A forward proxy that answers itself and records the absolute URLs it was asked for."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((str(request.url), request.headers.get("proxy-authorization")))
        return web.json_response({"created": 1, "data": []})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
async def proxy() -> AsyncIterator[RecordingProxy]:
    recording = RecordingProxy()
    await recording.start()
    yield recording
    assert recording.runner is not None
    await recording.runner.cleanup()


def request() -> HttpRequest:
    return HttpRequest("POST", PROVIDER_URL, {"authorization": "Bearer sk-x"}, {"prompt": "p"})


async def test_provider_calls_go_through_http_proxy(
    proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://ops:secret@"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    transport = HttpTransport()
    try:
        for _ in range(2):
            response = await transport.send(
                request(), deadline=Deadline.after(10), provider="openai"
            )
            assert response.status == 200
    finally:
        await transport.aclose()
    assert len(proxy.seen) == 2
    url, proxy_authorization = proxy.seen[0]
    assert url == PROVIDER_URL  # absolute-form: the proxy was asked for the provider's URL
    assert proxy_authorization is not None and proxy_authorization.startswith("Basic ")


async def test_no_proxy_hosts_are_called_directly(
    proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "provider.invalid")
    transport = HttpTransport()
    try:
        # Direct, to a host that cannot resolve: the call fails before anything is sent.
        with pytest.raises(ProviderUnavailableError) as raised:
            await transport.send(request(), deadline=Deadline.after(10), provider="openai")
    finally:
        await transport.aclose()
    assert raised.value.metadata.get("request_sent") == "false"
    assert proxy.seen == []
