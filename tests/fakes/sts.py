"""Fake AWS STS (query protocol, version 2011-06-15) on loopback: AssumeRole and
AssumeRoleWithWebIdentity, answering in STS's XML.

* **AssumeRole** must be SigV4-signed for service ``sts`` with a key the fake knows
  (``base_credentials``: access key id -> secret); the signature is recomputed with botocore's
  signer over the signed headers and the body. ``RoleArn`` must be in ``roles``; a role with an
  ``external_ids`` entry requires that ``ExternalId``. Failures are STS's ``<ErrorResponse>``
  (403 AccessDenied / SignatureDoesNotMatch / InvalidClientTokenId).
* **AssumeRoleWithWebIdentity** is unsigned; ``WebIdentityToken`` must be ``web_identity_token``.

Each success mints fresh temporary credentials (``ASIA...`` key, secret, session token) valid
for ``duration`` seconds, and hands them to ``on_issue`` (the test registers them with the
Bedrock fake, as IAM would make them valid there).
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<signature>[0-9a-f]+)"
)


@dataclass
class Issued:
    action: str
    role_arn: str
    session_name: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    signed_with: str | None


@dataclass
class StsFake:
    base_credentials: dict[str, str]
    roles: set[str]
    region: str = "us-east-1"
    external_ids: dict[str, str] = field(default_factory=dict)
    web_identity_token: str = "oidc-token-from-the-cluster"
    duration: int = 3600
    on_issue: Callable[[Issued], None] = lambda issued: None
    issued: list[Issued] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> StsFake:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        form = {k: str(v) for k, v in (await request.post()).items()}
        action = form.get("Action", "")
        if form.get("Version") != "2011-06-15":
            return _error(400, "InvalidAction", "Could not find operation for this version")
        if action == "AssumeRoleWithWebIdentity":
            if form.get("WebIdentityToken") != self.web_identity_token:
                return _error(400, "InvalidIdentityToken", "Couldn't retrieve verification key")
            return self._issue(action, form, signed_with=None)
        if action != "AssumeRole":
            return _error(400, "InvalidAction", f"Could not find operation {action[:40]}")
        key = self._verify(request, body)
        if isinstance(key, web.Response):
            return key
        role = form.get("RoleArn", "")
        expected_external = self.external_ids.get(role)
        if role not in self.roles or (
            expected_external is not None and form.get("ExternalId") != expected_external
        ):
            return _error(
                403,
                "AccessDenied",
                f"User: {key} is not authorized to perform: sts:AssumeRole on resource: {role}",
            )
        return self._issue(action, form, signed_with=key)

    def _verify(self, request: web.Request, body: bytes) -> str | web.Response:
        match = _AUTH_RE.match(request.headers.get("Authorization", ""))
        if match is None:
            return _error(400, "MissingAuthenticationToken", "Request is missing Authentication")
        key = match["key"]
        secret = self.base_credentials.get(key)
        if secret is None:
            return _error(403, "InvalidClientTokenId", "The security token is invalid.")
        if match["service"] != "sts" or match["region"] != self.region:
            return _error(403, "SignatureDoesNotMatch", "Credential scope is not sts/region")
        signed = match["signed"].split(";")
        headers = {k.lower(): v for k, v in request.headers.items()}
        aws = AWSRequest(
            method=request.method,
            url=f"http://{headers['host']}{request.raw_path}",
            data=body,
            headers={name: headers[name] for name in signed if name in headers},
        )
        aws.context["timestamp"] = headers.get("x-amz-date", "")
        signer = SigV4Auth(Credentials(key, secret), "sts", self.region)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if not hmac.compare_digest(expected, match["signature"]):
            return _error(403, "SignatureDoesNotMatch", "The request signature does not match")
        return key

    def _issue(self, action: str, form: dict[str, str], signed_with: str | None) -> web.Response:
        role = form.get("RoleArn", "")
        if action == "AssumeRoleWithWebIdentity" and role not in self.roles:
            return _error(
                403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
            )
        issued = Issued(
            action=action,
            role_arn=role,
            session_name=form.get("RoleSessionName", ""),
            access_key_id="ASIA" + secrets.token_hex(8).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            session_token=secrets.token_urlsafe(60),
            signed_with=signed_with,
        )
        self.issued.append(issued)
        self.on_issue(issued)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.duration)
        values: dict[str, Any] = {
            "AccessKeyId": issued.access_key_id,
            "SecretAccessKey": issued.secret_access_key,
            "SessionToken": issued.session_token,
            "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        credentials = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in values.items())
        session = escape(issued.session_name)
        xml = (
            f'<{action}Response xmlns="{_NS}"><{action}Result>'
            f"<Credentials>{credentials}</Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROAFAKE:{session}</AssumedRoleId>"
            f"<Arn>{escape(role)}/{session}</Arn></AssumedRoleUser>"
            f"</{action}Result><ResponseMetadata><RequestId>{secrets.token_hex(8)}"
            f"</RequestId></ResponseMetadata></{action}Response>"
        )
        return web.Response(text=xml, content_type="text/xml")


def _error(status: int, code: str, message: str) -> web.Response:
    xml = (
        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"
    )
    return web.Response(text=xml, status=status, content_type="text/xml")
