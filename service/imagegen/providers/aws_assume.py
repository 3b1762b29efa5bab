"""Assumed-role AWS credentials for Bedrock, as LiteLLM configures them, through botocore.

A deployment's `aws_role_name` (a role ARN) is assumed with STS AssumeRole, signed with the
deployment's base credentials (its keys, else botocore's chain for `aws_profile_name`), or
with AssumeRoleWithWebIdentity when `aws_web_identity_token` is set (an OIDC token; no base
credentials). `aws_session_name` names the session, `aws_external_id` is passed on, and
`aws_sts_endpoint` replaces STS's URL (a VPC endpoint, a test server).

The result is botocore's RefreshableCredentials: botocore refreshes them ahead of expiry
(its advisory and mandatory windows), and the Bedrock adapter moves that refresh off the
event loop, as for any refreshable credential of the chain. One set per distinct role
configuration, so every request of a deployment shares one STS session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

DEFAULT_SESSION_NAME = "imagegen"
# STS answers are small; a slow STS must not hold a request for botocore's 60 s default.
_STS_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """What to assume and how; hashable, so that equal deployments share credentials."""

    role_arn: str
    session_name: str = DEFAULT_SESSION_NAME
    external_id: str | None = None
    sts_endpoint: str | None = None
    region: str | None = None
    profile: str | None = None
    web_identity_token: str | None = field(default=None, repr=False)
    base_key_id: str | None = None
    base_secret: str | None = field(default=None, repr=False)
    base_token: str | None = field(default=None, repr=False)


ROLE_OPTIONS = (
    "aws_role_name",
    "aws_session_name",
    "aws_external_id",
    "aws_sts_endpoint",
    "aws_web_identity_token",
)


class AssumedRoles:
    """RefreshableCredentials per RoleSpec, created on first use (in a worker thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: dict[RoleSpec, RefreshableCredentials] = {}
        self.assumed = 0
        """How many times STS was called (for tests and diagnostics)."""

    def credentials(self, spec: RoleSpec) -> RefreshableCredentials:
        """The role's credentials; the first call assumes the role. Blocking: call in a thread."""
        with self._lock:
            existing = self._credentials.get(spec)
            if existing is None:
                existing = RefreshableCredentials.create_from_metadata(
                    metadata=self._assume(spec),
                    refresh_using=lambda: self._assume(spec),
                    method="sts-assume-role",
                )
                self._credentials[spec] = existing
            return existing

    def _assume(self, spec: RoleSpec) -> dict[str, str]:
        client = self._client(spec)
        if spec.web_identity_token:
            answer = client.assume_role_with_web_identity(
                RoleArn=spec.role_arn,
                RoleSessionName=spec.session_name,
                WebIdentityToken=spec.web_identity_token,
            )
        else:
            kwargs: dict[str, Any] = {
                "RoleArn": spec.role_arn,
                "RoleSessionName": spec.session_name,
            }
            if spec.external_id:
                kwargs["ExternalId"] = spec.external_id
            answer = client.assume_role(**kwargs)
        self.assumed += 1
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    def _client(self, spec: RoleSpec) -> Any:
        session = botocore.session.Session(profile=spec.profile)
        kwargs: dict[str, Any] = {
            "region_name": spec.region,
            "endpoint_url": spec.sts_endpoint,
            "config": _STS_CONFIG,
        }
        if spec.web_identity_token:
            # AssumeRoleWithWebIdentity is not signed: the token is the proof.
            kwargs["config"] = _STS_CONFIG.merge(Config(signature_version=botocore.UNSIGNED))
        elif spec.base_key_id and spec.base_secret:
            kwargs.update(
                aws_access_key_id=spec.base_key_id,
                aws_secret_access_key=spec.base_secret,
                aws_session_token=spec.base_token,
            )
        return session.create_client("sts", **kwargs)
