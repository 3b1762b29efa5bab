"""A strict multipart/form-data parser (RFC 7578 over RFC 2046) for the fakes.

Written apart from the gateway's own multipart builder on purpose: a test that sends the
builder's bytes through this parser checks the wire format, not one piece of code against
itself. Strict where servers are: a missing closing delimiter, a part without a
Content-Disposition or a name, or a boundary that is not declared is a parse error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)="((?:[^"\\]|\\.)*)"|;\s*([A-Za-z0-9_*-]+)=([^;\s]+)')


class MultipartError(ValueError):
    """The body is not valid multipart/form-data."""


@dataclass(frozen=True)
class Part:
    """One form part as received."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    def text(self) -> str:
        return self.data.decode("utf-8")


def _params(header_value: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _PARAM.finditer(header_value):
        if match.group(1) is not None:
            found[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", match.group(2))
        else:
            found[match.group(3).lower()] = match.group(4)
    return found


def boundary_of(content_type: str) -> str:
    """The boundary declared by a multipart/form-data Content-Type header."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind != "multipart/form-data":
        raise MultipartError(f"not multipart/form-data: {kind or 'no content type'}")
    boundary = _params(content_type).get("boundary")
    if not boundary or len(boundary) > 70:
        raise MultipartError("missing or invalid boundary")
    return boundary


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of `body`, in order."""
    delimiter = b"\r\n--" + boundary_of(content_type).encode("ascii")
    # The first delimiter may open the body without a preceding CRLF.
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 2:
        raise MultipartError("no part delimiter in the body")
    closing = sections[-1]
    if not closing.startswith(b"--"):
        raise MultipartError("the body does not end with the closing delimiter")
    parts = []
    for section in sections[1:-1]:
        # After the delimiter: optional transport padding, then CRLF, headers, CRLF CRLF.
        line_end = section.find(b"\r\n")
        if line_end < 0 or section[:line_end].strip(b" \t"):
            raise MultipartError("malformed delimiter line")
        head, separator, data = section[line_end + 2 :].partition(b"\r\n\r\n")
        if not separator:
            raise MultipartError("a part has no header/body separator")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            name, colon, value = line.decode("utf-8").partition(":")
            if not colon:
                raise MultipartError("malformed part header")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        if not disposition.lower().startswith("form-data"):
            raise MultipartError("a part has no form-data Content-Disposition")
        params = _params(disposition)
        if "name" not in params:
            raise MultipartError("a part has no name")
        parts.append(
            Part(
                name=params["name"],
                filename=params.get("filename"),
                content_type=headers.get("content-type"),
                data=data,
                headers=headers,
            )
        )
    return parts
