"""The encoded formats an edit accepts, recognised from the file's own first bytes.

What the caller calls a file (a multipart Content-Type, a file name) is never trusted: a GIF
renamed `.png` is still a GIF. Only these three are accepted because they are the ones every
editing provider takes (OpenAI: png, webp, jpg; Recraft, Bedrock, Vertex: at least png and jpeg).
"""

from __future__ import annotations

from enum import StrEnum

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8\xff"


class ImageFormat(StrEnum):
    """An accepted input format; the value is the short name providers use."""

    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"

    @property
    def mime_type(self) -> str:
        return f"image/{self.value}"

    @property
    def pillow_name(self) -> str:
        """The name Pillow reports in `Image.format` for files of this format."""
        return self.name


def sniff_format(data: bytes) -> ImageFormat | None:
    """The format of `data` by its signature, or None when it is none of the accepted ones."""
    if data.startswith(_PNG_SIGNATURE):
        return ImageFormat.PNG
    if data.startswith(_JPEG_SOI):
        return ImageFormat.JPEG
    # RIFF container: "RIFF", 4 bytes of length, then the form type.
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return None
