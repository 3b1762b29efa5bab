"""AWS Bedrock Runtime adapter (`bedrock/<model id>`): InvokeModel for image models.

Edits ride on the same InvokeModel call with another body: Titan / Nova Canvas edit tasks
(bedrock_edits.py) and the Stability image services (bedrock_stability_edits.py).

Wire format: the Bedrock Runtime API reference (InvokeModel, SigV4, errors) and each model
family's parameter page (the families live in bedrock_models.py); what a user sees is in
docs/providers/bedrock.md.
`POST https://bedrock-runtime.{region}.amazonaws.com/model/{modelId}/invoke`; `api_base`
replaces the scheme and host (a VPC endpoint, a test server). Quirks handled:

- the model id (foundation model id, inference profile id or ARN) is percent-encoded into one
  path segment (`:` → `%3A`, `/` → `%2F`), as botocore sends it;
- auth is SigV4 for service `bedrock`, computed by botocore's signer in the async `prepare` hook
  over the exact bytes the transport sends; or a Bedrock API key as `Authorization: Bearer`
  (config `api_key`, env AWS_BEARER_TOKEN_BEDROCK, or a caller's own key), which wins when set;
- `aws_bedrock_runtime_endpoint` (LiteLLM's name; a VPC endpoint) is the runtime URL, ahead of
  `api_base` and AWS_BEDROCK_RUNTIME_ENDPOINT;
- `aws_role_name` (with `aws_session_name`, `aws_external_id`, `aws_sts_endpoint`, or
  `aws_web_identity_token`) is assumed through STS, signed with the credentials below, and the
  role's credentials sign the Bedrock calls (`aws_assume.py`);
- credentials: the deployment's `aws_access_key_id` / `aws_secret_access_key` /
  `aws_session_token`, else botocore's standard chain (environment, shared files and
  `aws_profile_name`, SSO, credential_process, container and instance roles), resolved once per
  profile in a worker thread. Refreshable credentials are refreshed by botocore, off the event
  loop, when they are close to expiry. Nothing is signed for an `api_base` a caller chose;
- region: `aws_region_name`, the region in an AWS `api_base` host, AWS_REGION /
  AWS_DEFAULT_REGION, then the profile's `region`;
- errors: the type from `x-amzn-ErrorType` (cut at `:`; body `__type`/`code` as fallback), the
  text from `{"message"}`, the request id from `x-amzn-RequestId` (kept as
  `upstream_request_id`). Signature and token rejections (403 on the wire) are credential
  failures; ServiceQuotaExceededException (400) is a quota error; ModelErrorException (424) and
  ModelNotReadyException (429) are transient provider failures; a ValidationException saying
  "blocked by our content filters" (Titan/Nova input filter) is a safety refusal, and "The
  provided model identifier is invalid" a model not found;
- safety answers given with HTTP 200 (Stability `finish_reasons`, SDXL `finishReason`,
  Titan/Nova `error`) are read in bedrock_models.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import quote, urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from imagegen.errors import (
    CallerCredentialRejectedError,
    ImageGenError,
    PermissionDeniedError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderModelNotFoundError,
    ProviderNotConfiguredError,
    ProviderQuotaExceededError,
    ProviderUnavailableError,
    redact_secrets,
)
from imagegen.providers.aws_assume import ROLE_OPTIONS, AssumedRoles, RoleSpec
from imagegen.providers.base import Endpoint, HttpProvider, HttpRequest, ModelSpec, ProviderCall
from imagegen.providers.bedrock_models import (
    PROVIDER,
    UNKNOWN_SPEC,
    Family,
    family_for,
    parse_images,
    request_body,
)
from imagegen.providers.http_errors import content_policy_error, error_for_status
from imagegen.providers.transport import HttpResponse, encode_body
from imagegen.types import ProviderResult

SIGNING_NAME = "bedrock"
# Deployment settings (LiteLLM's names) that configure where and as whom to call Bedrock.
ENDPOINT_OPTIONS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region_name",
    "aws_profile_name",
    "aws_bedrock_runtime_endpoint",
    *ROLE_OPTIONS,
)
_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
_AWS_HOST = re.compile(r"(?:^|\.)bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
# Error types that mean "these credentials are not valid", whatever the HTTP status says.
_CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)
_TRANSIENT_ERRORS = frozenset({"ModelErrorException", "ModelNotReadyException"})


def _option(endpoint: Endpoint, name: str) -> str | None:
    value = endpoint.options.get(name)
    return value if isinstance(value, str) and value else None


def _session(profile: str | None) -> botocore.session.Session:
    return botocore.session.Session(profile=profile)


class CredentialChain:
    """botocore's standard credential chain, resolved once per profile.

    Resolution may read files, run a credential process or call the instance metadata service,
    so it runs in a worker thread, once; a chain that found nothing is asked again only after
    `retry_missing_after` seconds. botocore's refreshable credentials refresh themselves when
    they near expiry; that refresh is also moved off the event loop.
    """

    retry_missing_after = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._region_lock = threading.Lock()
        self._resolved: dict[str | None, Credentials] = {}
        self._missing_until: dict[str | None, float] = {}
        self._regions: dict[str | None, str | None] = {}
        self.resolutions = 0
        """How many times the chain was walked (for tests and diagnostics)."""

    async def frozen(self, profile: str | None) -> ReadOnlyCredentials | None:
        """Current credentials of the chain, or None when it has none."""
        credentials = self._resolved.get(profile)
        if credentials is None:
            credentials = await asyncio.to_thread(self._resolve, profile)
            if credentials is None:
                return None
        if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
            return await asyncio.to_thread(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def region(self, profile: str | None) -> str | None:
        """The profile's configured region (~/.aws/config), read once."""
        with self._region_lock:
            if profile not in self._regions:
                try:
                    region = _session(profile).get_config_variable("region")
                except BotoCoreError:
                    region = None
                self._regions[profile] = region if isinstance(region, str) and region else None
            return self._regions[profile]

    def _resolve(self, profile: str | None) -> Credentials | None:
        with self._lock:
            if profile in self._resolved:
                return self._resolved[profile]
            if time.monotonic() < self._missing_until.get(profile, 0.0):
                return None
            self.resolutions += 1
            credentials = _session(profile).get_credentials()
            if credentials is None:
                self._missing_until[profile] = time.monotonic() + self.retry_missing_after
                return None
            self._resolved[profile] = credentials
            return credentials


