"""The S3-compatible result store: images in a bucket, handed out as presigned GET URLs.

botocore signs (SigV4) and sends; its client is synchronous, so each upload runs in a worker
thread. Any S3-compatible server works (AWS, MinIO, Ceph, SeaweedFS) through `endpoint_url`.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import botocore.session
from botocore.config import Config

from imagegen.storage.base import StoredImage
from imagegen.storage.local import extension_for


class S3Store:
    """Images under `prefix` in `bucket`; URLs presigned for `ttl_seconds` (or, with
    `public_base_url`, plain links for a bucket the operator made public)."""

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        ttl_seconds: int,
        region: str | None = None,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_base_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        session = botocore.session.get_session()
        self._client: Any = session.create_client(
            "s3",
            region_name=region or "us-east-1",
            endpoint_url=endpoint_url,
            # None: the standard credential chain (environment, profile, instance role).
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                signature_version="s3v4",
                # Path-style works with every S3-compatible server and with any bucket name.
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    @property
    def ready(self) -> bool:
        return True

    async def put(self, data: bytes, mime_type: str | None) -> StoredImage:
        key = f"{self.prefix}{hashlib.sha256(data).hexdigest()}.{extension_for(mime_type)}"
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=mime_type or "application/octet-stream",
        )
        return StoredImage(key=key, url=self.url(key), size=len(data))

    def url(self, key: str) -> str:
        if self.public_base_url is not None:
            return f"{self.public_base_url}/{key}"
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.ttl_seconds,
        )
        return url

    async def aclose(self) -> None:
        self._client.close()
