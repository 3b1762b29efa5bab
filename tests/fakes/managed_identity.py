"""Fake managed-identity endpoint of an Azure App Service host, on loopback.

App Service gives a process IDENTITY_ENDPOINT (a local http URL) and IDENTITY_HEADER (a
secret); azure-identity's managed identity credential asks
``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=<id>]`` with
``X-IDENTITY-HEADER: <secret>`` and gets ``access_token``, ``expires_on`` (epoch seconds),
``resource`` and ``token_type``. A wrong header is 401; an unknown user-assigned client id
is 400, as App Service answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

API_VERSION = "2019-08-01"


@dataclass
class IdentityRequest:
    query: dict[str, str]
    header: str | None


@dataclass
class ManagedIdentityFake:
    header_secret: str = "identity-header-secret"
    token: str = "managed-identity-token"
    client_ids: tuple[str, ...] = ("user-assigned-1",)
    """User-assigned identities of the host (the system-assigned one needs no id)."""
    expires_in: int = 3600
    requests: list[IdentityRequest] = field(default_factory=list)
    endpoint: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> ManagedIdentityFake:
        app = web.Application()
        app.router.add_get("/msi/token", self._token)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.endpoint = f"http://127.0.0.1:{self._runner.addresses[0][1]}/msi/token"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        header = request.headers.get("X-IDENTITY-HEADER")
        self.requests.append(IdentityRequest(query, header))
        if header != self.header_secret:
            return web.json_response({"error": "unauthorized"}, status=401)
        if query.get("api-version") != API_VERSION or not query.get("resource"):
            return web.json_response({"error": "invalid_request"}, status=400)
        client = query.get("client_id")
        if client is not None and client not in self.client_ids:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Identity not found"},
                status=400,
            )
        return web.json_response(
            {
                "access_token": self.token,
                "expires_on": str(int(time.time()) + self.expires_in),
                "resource": query["resource"],
                "token_type": "Bearer",
                "client_id": client or "system-assigned",
            }
        )
