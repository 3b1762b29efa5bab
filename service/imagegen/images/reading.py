"""Reading the images an SDK caller hands over: bytes, a path, or a binary file object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from imagegen.errors import FieldViolation, InvalidRequestError

#: What `image` and `mask` arguments may be.
ImageInput = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO


def read_image_input(value: Any, field_name: str) -> bytes:
    """The bytes of one image argument (raises InvalidRequestError naming `field_name`)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str | os.PathLike):
        return Path(value).read_bytes()
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, bytes):
            return data
    raise InvalidRequestError(
        f"{field_name} must be bytes, a path or a binary file",
        field_violations=[FieldViolation(field_name, "must be bytes, a path or a binary file")],
        metadata={"field": field_name},
    )


def read_image_inputs(image: Any) -> list[bytes]:
    """One image argument or a list of them, as bytes in order (`images[i]` in errors)."""
    items = list(image) if isinstance(image, list | tuple) else [image]
    return [read_image_input(item, f"images[{index}]") for index, item in enumerate(items)]
