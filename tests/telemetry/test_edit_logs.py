"""What telemetry says about an edit's inputs: digest prefix, bytes, dimensions, format, on
the request log line and in the callbacks' payload; never the bytes or their base64."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
from collections.abc import Iterator

import pytest
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import embedded_settings
from tests.telemetry.conftest import ObserveFactory, request_lines

BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def noisy_png(width: int, height: int, seed: int) -> bytes:
    """Incompressible pixels, so the file is large enough for base64 to show if it leaked."""
    image = Image.frombytes(
        "RGB", (width, height), hashlib.shake_256(bytes([seed])).digest(width * height * 3)
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def mask_png(width: int, height: int) -> bytes:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


async def test_the_log_line_and_callbacks_describe_inputs_without_their_bytes(
    observe: ObserveFactory, captured: Capture
) -> None:
    observed = await observe(embedded_settings())
    first, second, mask = noisy_png(96, 64, 1), noisy_png(40, 40, 2), mask_png(96, 64)

    await observed.stub.EditImages(
        pb.EditImagesRequest(
            prompt="inpaint it",
            model="placeholder",
            images=[first, second],
            mask=mask,
            operation=pb.EDIT_OPERATION_INPAINT,
        )
    )
    await observed.drain_callbacks()

    [line] = request_lines(captured.records)
    expected = [
        {
            "field": field,
            "sha256": hashlib.sha256(data).hexdigest()[:16],
            "bytes": len(data),
            "width": width,
            "height": height,
            "format": "png",
        }
        for field, data, width, height in [
            ("images[0]", first, 96, 64),
            ("images[1]", second, 40, 40),
            ("mask", mask, 96, 64),
        ]
    ]
    assert line["edit"] == {"operation": "inpaint", "inputs": expected}
    [payload] = observed.collected.payloads
    assert payload["edit"] == line["edit"]
    texts = [record.getMessage() for record in captured.records]
    for data in (first, second):
        encoded = base64.b64encode(data).decode()
        assert not any(encoded[:64] in text for text in texts)
    assert not any(BASE64_RUN.search(text) for text in texts)