def sign_request(
    request: HttpRequest, credentials: ReadOnlyCredentials, region: str
) -> HttpRequest:
    """`request` with SigV4 headers (X-Amz-Date, X-Amz-Security-Token, Authorization)."""
    # Byte for byte the body HttpTransport sends: the signature covers its SHA-256.
    body = encode_body(request)
    aws = AWSRequest(
        method=request.method,
        url=request.url,
        data=body,
        headers={"content-type": "application/json", **request.headers},
    )
    SigV4Auth(credentials, SIGNING_NAME, region).add_auth(aws)
    # Lower-case names: the transport adds its own "content-type", which must not be doubled.
    headers = {name.lower(): value for name, value in aws.headers.items()}
    return HttpRequest(request.method, request.url, headers, request.json)


class BedrockProvider(HttpProvider):
    """Bedrock Runtime InvokeModel, for Stability, Titan and Nova Canvas image models."""

    name: ClassVar[str] = PROVIDER
    env_api_key: ClassVar[tuple[str, ...]] = ("AWS_BEARER_TOKEN_BEDROCK",)
    env_api_base: ClassVar[tuple[str, ...]] = ("AWS_BEDROCK_RUNTIME_ENDPOINT",)
    env_api_version: ClassVar[tuple[str, ...]] = ()
    endpoint_options: ClassVar[tuple[str, ...]] = ENDPOINT_OPTIONS
    credential_options: ClassVar[tuple[str, ...]] = (
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_bearer_token",
        *ROLE_OPTIONS,
    )

    def __init__(self) -> None:
        self.credential_chain = CredentialChain()
        self.roles = AssumedRoles()

    def _runtime_base(self, endpoint: Endpoint) -> str | None:
        return _option(endpoint, "aws_bedrock_runtime_endpoint") or endpoint.api_base

    def spec_for(self, model: str) -> ModelSpec:
        family = family_for(model)
        return family.spec if family is not None else UNKNOWN_SPEC

    def region(self, endpoint: Endpoint) -> str | None:
        """Where to call and what to sign for."""
        configured = _option(endpoint, "aws_region_name")
        if configured:
            return configured
        base = self._runtime_base(endpoint)
        if base:
            match = _AWS_HOST.search(urlsplit(base).hostname or "")
            if match:
                return match.group(1)
        for name in _REGION_ENV:
            if os.environ.get(name):
                return os.environ[name]
        return self.credential_chain.region(_option(endpoint, "aws_profile_name"))

    def api_base(self, endpoint: Endpoint) -> str:
        base = self._runtime_base(endpoint)
        if base:
            return base.rstrip("/")
        region = self.region(endpoint)
        return f"https://bedrock-runtime.{region or 'REGION'}.amazonaws.com"

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        problems = []
        for name in ENDPOINT_OPTIONS:
            value = endpoint.options.get(name)
            if value is not None and not isinstance(value, str):
                problems.append(f"{name} to be a string")
        if bool(_option(endpoint, "aws_access_key_id")) != bool(
            _option(endpoint, "aws_secret_access_key")
        ):
            problems.append("aws_access_key_id and aws_secret_access_key together")
        role_parts = [n for n in ROLE_OPTIONS[1:] if _option(endpoint, n)]
        if role_parts and not _option(endpoint, "aws_role_name"):
            problems.append(f"aws_role_name with {', '.join(role_parts)}")
        # A bearer key sent to an explicit api_base is the one case that needs no region.
        if not (endpoint.api_key and endpoint.api_base) and self.region(endpoint) is None:
            problems.append("a region (aws_region_name, AWS_REGION or AWS_DEFAULT_REGION)")
        if problems:
            raise ProviderNotConfiguredError(
                f"bedrock/{model} needs " + "; ".join(problems),
                metadata={"provider": self.name, "model": model[:128]},
                request_sent=False,
            )

    def _family(self, call: ProviderCall) -> Family:
        family = family_for(call.spec.family)
        if family is None:
            raise ProviderNotConfiguredError(
                f"bedrock/{call.provider_model}: the request format of this model is unknown; "
                "set model_info.base_model to its foundation model id "
                "(for example amazon.nova-canvas-v1:0)",
                metadata={"provider": self.name},
                request_sent=False,
            )
        return family

    def build_request(self, call: ProviderCall) -> HttpRequest:
        family = self._family(call)
        url = f"{self.api_base(call.endpoint)}/model/{quote(call.provider_model, safe='')}/invoke"
        headers = {"accept": "application/json"}
        if call.endpoint.api_key:
            headers["authorization"] = f"Bearer {call.endpoint.api_key}"
        return HttpRequest("POST", url, headers, request_body(family.shape, call))

    async def prepare(self, call: ProviderCall) -> HttpRequest:
        request = self.build_request(call)
        endpoint = call.endpoint
        if endpoint.api_key:
            return request
        if endpoint.caller_api_base:
            raise PermissionDeniedError(
                "this server does not sign requests to an api_base chosen by the caller; "
                "send a Bedrock API key as api_key",
                metadata={"field": "api_base"},
                request_sent=False,
            )
        credentials = await self._credentials(call)
        region = self.region(endpoint)
        if region is None:  # check_endpoint ran first; the profile's region may have vanished
            raise ProviderNotConfiguredError(
                f"bedrock/{call.provider_model} needs a region", request_sent=False
            )
        return sign_request(request, credentials, region)

    async def _credentials(self, call: ProviderCall) -> ReadOnlyCredentials:
        role = _option(call.endpoint, "aws_role_name")
        if role:
            return await self._role_credentials(call, role)
        return await self._base_credentials(call)

    async def _role_credentials(self, call: ProviderCall, role: str) -> ReadOnlyCredentials:
        endpoint = call.endpoint
        spec = RoleSpec(
            role_arn=role,
            session_name=_option(endpoint, "aws_session_name") or "imagegen",
            external_id=_option(endpoint, "aws_external_id"),
            sts_endpoint=_option(endpoint, "aws_sts_endpoint"),
            region=self.region(endpoint),
            profile=_option(endpoint, "aws_profile_name"),
            web_identity_token=_option(endpoint, "aws_web_identity_token"),
            base_key_id=_option(endpoint, "aws_access_key_id"),
            base_secret=_option(endpoint, "aws_secret_access_key"),
            base_token=_option(endpoint, "aws_session_token"),
        )
        try:
            credentials = await asyncio.to_thread(self.roles.credentials, spec)
            if credentials.refresh_needed():
                return await asyncio.to_thread(credentials.get_frozen_credentials)
            return credentials.get_frozen_credentials()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "")) or "ClientError"
            raise ProviderAuthenticationError(
                f"AWS STS refused to let these credentials assume the role ({code[:64]})",
                provider=self.name,
                request_sent=False,
                metadata={"upstream_code": code[:64]},
            ) from None
        except NoCredentialsError:
            raise ProviderNotConfiguredError(
                f"bedrock/{call.provider_model}: no AWS credentials to assume the role with; "
                "set aws_access_key_id and aws_secret_access_key, a profile, or an instance role",
                metadata={"provider": self.name},
                request_sent=False,
            ) from None
        except BotoCoreError as exc:
            # The class name says what failed (EndpointConnectionError, ...).
            raise ProviderUnavailableError(
                f"could not assume the role through AWS STS ({type(exc).__name__})",
                provider=self.name,
                request_sent=False,
            ) from None

    async def _base_credentials(self, call: ProviderCall) -> ReadOnlyCredentials:
        endpoint = call.endpoint
        key_id = _option(endpoint, "aws_access_key_id")
        secret = _option(endpoint, "aws_secret_access_key")
        if key_id and secret:
            return ReadOnlyCredentials(key_id, secret, _option(endpoint, "aws_session_token"))
        profile = _option(endpoint, "aws_profile_name")
        try:
            frozen = await self.credential_chain.frozen(profile)
        except (BotoCoreError, ClientError) as exc:
            # The class name says what failed (ProfileNotFound, CredentialRetrievalError...);
            # the text may quote files or tokens.
            raise ProviderNotConfiguredError(
                f"bedrock/{call.provider_model}: could not load AWS credentials "
                f"({type(exc).__name__})",
                metadata={"provider": self.name},
                request_sent=False,
            ) from None
        if frozen is None:
            raise ProviderNotConfiguredError(
                f"bedrock/{call.provider_model}: no AWS credentials found; set "
                "aws_access_key_id and aws_secret_access_key (or AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY), a profile, or an instance role; or use a Bedrock API "
                "key (api_key or AWS_BEARER_TOKEN_BEDROCK)",
                metadata={"provider": self.name},
                request_sent=False,
            )
        return frozen

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        result = parse_images(self._family(call).shape, call, response.json(), response.status)
        result.headers = dict(response.headers)
        return result

    def parse_error(self, call: ProviderCall, response: HttpResponse) -> ImageGenError:
        headers = {name.lower(): value for name, value in response.headers.items()}
        payload = response.json()
        body = payload if isinstance(payload, dict) else {}
        error_type = _error_type(headers.get("x-amzn-errortype"), body)
        raw = body.get("message", body.get("Message"))
        message = redact_secrets(raw) if isinstance(raw, str) and raw else ""
        status = response.status
        error = self._classify(call, status, error_type, message, headers)
        request_id = headers.get("x-amzn-requestid")
        if request_id:
            error.metadata["upstream_request_id"] = request_id[:64]
        return error

    def _classify(
        self,
        call: ProviderCall,
        status: int,
        error_type: str | None,
        message: str,
        headers: Mapping[str, str],
    ) -> ImageGenError:
        code = {"upstream_code": error_type[:64]} if error_type else {}
        if error_type in _CREDENTIAL_ERRORS:
            cls: type[ProviderError] = (
                CallerCredentialRejectedError
                if call.endpoint.caller_credentials
                else ProviderAuthenticationError
            )
            return cls(
                f"AWS rejected the request's credentials ({error_type})",
                provider=self.name,
                upstream_status=status,
                metadata=code,
            )
        if "blocked by our content filters" in message.lower():
            refusal = content_policy_error(self.name, message, status=status)
            refusal.metadata.update(code)
            return refusal
        if error_type == "ServiceQuotaExceededException":
            return ProviderQuotaExceededError(
                message or "the account's Bedrock quota is exhausted",
                provider=self.name,
                upstream_status=status,
                metadata=code,
            )
        if error_type in _TRANSIENT_ERRORS:
            return ProviderUnavailableError(
                message or f"the model failed ({error_type})",
                provider=self.name,
                upstream_status=status,
                metadata=code,
            )
        if "model identifier is invalid" in message.lower():
            return ProviderModelNotFoundError(
                f"Bedrock does not know the model {call.provider_model[:128]!r}",
                provider=self.name,
                upstream_status=status,
                metadata=code,
            )
        return error_for_status(
            provider=self.name,
            status=status,
            message=message,
            headers=headers,
            caller_credentials=call.endpoint.caller_credentials,
            code=error_type,
        )


def _error_type(header: str | None, body: Mapping[str, object]) -> str | None:
    """The exception name, as botocore reads it: header first, cut at ':' and '#'."""
    raw = header
    if not raw:
        for key in ("__type", "code"):
            value = body.get(key)
            if isinstance(value, str) and value:
                raw = value
                break
    if not raw:
        return None
    name = raw.split(":", 1)[0]
    return name.rsplit("#", 1)[-1] or None
