"""multipart/form-data bodies, for providers that take no JSON (Stability's v2beta API).

Text fields, and file parts for edits' images. The boundary is random per body, so no field
value or file content can forge one (a 128-bit token colliding with image bytes is not a risk).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file in a form: its bytes (never in a repr), a file name and its media type."""

    data: bytes = field(repr=False)
    filename: str
    content_type: str


def encode_form(
    fields: Mapping[str, str],
    files: Mapping[str, FilePart] | Sequence[tuple[str, FilePart]] | None = None,
) -> tuple[bytes, str]:
    """The body and its Content-Type header value. `files` as a sequence of (name, part)
    pairs may repeat a name (several `image` parts, in order)."""
    boundary = f"imagegen-{secrets.token_hex(16)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        # Field names are the adapter's own (never a caller's): quotes cannot appear.
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    pairs = list(files.items()) if isinstance(files, Mapping) else list(files or ())
    for name, part in pairs:
        # File names and types are the adapter's own too ("image.png"), never a caller's.
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{part.filename}"\r\nContent-Type: {part.content_type}\r\n\r\n'
        )
        parts.append(head.encode() + part.data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
