"""Fake Microsoft Entra ID token endpoint (an authority host), over TLS on loopback.

What MSAL (inside azure-identity) asks of an authority:

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` → the tenant's endpoints;
* ``POST /{tenant}/oauth2/v2.0/token`` (form body) with ``grant_type=client_credentials``,
  ``client_id``, ``scope`` and either ``client_secret`` (a service principal) or
  ``client_assertion`` + ``client_assertion_type`` (workload identity: a federated token).

A known client with the right secret (or assertion) gets ``access_token`` = ``token`` (which
the Azure fake accepts), ``expires_in`` = ``expires_in``; a wrong secret gets Entra's 401
``invalid_client`` (AADSTS7000215), an unknown tenant 400 ``invalid_request``
(AADSTS90002). azure-identity insists on an https authority, hence TLS; the test trusts
the CA through REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class TokenRequest:
    tenant: str
    form: dict[str, str]


@dataclass
class EntraFake:
    cert: Path
    key: Path
    tenant: str = "tenant-1"
    client_id: str = "client-1"
    client_secret: str = "s3cret-value-of-the-sp"
    federated_token: str = "federated-token-from-aks"
    token: str = "entra-test-token"
    expires_in: int = 3600
    requests: list[TokenRequest] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    base_url: str = ""

    async def __aenter__(self) -> EntraFake:
        app = web.Application(middlewares=[_close_connections])
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"https://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _known(self, tenant: str) -> bool:
        return tenant == self.tenant

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if not self._known(tenant):
            return _error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        base = f"{self.base_url}/{tenant}"
        document: dict[str, Any] = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "issuer": f"{base}/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        }
        return web.json_response(document)

    async def _token(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(TokenRequest(tenant, form))
        if not self._known(tenant):
            return _error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type")
        if form.get("client_id") != self.client_id:
            return _error(400, "unauthorized_client", "AADSTS700016: Application not found.")
        if "client_assertion" in form:
            ok = (
                form.get("client_assertion_type") == ASSERTION_TYPE
                and form["client_assertion"] == self.federated_token
            )
        else:
            ok = form.get("client_secret") == self.client_secret
        if not ok:
            return _error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if not form.get("scope", "").endswith("/.default"):
            return _error(400, "invalid_scope", "AADSTS1002012: The provided value for scope")
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "ext_expires_in": self.expires_in,
                "access_token": self.token,
            }
        )


@web.middleware
async def _close_connections(request: web.Request, handler: Any) -> web.StreamResponse:
    # One connection per exchange: azure-identity's pooled connection would otherwise
    # outlive the fake (and the test) as an unclosed socket.
    response: web.StreamResponse = await handler(request)
    response.force_close()
    return response


def _error(status: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description, "error_codes": [7000215]},
        status=status,
    )
