"""A tiny stand-in for the Azure Blob Storage container behind DALL·E ``url`` responses.

OpenAI (``oaidalleapiprodscus.blob.core.windows.net``) and Azure OpenAI
(``dalleprodsec.blob.core.windows.net``) both hand out SAS-signed blob URLs that expire
(60 minutes on OpenAI). The fakes publish each generated image here and build
a URL that looks like the real one. By default the URL points at the real-looking public host,
so it is only useful for asserting on its shape; with ``self_hosted=True`` it points at the fake
itself and the image can actually be downloaded, expiry and signature included.

Deliberate simplifications: the signature is a random token checked for equality, not an HMAC,
and only ``GET`` is served.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

BLOB_ROUTE = "/private/{tail:.+}"
BLOB_ROUTE_NAME = "aux-blob"  # "aux-" keeps blob downloads out of scripted failures/delay


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str
    signature: str
    expires_at: float


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _storage_error(status: int, code: str, message: str) -> web.Response:
    # Azure Storage answers in XML, not JSON.
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\n"
        f"RequestId:{uuid.uuid4()}\nTime:{_iso(time.time())}</Message></Error>"
    )
    return web.Response(
        status=status,
        body=body.encode(),
        headers={"Content-Type": "application/xml", "x-ms-error-code": code},
    )


class BlobStore:
    def __init__(self, public_origin: str, ttl_seconds: float) -> None:
        self.public_origin = public_origin
        self.ttl_seconds = ttl_seconds
        self.blobs: dict[str, Blob] = {}

    def publish(self, path: str, data: bytes, content_type: str, origin: str) -> str:
        """Store ``data`` under ``path`` and return a SAS-looking URL on ``origin``."""
        now = time.time()
        blob = Blob(data, content_type, secrets.token_urlsafe(32), now + self.ttl_seconds)
        self.blobs[path] = blob
        query = {
            "st": _iso(now - 300),
            "se": _iso(blob.expires_at),
            "sp": "r",
            "sv": "2024-08-04",
            "sr": "b",
            "rscd": "inline",
            "rsct": content_type,
            "skoid": str(uuid.uuid4()),
            "sktid": str(uuid.uuid4()),
            "skt": _iso(now - 600),
            "ske": _iso(now + 86400),
            "sks": "b",
            "skv": "2024-08-04",
            "sig": blob.signature,
        }
        return f"{origin}{path}?{urlencode(query)}"

    async def handle(self, request: web.Request) -> web.Response:
        blob = self.blobs.get(request.path)
        if blob is None:
            return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        if request.query.get("sig") != blob.signature:
            return _storage_error(
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization "
                "header is formed correctly including the signature.",
            )
        if time.time() > blob.expires_at:
            return _storage_error(403, "AuthenticationFailed", "Signed expiry time has passed.")
        return web.Response(
            body=blob.data,
            headers={
                "Content-Type": blob.content_type,
                "x-ms-blob-type": "BlockBlob",
                "x-ms-version": "2024-08-04",
                "x-ms-request-id": str(uuid.uuid4()),
            },
        )

    def add_route(self, router: web.UrlDispatcher) -> None:
        router.add_get(BLOB_ROUTE, self.handle, name=BLOB_ROUTE_NAME)
