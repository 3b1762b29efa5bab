"""Where finished images live when a caller asks for a URL: one small interface
(`ResultStore`), a local directory served by the HTTP door as the embedded default."""

from imagegen.storage.base import ResultStore, StoredImage
from imagegen.storage.local import LocalStore
from imagegen.storage.settings import StorageSettings, store_from_settings

__all__ = ["LocalStore", "ResultStore", "StorageSettings", "StoredImage", "store_from_settings"]
