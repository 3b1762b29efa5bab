"""The Azure Blob Storage result store: images in a container, handed out as SAS URLs.

Through Microsoft's own library (azure-storage-blob, its asyncio client); each URL carries a
read-only service SAS for its one blob, signed with the account key, valid `ttl_seconds`.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

from imagegen.storage.base import StoredImage
from imagegen.storage.local import extension_for

# A SAS valid from a little before now: the storage service's clock may run behind ours.
_CLOCK_SKEW = timedelta(minutes=5)


class AzureBlobStore:
    """Images under `prefix` in `container`; SAS URLs valid for `ttl_seconds`."""

    name = "azure"

    def __init__(
        self,
        *,
        account_url: str,
        account_name: str,
        account_key: str,
        container: str,
        prefix: str,
        ttl_seconds: int,
        public_base_url: str | None = None,
    ) -> None:
        self.account_url = account_url.rstrip("/")
        self.account_name = account_name
        self._account_key = account_key
        self.container = container
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._service = BlobServiceClient(
            self.account_url,
            credential={"account_name": account_name, "account_key": account_key},
        )
        self._checked_container = False

    @property
    def ready(self) -> bool:
        return True

    async def put(self, data: bytes, mime_type: str | None) -> StoredImage:
        key = f"{self.prefix}{hashlib.sha256(data).hexdigest()}.{extension_for(mime_type)}"
        container = self._service.get_container_client(self.container)
        if not self._checked_container:
            with contextlib.suppress(ResourceExistsError):
                await container.create_container()
            self._checked_container = True
        await container.upload_blob(
            key,
            data,
            overwrite=True,
            content_settings=ContentSettings(content_type=mime_type or "application/octet-stream"),
        )
        return StoredImage(key=key, url=self.url(key), size=len(data))

    def url(self, key: str, *, now: datetime | None = None) -> str:
        if self.public_base_url is not None:
            return f"{self.public_base_url}/{key}"
        now = now or datetime.now(UTC)
        sas = generate_blob_sas(
            account_name=self.account_name,
            container_name=self.container,
            blob_name=key,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            start=now - _CLOCK_SKEW,
            expiry=now + timedelta(seconds=self.ttl_seconds),
        )
        return f"{self.account_url}/{self.container}/{quote(key)}?{sas}"

    async def aclose(self) -> None:
        await self._service.close()
