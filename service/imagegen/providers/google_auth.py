"""Google OAuth2 access tokens (for the Vertex AI adapter), through google-auth.

A `GoogleTokenSource` holds one credential — a service-account key file, the same key as
JSON text or a mapping, or application default credentials (ADC: GOOGLE_APPLICATION_CREDENTIALS,
gcloud's user credentials, the metadata server) — and hands out its access token, scope
`cloud-platform`:

- the token is cached and refreshed ahead of its expiry (5 minutes, or a quarter of the token's
  lifetime for short-lived tokens), never fetched per request;
- google-auth does blocking I/O (reading the key file, probing for ADC, the token endpoint's
  HTTP call), so loading and refreshing run in a worker thread (`asyncio.to_thread`);
- concurrent requests share one refresh (single flight). The refresh is one shared task that
  every waiter awaits through `asyncio.shield`: a waiter whose deadline passes gives up alone,
  while the refresh goes on for the others. (With an asyncio.Lock held around the refresh
  instead, the holder's cancellation would release the lock while its worker thread, which
  cannot be cancelled, is still refreshing, and the next waiter would start a second refresh
  on the same credentials object.)

Failures become gateway errors that say nothing was sent to the provider
(`request_sent: false`, cost 0): credentials that cannot be loaded are
PROVIDER_NOT_CONFIGURED, a token endpoint that refuses them is PROVIDER_AUTHENTICATION_FAILED,
an unreachable or failing one is PROVIDER_UNAVAILABLE. Messages never carry key material or
file paths (the details go to the server log).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth
import google.auth.exceptions
import google.oauth2.credentials
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from imagegen.deadline import Deadline
from imagegen.errors import (
    DeadlineExceededError,
    ImageGenError,
    ProviderAuthenticationError,
    ProviderNotConfiguredError,
    ProviderUnavailableError,
    redact_secrets,
)

log = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN = timedelta(minutes=5)
_MAX_REASON_CHARS = 200


def utcnow() -> datetime:
    """Naive UTC, the form google-auth uses for `Credentials.expiry`."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where a credential comes from. Hashable: one token source per distinct credential."""

    kind: str
    """"file" (a key file path), "info" (the key's JSON text) or "adc"."""
    value: str = ""
    """The path, the JSON text, or (ADC) GOOGLE_APPLICATION_CREDENTIALS as seen at lookup."""

    @classmethod
    def from_option(cls, option: object, adc_env: str | None) -> CredentialSource:
        """The source for a `vertex_credentials` value (a path, JSON text or a mapping)."""
        if isinstance(option, Mapping):
            return cls("info", json.dumps(dict(option), sort_keys=True))
        if isinstance(option, str) and option.strip():
            text = option.strip()
            if not text.startswith("{"):
                return cls("file", text)
            try:  # the same key written differently is the same credential
                return cls("info", json.dumps(json.loads(text), sort_keys=True))
            except ValueError:
                return cls("info", text)  # reported when the token source loads it
        return cls("adc", adc_env or "")

    def describe(self) -> str:
        """Safe to show: never the key itself, nor the path."""
        if self.kind == "adc":
            return "application default credentials"
        if self.kind == "file":
            return "the vertex_credentials key file"
        digest = hashlib.sha256(self.value.encode()).hexdigest()[:8]
        return f"the vertex_credentials JSON (sha256 {digest}…)"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and what the credential says about where to bill it."""

    token: str
    project: str | None
    """The credential's own project (a key's project_id, ADC's project), if any."""
    quota_project: str | None
    """Sent as x-goog-user-project when set (ADC user credentials)."""


@dataclass(frozen=True, slots=True)
class _Fetched:
    token: str
    expiry: datetime | None
    fetched_at: datetime
    project: str | None
    quota_project: str | None


