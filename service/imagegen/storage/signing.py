"""Signed, expiring URLs: HMAC-SHA256 over the object key and the expiry time.

The secret is the operator's (`storage_settings.url_secret`) or one generated once and kept in
the data directory, so URLs survive a restart and are shared by the worker processes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

SECRET_FILE = "url-signing.key"


class UrlSigner:
    """Signs and checks (key, expiry) pairs."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes")
        self._secret = secret

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def valid(self, key: str, expires: str, signature: str, *, now: float | None = None) -> bool:
        """Whether `signature` signs (key, expires) and `expires` is still in the future."""
        if not expires.isdigit() or len(expires) > 12:
            return False
        expected = self.signature(key, int(expires))
        # Constant time: a timing difference must not leak how much of a guess was right.
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return False
        return int(expires) > (time.time() if now is None else now)


def load_or_create_secret(directory: Path) -> bytes:
    """The secret kept in `directory` (created with mode 0600 on first use)."""
    path = directory / SECRET_FILE
    try:
        secret = path.read_bytes().strip()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    # Written to a temporary name and renamed: a second process starting at the same time
    # reads either nothing or the whole secret, never half of it.
    tmp = directory / f".{SECRET_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    try:
        # Another process won the race: keep its secret so that both sign alike.
        os.link(tmp, path)
    except FileExistsError:
        secret = path.read_bytes().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return secret
