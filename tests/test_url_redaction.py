"""Credentials in URLs never reach a log line through the HTTP client's request logging."""

from __future__ import annotations

import httpx
import pytest
from aiohttp import web

from imagegen.providers import transport  # noqa: F401  (installs the filter, as the gateway does)
from imagegen.providers.url_redaction import redact_url_secrets


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://g.example/v1beta/m:generateContent?key=AIzaSECRET",
            "https://g.example/v1beta/m:generateContent?key=[redacted]",
        ),
        (
            "https://blob.example/i.png?se=2026&sig=abc%2Bdef&sp=r",
            "https://blob.example/i.png?se=2026&sig=[redacted]&sp=r",
        ),
        ("https://user:pa55@host.example/v1", "https://[redacted]@host.example/v1"),
        ("https://host.example/v1/images?n=2", "https://host.example/v1/images?n=2"),
    ],
)
def test_url_credentials_are_blanked(url: str, expected: str) -> None:
    assert redact_url_secrets(url) == expected


async def test_httpx_request_log_line_carries_no_query_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        with caplog.at_level("INFO", logger="httpx"):
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{port}/?key=super-secret-value&n=1")
    finally:
        await runner.cleanup()
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert lines, "httpx logged no request line"
    assert all("super-secret-value" not in line for line in lines)
    assert any("key=[redacted]&n=1" in line for line in lines)
