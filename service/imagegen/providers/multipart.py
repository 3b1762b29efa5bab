"""multipart/form-data bodies, for providers that take no JSON (Stability's v2beta API).

Text fields only for now; file parts (images for edits) follow the same framing and belong
to the edit contract. The boundary is random per body, so no field value can forge one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping


def encode_form(fields: Mapping[str, str]) -> tuple[bytes, str]:
    """The body and its Content-Type header value."""
    boundary = f"imagegen-{secrets.token_hex(16)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        # Field names are the adapter's own (never a caller's): quotes cannot appear.
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
