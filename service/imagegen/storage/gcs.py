"""The Google Cloud Storage result store: images in a bucket, handed out as V4 signed URLs.

Through Google's own library (google-cloud-storage). Its client is synchronous, so each upload
runs in a worker thread. URLs are V4 signed (RSA-SHA256) with the service account's key, valid
`ttl_seconds`; credentials that cannot sign are refused at start unless `public_base_url` is set.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import google.auth
from google.auth.credentials import AnonymousCredentials, Signing
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage
from google.oauth2 import service_account

from imagegen.errors import ConfigError
from imagegen.storage.base import StoredImage
from imagegen.storage.local import extension_for

_PUBLIC_ENDPOINT = "https://storage.googleapis.com"


def load_credentials(credentials_file: str | None) -> Any:
    """A service-account JSON file's credentials, or Application Default Credentials."""
    try:
        if credentials_file is not None:
            return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                credentials_file,
                scopes=["https://www.googleapis.com/auth/devstorage.read_write"],
            )
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
        )
        return credentials
    except (OSError, ValueError, KeyError, DefaultCredentialsError) as exc:
        # The exception's class only: its text may quote the file's contents.
        source = "gcs_credentials_file" if credentials_file else "Application Default Credentials"
        raise ConfigError(
            f"storage_settings: gcs: cannot load {source} ({type(exc).__name__})"
        ) from None


class GcsStore:
    """Images under `prefix` in `bucket`; V4 signed URLs valid for `ttl_seconds` (or, with
    `public_base_url`, plain links for a bucket the operator made public)."""

    name = "gcs"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        ttl_seconds: int,
        credentials: Any,
        project: str | None = None,
        endpoint_url: str | None = None,
        public_base_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.endpoint_url = (endpoint_url or _PUBLIC_ENDPOINT).rstrip("/")
        if self.public_base_url is None and not isinstance(credentials, Signing):
            raise ConfigError(
                "storage_settings: gcs: these credentials cannot sign URLs (a service account's "
                "key is needed: gcs_credentials_file); or set public_base_url for a public bucket"
            )
        self._credentials = credentials
        # An emulator (endpoint_url) is spoken to unauthenticated, as google-cloud-storage does
        # under STORAGE_EMULATOR_HOST; URLs are still signed with the key.
        client_credentials = (
            AnonymousCredentials()  # type: ignore[no-untyped-call]
            if endpoint_url
            else credentials
        )
        # Uploads and signing need no project; the client insists on one, so a stand-in.
        self._client = storage.Client(
            project=project or getattr(credentials, "project_id", None) or "imagegen",
            credentials=client_credentials,
            client_options={"api_endpoint": self.endpoint_url},
        )
        self._bucket = self._client.bucket(bucket)

    @property
    def ready(self) -> bool:
        return True

    async def put(self, data: bytes, mime_type: str | None) -> StoredImage:
        key = f"{self.prefix}{hashlib.sha256(data).hexdigest()}.{extension_for(mime_type)}"
        url = await asyncio.to_thread(self._upload, key, data, mime_type)
        return StoredImage(key=key, url=url, size=len(data))

    def _upload(self, key: str, data: bytes, mime_type: str | None) -> str:
        """Upload and sign, in a worker thread: signing with ADC other than a key file (Compute
        Engine, impersonation) is a call to the IAM API, which must not block the event loop."""
        self._bucket.blob(key).upload_from_string(
            data, content_type=mime_type or "application/octet-stream"
        )
        return self.url(key)

    def url(self, key: str) -> str:
        if self.public_base_url is not None:
            return f"{self.public_base_url}/{key}"
        url: str = self._bucket.blob(key).generate_signed_url(
            version="v4",
            expiration=timedelta(seconds=self.ttl_seconds),
            method="GET",
            credentials=self._credentials,
            api_access_endpoint=self.endpoint_url,
        )
        return url

    async def aclose(self) -> None:
        self._client.close()
