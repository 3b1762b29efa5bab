"""`storage_settings`: where images answered as URLs are kept, and how long URLs live."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imagegen.errors import ConfigError
from imagegen.paths import data_dir
from imagegen.storage.azure import AzureBlobStore
from imagegen.storage.base import ResultStore
from imagegen.storage.gcs import GcsStore, load_credentials
from imagegen.storage.local import LocalStore
from imagegen.storage.rehost import Rehoster
from imagegen.storage.s3 import S3Store
from imagegen.storage.signing import UrlSigner, load_or_create_secret

RESULTS_DIR = "results"


class StorageSettings(BaseModel):
    """The file's `storage_settings` section, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: Literal["local", "s3", "gcs", "azure"] = "local"
    """local (a directory the HTTP door serves), s3 (any S3-compatible server), gcs (Google
    Cloud Storage) or azure (Blob Storage)."""
    directory: str | None = None
    """The local store's directory (default: `results/` in the data directory)."""
    url_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    """How long a URL handed to a caller stays valid."""
    public_base_url: str | None = None
    """The HTTP door as callers reach it (default: its listen address)."""
    url_secret: str | None = Field(default=None, min_length=16)
    """The HMAC secret of signed URLs (default: generated once, kept in the data directory)."""
    bucket: str | None = None
    """s3, gcs: the bucket."""
    prefix: str = "imagegen/"
    """s3, gcs, azure: the key layout: objects are `<prefix><sha256 of the bytes>.<ext>`."""
    region: str | None = None
    """s3: the bucket's region."""
    endpoint_url: str | None = None
    """s3: an S3-compatible server other than AWS (MinIO, Ceph, SeaweedFS...); gcs: an
    emulator (spoken to unauthenticated, as under STORAGE_EMULATOR_HOST; URLs still signed)."""
    aws_access_key_id: str | None = None
    """s3: credentials (default: the standard AWS credential chain)."""
    aws_secret_access_key: str | None = None
    """s3: the secret of aws_access_key_id."""
    gcs_credentials_file: str | None = None
    """gcs: a service-account JSON key file (default: Application Default Credentials, which
    must be able to sign unless public_base_url is set)."""
    gcs_project: str | None = None
    """gcs: the project (default: the service account's)."""
    container: str | None = None
    """azure: the blob container (created on first use when missing)."""
    azure_account_url: str | None = None
    """azure: https://<account>.blob.core.windows.net (or an emulator's URL)."""
    azure_account_name: str | None = None
    """azure: the storage account (with azure_account_key)."""
    azure_account_key: str | None = None
    """azure: the account key that signs the SAS URLs."""
    rehost_provider_urls: bool = False
    """Fetch images that providers answer as links to their own storage (DALL·E, Recraft,
    BFL, fal) and store them, so that their URLs live as long as this store's."""
    rehost_hosts: tuple[str, ...] = ()
    """Hosts to re-host from besides the providers' known ones (a self-hosted provider)."""
    rehost_max_mb: int = Field(default=50, ge=1, le=1024)
    """The largest image re-hosting downloads."""


def check_storage(settings: StorageSettings, source: str) -> None:
    """Refuse, at start, a backend this build cannot serve or a missing setting."""
    if settings.type in ("s3", "gcs") and not settings.bucket:
        raise ConfigError(f"{source}: storage_settings.bucket: required with type {settings.type}")
    if settings.type == "azure":
        for name in ("container", "azure_account_name", "azure_account_key"):
            if not getattr(settings, name):
                raise ConfigError(f"{source}: storage_settings.{name}: required with type azure")
    only: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
        (("s3", "gcs"), ("bucket", "endpoint_url")),
        (("s3",), ("region", "aws_access_key_id")),
        (("gcs",), ("gcs_credentials_file", "gcs_project")),
        (("azure",), ("container", "azure_account_url", "azure_account_name", "azure_account_key")),
    )
    for kinds, names in only:
        given = [name for name in names if getattr(settings, name) is not None]
        if given and settings.type not in kinds:
            raise ConfigError(
                f"{source}: storage_settings.{given[0]}: only with type {' or '.join(kinds)}"
            )


def rehoster_from_settings(settings: StorageSettings | None) -> Rehoster | None:
    """The provider-URL fetcher, when re-hosting is on."""
    if settings is None or not settings.rehost_provider_urls:
        return None
    return Rehoster(settings.rehost_hosts, settings.rehost_max_mb * 1024 * 1024)


def store_from_settings(settings: StorageSettings) -> ResultStore:
    """The store `settings` describe (the directory and secret are created on first use)."""
    check_storage(settings, "storage_settings")
    if settings.type == "azure":
        assert settings.container and settings.azure_account_name  # checked above
        assert settings.azure_account_key
        return AzureBlobStore(
            account_url=settings.azure_account_url
            or f"https://{settings.azure_account_name}.blob.core.windows.net",
            account_name=settings.azure_account_name,
            account_key=settings.azure_account_key,
            container=settings.container,
            prefix=settings.prefix,
            ttl_seconds=settings.url_ttl_seconds,
            public_base_url=settings.public_base_url,
        )
    if settings.type == "gcs":
        assert settings.bucket is not None  # checked above
        return GcsStore(
            bucket=settings.bucket,
            prefix=settings.prefix,
            ttl_seconds=settings.url_ttl_seconds,
            credentials=load_credentials(settings.gcs_credentials_file),
            project=settings.gcs_project,
            endpoint_url=settings.endpoint_url,
            public_base_url=settings.public_base_url,
        )
    if settings.type == "s3":
        assert settings.bucket is not None  # checked above
        return S3Store(
            bucket=settings.bucket,
            prefix=settings.prefix,
            ttl_seconds=settings.url_ttl_seconds,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
            public_base_url=settings.public_base_url,
        )
    directory = Path(settings.directory) if settings.directory else data_dir() / RESULTS_DIR
    secret = (
        settings.url_secret.encode() if settings.url_secret else load_or_create_secret(data_dir())
    )
    return LocalStore(
        directory,
        UrlSigner(secret),
        ttl_seconds=settings.url_ttl_seconds,
        base_url=settings.public_base_url,
    )
