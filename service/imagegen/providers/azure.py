"""Azure OpenAI adapter (`azure/<deployment>`).

Wire format: Azure OpenAI's REST reference; what a user sees is in docs/providers/azure.md.
Two routes:

- deployment route: `POST {api_base}/openai/deployments/{deployment}/images/generations
  ?api-version={api_version}`; the body carries no `model` (sending the deployment name
  there breaks some models, e.g. gpt-image-2);
- v1 route (`api_version` "v1", "preview" or "latest", or an api_base ending in
  `/openai/v1`): `POST {api_base}/openai/v1/images/generations`, the body's `model` is
  the deployment name.

Auth is the `api-key` header, or an Entra ID token as `Authorization: Bearer`: a fixed one
(`azure_ad_token`), or one azure-identity fetches and refreshes for a service principal
(`tenant_id`, `client_id`, `client_secret`) or, with `enable_azure_ad_token_refresh`, for the
default Azure credential (managed / workload identity); see `azure_auth.py`.
The model's rules come from `base_model` (config `model_info.base_model`), or from the
deployment name when it names a known model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar
from urllib.parse import quote, urlencode

from imagegen.errors import ImageGenError, PermissionDeniedError, ProviderNotConfiguredError
from imagegen.providers.azure_auth import (
    EntraSource,
    EntraTokenSource,
    entra_source,
    missing_parts,
)
from imagegen.providers.base import (
    Endpoint,
    HttpProvider,
    HttpRequest,
    ModelSpec,
    ProviderCall,
    ProviderEvent,
)
from imagegen.providers.openai import (
    openai_body,
    parse_openai_error,
    parse_openai_images,
    stream_openai_events,
)
from imagegen.providers.openai_edits import send_openai_edit, stream_openai_edit_events
from imagegen.providers.openai_models import azure_spec
from imagegen.providers.transport import HttpResponse, HttpTransport
from imagegen.types import ProviderResult

_V1_VERSIONS = frozenset({"v1", "preview", "latest"})


class AzureProvider(HttpProvider):
    """Azure OpenAI / Microsoft Foundry image deployments."""

    name: ClassVar[str] = "azure"
    env_api_key: ClassVar[tuple[str, ...]] = ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT")
    env_api_version: ClassVar[tuple[str, ...]] = ("AZURE_API_VERSION",)
    # LiteLLM's names for Entra ID credentials.
    _ENTRA_OPTIONS: ClassVar[tuple[str, ...]] = (
        "azure_ad_token",
        "tenant_id",
        "client_id",
        "client_secret",
        "azure_scope",
        "enable_azure_ad_token_refresh",
    )
    endpoint_options: ClassVar[tuple[str, ...]] = _ENTRA_OPTIONS
    credential_options: ClassVar[tuple[str, ...]] = _ENTRA_OPTIONS

    def __init__(self) -> None:
        self._sources: dict[EntraSource, EntraTokenSource] = {}

    def spec_for(self, model: str) -> ModelSpec:
        return azure_spec(model)

    def api_base(self, endpoint: Endpoint) -> str:
        base = (endpoint.api_base or "").rstrip("/")
        for suffix in ("/openai/v1", "/openai"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        return base

    def _uses_v1_route(self, endpoint: Endpoint) -> bool:
        return (endpoint.api_version or "") in _V1_VERSIONS or (endpoint.api_base or "").rstrip(
            "/"
        ).endswith("/openai/v1")

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        problems = []
        if not endpoint.api_base:
            problems.append("api_base (or AZURE_API_BASE)")
        entra = entra_source(endpoint.options)
        if entra is not None and missing_parts(entra):
            problems.append(
                "an Entra ID service principal needs tenant_id, client_id and client_secret "
                f"(missing: {', '.join(missing_parts(entra))})"
            )
        elif not endpoint.api_key and not endpoint.options.get("azure_ad_token") and not entra:
            problems.append(
                "api_key (or AZURE_API_KEY), azure_ad_token, or an Entra ID service principal "
                "(tenant_id, client_id, client_secret)"
            )
        if not self._uses_v1_route(endpoint) and not endpoint.api_version:
            problems.append(
                "api_version (or AZURE_API_VERSION), or api_version: v1 for the v1 route"
            )
        if problems:
            raise ProviderNotConfiguredError(
                f"azure/{model} needs " + "; ".join(problems),
                metadata={"provider": self.name, "model": model},
            )

    def token_source(self, endpoint: Endpoint) -> EntraTokenSource | None:
        """The Entra token source of `endpoint`'s credential (None: a key or a fixed token)."""
        if endpoint.api_key or endpoint.options.get("azure_ad_token"):
            return None
        source = entra_source(endpoint.options)
        if source is None:
            return None
        existing = self._sources.get(source)
        if existing is None:
            existing = self._sources[source] = EntraTokenSource(source, provider=self.name)
        return existing

    async def generate(self, call: ProviderCall, transport: HttpTransport) -> ProviderResult:
        if call.edit is not None:
            # Both routes speak OpenAI's edits dialect beside their generations URL.
            return await send_openai_edit(self, call, call.edit, transport)
        request = await self.prepare(call)
        response = await transport.send(request, deadline=call.deadline, provider=self.name)
        tokens = self.token_source(call.endpoint)
        if response.status == 401 and tokens is not None:
            # The token may have been revoked before its expiry: one try with a fresh one.
            tokens.invalidate(request.headers.get("authorization", "").removeprefix("Bearer "))
            request = await self.prepare(call)
            response = await transport.send(request, deadline=call.deadline, provider=self.name)
        if response.status >= 400:
            raise self.parse_error(call, response)
        return self.parse_response(call, response)

    async def prepare(self, call: ProviderCall) -> HttpRequest:
        request = self.build_request(call)
        tokens = self.token_source(call.endpoint)
        if tokens is None:
            return request
        if call.endpoint.caller_api_base:
            raise PermissionDeniedError(
                "this server does not send its Entra ID tokens to an api_base chosen by the "
                "caller; send an api_key with it, or leave api_base unset",
                metadata={"field": "api_base"},
                request_sent=False,
            )
        token = await tokens.token(call.deadline)
        headers = {**request.headers, "authorization": f"Bearer {token}"}
        return HttpRequest(request.method, request.url, headers, request.json)

    def build_request(self, call: ProviderCall) -> HttpRequest:
        """URL, body and a key's auth; `prepare` adds an Entra ID token when one is fetched."""
        endpoint = call.endpoint
        headers: dict[str, str] = {}
        if endpoint.api_key:
            headers["api-key"] = endpoint.api_key
        elif endpoint.options.get("azure_ad_token"):
            headers["authorization"] = f"Bearer {endpoint.options['azure_ad_token']}"
        base = self.api_base(endpoint)
        deployment = call.provider_model
        if self._uses_v1_route(endpoint):
            url = f"{base}/openai/v1/images/generations"
            if endpoint.api_version and endpoint.api_version != "v1":
                url += "?" + urlencode({"api-version": endpoint.api_version})
            body = openai_body(call, include_model=True)
        else:
            url = (
                f"{base}/openai/deployments/{quote(deployment, safe='')}/images/generations?"
                + urlencode({"api-version": endpoint.api_version or ""})
            )
            body = openai_body(call, include_model=False)
        return HttpRequest(method="POST", url=url, headers=headers, json=body)

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        return parse_openai_images(call, response, provider=self.name)

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        return parse_openai_error(call, response, provider=self.name)

    def stream_events(
        self, call: ProviderCall, transport: HttpTransport
    ) -> AsyncIterator[ProviderEvent]:
        if call.edit is not None:
            return stream_openai_edit_events(self, call, call.edit, transport)
        return stream_openai_events(self, call, transport)
