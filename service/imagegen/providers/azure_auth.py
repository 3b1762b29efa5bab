"""Microsoft Entra ID access tokens for Azure OpenAI, through azure-identity.

The credentials LiteLLM configures for an `azure/` deployment:

- a service principal: `tenant_id`, `client_id`, `client_secret` (ClientSecretCredential);
- `litellm_settings.enable_azure_ad_token_refresh: true` with no key: azure-identity's
  DefaultAzureCredential, which covers managed identity, AKS workload identity
  (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE) and the environment's
  service principal; with `client_id` alone, that user-assigned managed identity.

Scope: `azure_scope`, by default Cognitive Services'. The authority host is azure-identity's
(AZURE_AUTHORITY_HOST, e.g. a sovereign cloud); a host of one's own skips MSAL's instance
discovery, which only knows Microsoft's hosts.

As for Vertex (`google_auth.py`): tokens are cached and refreshed ahead of expiry, never per
request; azure-identity does blocking HTTP, so refreshes run in a worker thread; concurrent
requests share one refresh (single flight, each waiter bounded by its own deadline). Errors
say nothing was sent to the provider and never carry the secret or the token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import (
    ClientSecretCredential,
    CredentialUnavailableError,
    DefaultAzureCredential,
)

from imagegen.deadline import Deadline
from imagegen.errors import (
    DeadlineExceededError,
    ProviderAuthenticationError,
    ProviderNotConfiguredError,
    ProviderUnavailableError,
    redact_secrets,
)

log = logging.getLogger(__name__)

DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
REFRESH_MARGIN_SECONDS = 300.0
_MAX_REASON_CHARS = 200
# Microsoft's own authority hosts: MSAL's instance discovery knows these.
_KNOWN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)


class _Credential(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class EntraSource:
    """Which Entra credential, hashable: one token source per distinct credential."""

    kind: str
    """"client_secret" (a service principal) or "default" (DefaultAzureCredential)."""
    scope: str = DEFAULT_SCOPE
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)

    def describe(self) -> str:
        """Safe to show: never the secret."""
        if self.kind == "client_secret":
            return (
                f"the service principal {self.client_id[:64]!r} of tenant {self.tenant_id[:64]!r}"
            )
        if self.client_id:
            return f"the managed identity {self.client_id[:64]!r} (DefaultAzureCredential)"
        return "the default Azure credential (managed or workload identity, or the environment)"


def entra_source(options: Any) -> EntraSource | None:
    """The Entra credential a deployment's options name, if any (LiteLLM's option names)."""
    scope = options.get("azure_scope") or DEFAULT_SCOPE
    ids = [options.get(name) for name in ("tenant_id", "client_id", "client_secret")]
    if options.get("enable_azure_ad_token_refresh") and ids[1] and not ids[0] and not ids[2]:
        # client_id alone beside the default credential: a user-assigned managed identity.
        return EntraSource("default", str(scope), client_id=str(ids[1]))
    if any(ids):
        tenant, client, secret = (str(v) if v else "" for v in ids)
        return EntraSource("client_secret", str(scope), tenant, client, secret)
    if options.get("enable_azure_ad_token_refresh"):
        return EntraSource("default", str(scope))
    return None


def missing_parts(source: EntraSource) -> list[str]:
    """What a service principal lacks (empty when complete)."""
    if source.kind != "client_secret":
        return []
    names = ("tenant_id", "client_id", "client_secret")
    values = (source.tenant_id, source.client_id, source.client_secret)
    return [name for name, value in zip(names, values, strict=True) if not value]


def _authority_kwargs() -> dict[str, Any]:
    host = os.environ.get("AZURE_AUTHORITY_HOST", "")
    bare = host.removeprefix("https://").rstrip("/")
    if bare and bare not in _KNOWN_HOSTS:
        return {"disable_instance_discovery": True}
    return {}


def _make_credential(source: EntraSource) -> _Credential:
    if source.kind == "client_secret":
        return ClientSecretCredential(
            source.tenant_id, source.client_id, source.client_secret, **_authority_kwargs()
        )
    if source.client_id:
        return DefaultAzureCredential(
            managed_identity_client_id=source.client_id, **_authority_kwargs()
        )
    return DefaultAzureCredential(**_authority_kwargs())


@dataclass(frozen=True, slots=True)
class _Fetched:
    token: str
    expires_on: float
    fetched_at: float


class EntraTokenSource:
    """Cached, single-flight Entra access tokens for one credential."""

    def __init__(
        self,
        source: EntraSource,
        *,
        provider: str,
        factory: Callable[[EntraSource], _Credential] = _make_credential,
    ) -> None:
        self.source = source
        self.provider = provider
        #: The clock freshness is judged by; replaceable so tests can move time.
        self.clock: Callable[[], float] = time.time
        #: How many times a token was fetched from Entra.
        self.fetches = 0
        self._factory = factory
        self._credential: _Credential | None = None
        self._current: _Fetched | None = None
        self._refreshing: asyncio.Task[_Fetched] | None = None

    async def token(self, deadline: Deadline) -> str:
        """A valid token, refreshed first when missing or about to expire."""
        current = self._current
        if current is None or not self._fresh(current):
            current = await self._await_refresh(deadline)
        return current.token

    def invalidate(self, token: str) -> None:
        """Forget `token` (Azure rejected it) unless a newer one replaced it already."""
        if self._current is not None and self._current.token == token:
            self._current = None

    def _fresh(self, current: _Fetched) -> bool:
        lifetime = current.expires_on - current.fetched_at
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 4)
        return self.clock() < current.expires_on - margin

    async def _await_refresh(self, deadline: Deadline) -> _Fetched:
        loop = asyncio.get_running_loop()
        task = self._refreshing
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._refreshing = loop.create_task(self._refresh())
            task.add_done_callback(_retrieve)
        remaining = deadline.remaining()
        if remaining <= 0:
            raise DeadlineExceededError(
                "the deadline passed before an Entra ID token was fetched", request_sent=False
            )
        try:
            # Shielded: a waiter whose deadline passes leaves the refresh to the others.
            return await asyncio.wait_for(asyncio.shield(task), remaining)
        except TimeoutError:
            raise DeadlineExceededError(
                "the deadline passed while fetching an Entra ID token", request_sent=False
            ) from None

    async def _refresh(self) -> _Fetched:
        fetched = await asyncio.to_thread(self._refresh_blocking)
        self.fetches += 1
        self._current = fetched
        return fetched

    def _refresh_blocking(self) -> _Fetched:
        """Fetch a token (making the credential the first time). Runs in a worker thread."""
        fetched_at = time.time()
        try:
            if self._credential is None:
                self._credential = self._factory(self.source)
            access = self._credential.get_token(self.source.scope)
        except CredentialUnavailableError as exc:
            log.warning(
                "%s: %s is unavailable: %s",
                self.provider,
                self.source.describe(),
                _why(exc, self.source.client_secret),
            )
            raise ProviderNotConfiguredError(
                f"{self.provider}: {self.source.describe()} is not available here",
                metadata={"provider": self.provider},
                request_sent=False,
            ) from None
        except ClientAuthenticationError as exc:
            reason = _why(exc, self.source.client_secret)
            log.warning(
                "%s: Entra ID refused %s: %s", self.provider, self.source.describe(), reason
            )
            raise ProviderAuthenticationError(
                f"Entra ID refused {self.source.describe()}",
                provider=self.provider,
                request_sent=False,
            ) from None
        except (ServiceRequestError, OSError):
            log.warning("%s: the Entra ID token endpoint could not be reached", self.provider)
            raise ProviderUnavailableError(
                "could not reach the Entra ID token endpoint",
                provider=self.provider,
                request_sent=False,
            ) from None
        except ValueError as exc:  # azure-identity's check of the ids or the authority
            log.warning(
                "%s: %s: %s",
                self.provider,
                self.source.describe(),
                _why(exc, self.source.client_secret),
            )
            raise ProviderNotConfiguredError(
                f"{self.provider}: {self.source.describe()} is not usable: check tenant_id, "
                "client_id and AZURE_AUTHORITY_HOST",
                metadata={"provider": self.provider},
                request_sent=False,
            ) from None
        token = getattr(access, "token", None)
        if not isinstance(token, str) or not token:
            raise ProviderAuthenticationError(
                "Entra ID returned no access token", provider=self.provider, request_sent=False
            )
        return _Fetched(token, float(access.expires_on), fetched_at)


def _why(exc: Exception, secret: str = "") -> str:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if secret:
        first = first.replace(secret, "[redacted]")
    return redact_secrets(first)[:_MAX_REASON_CHARS]


def _retrieve(task: asyncio.Task[_Fetched]) -> None:
    if not task.cancelled():
        task.exception()