class GoogleTokenSource:
    """Cached, single-flight access tokens for one Google credential."""

    def __init__(self, source: CredentialSource, *, provider: str) -> None:
        self.source = source
        self.provider = provider
        #: The clock freshness is judged by (naive UTC); replaceable so tests can move time.
        self.clock: Callable[[], datetime] = utcnow
        #: How many times a token was fetched from the token endpoint.
        self.fetches = 0
        self._credentials: Credentials | None = None
        self._project: str | None = None
        self._current: _Fetched | None = None
        self._refreshing: asyncio.Task[_Fetched] | None = None

    # ------------------------------------------------------------------ public

    async def token(self, deadline: Deadline) -> AccessToken:
        """A valid token, refreshing first when the cached one is missing or about to expire."""
        current = self._current
        if current is None or not self._fresh(current):
            current = await self._await_refresh(deadline)
        return AccessToken(current.token, current.project, current.quota_project)

    def invalidate(self, token: str) -> None:
        """Forget `token` (the provider rejected it) unless a newer one replaced it already."""
        if self._current is not None and self._current.token == token:
            self._current = None

    # ------------------------------------------------------------------ internals

    def _fresh(self, current: _Fetched) -> bool:
        if current.expiry is None:
            return True
        # A short-lived token would otherwise be "about to expire" from the start.
        margin = min(REFRESH_MARGIN, (current.expiry - current.fetched_at) / 4)
        return self.clock() < current.expiry - margin

    async def _await_refresh(self, deadline: Deadline) -> _Fetched:
        loop = asyncio.get_running_loop()
        task = self._refreshing
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._refreshing = loop.create_task(self._refresh())
            # Waiters that gave up must not leave an unretrieved exception behind.
            task.add_done_callback(_retrieve)
        remaining = deadline.remaining()
        if remaining <= 0:
            raise DeadlineExceededError(
                "the deadline passed before a Google access token was fetched", request_sent=False
            )
        try:
            return await asyncio.wait_for(asyncio.shield(task), remaining)
        except TimeoutError:
            raise DeadlineExceededError(
                "the deadline passed while fetching a Google access token", request_sent=False
            ) from None

    async def _refresh(self) -> _Fetched:
        fetched = await asyncio.to_thread(self._refresh_blocking)
        self.fetches += 1
        self._current = fetched
        return fetched

    def _refresh_blocking(self) -> _Fetched:
        """Load the credential (first time) and fetch a token. Runs in a worker thread."""
        if self._credentials is None:
            self._credentials, self._project = self._load()
        credentials = self._credentials
        fetched_at = utcnow()  # google-auth's clock: expiry is utcnow() + expires_in
        try:
            # A session per refresh: refreshes are rare, and nothing is left open between them.
            with requests.Session() as session:
                credentials.refresh(Request(session))  # type: ignore[no-untyped-call]
        except google.auth.exceptions.RefreshError as exc:
            raise self._refresh_error(exc) from None
        except google.auth.exceptions.TransportError:
            log.warning("%s: the Google token endpoint could not be reached", self.provider)
            raise ProviderUnavailableError(
                "could not reach the Google token endpoint",
                provider=self.provider,
                request_sent=False,
            ) from None
        except google.auth.exceptions.GoogleAuthError as exc:
            log.warning("%s: Google token refresh failed: %s", self.provider, exc)
            raise ProviderAuthenticationError(
                f"Google refused {self.source.describe()}",
                provider=self.provider,
                request_sent=False,
            ) from None
        token = credentials.token
        if not isinstance(token, str) or not token:
            raise ProviderAuthenticationError(
                "the Google token endpoint returned no access token",
                provider=self.provider,
                request_sent=False,
            )
        expiry = credentials.expiry
        quota = getattr(credentials, "quota_project_id", None)
        return _Fetched(
            token=token,
            expiry=expiry if isinstance(expiry, datetime) else None,
            fetched_at=fetched_at,
            project=self._project,
            quota_project=quota if isinstance(quota, str) and quota else None,
        )

    def _load(self) -> tuple[Credentials, str | None]:
        try:
            if self.source.kind == "adc":
                loaded: tuple[Any, Any] = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            else:
                text = self.source.value
                if self.source.kind == "file":
                    with open(self.source.value, encoding="utf-8") as file:
                        text = file.read()
                loaded = _from_info(json.loads(text))
        except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
            # The details may name a server path; they go to the log, not to the caller.
            log.warning("%s: cannot load %s: %s", self.provider, self.source.describe(), exc)
            hint = (
                "set vertex_credentials to a service-account key file, or configure "
                "application default credentials (GOOGLE_APPLICATION_CREDENTIALS)"
            )
            raise ProviderNotConfiguredError(
                f"{self.provider}: {self.source.describe()} could not be loaded; {hint}",
                metadata={"provider": self.provider},
                request_sent=False,
            ) from None
        credentials, project = loaded
        if not isinstance(credentials, Credentials):
            raise ProviderNotConfiguredError(
                f"{self.provider}: {self.source.describe()} are not Google credentials",
                metadata={"provider": self.provider},
                request_sent=False,
            )
        return credentials, project if isinstance(project, str) and project else None

    def _refresh_error(self, exc: google.auth.exceptions.RefreshError) -> ImageGenError:
        first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
        reason = redact_secrets(" ".join(first.split()))[:_MAX_REASON_CHARS]
        detail = f" ({reason})" if reason else ""
        log.warning("%s: Google token refresh failed%s", self.provider, detail)
        if getattr(exc, "retryable", False):
            return ProviderUnavailableError(
                f"the Google token endpoint failed{detail}",
                provider=self.provider,
                request_sent=False,
            )
        return ProviderAuthenticationError(
            f"Google refused {self.source.describe()}{detail}",
            provider=self.provider,
            request_sent=False,
        )


def _from_info(info: object) -> tuple[Credentials, str | None]:
    """Credentials from a key's JSON: only the two types a deployment's config may name.

    google-auth's generic loaders accept any credential configuration (external accounts
    run commands or fetch URLs) and are deprecated for that reason; other types belong in
    application default credentials, which the operator sets up.
    """
    if not isinstance(info, dict):
        raise ValueError("the credentials JSON is not an object")
    scopes = [CLOUD_PLATFORM_SCOPE]
    kind = info.get("type")
    # google-auth's constructors are not annotated.
    if kind == "service_account":
        project = info.get("project_id")
        key = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=scopes
        )
        return key, project if isinstance(project, str) else None
    if kind == "authorized_user":
        user = google.oauth2.credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, scopes=scopes
        )
        return user, None
    raise ValueError(f"unsupported credentials type {str(kind)[:40]!r}")


def _retrieve(task: asyncio.Task[_Fetched]) -> None:
    if not task.cancelled():
        task.exception()
