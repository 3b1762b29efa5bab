"""Issue 24's done-criterion on the HTTP door: the official OpenAI Python SDK's `images.edit`
with two images and a mask works against a real `imagegen serve` process (what `make run`
starts: the embedded offline default, the placeholder model), unary and streamed."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from PIL import Image

from tests.fakes.images import jpeg_bytes, png_bytes

W, H = 48, 32
_HTTP_PORT = re.compile(r"HTTP door on port (\d+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def http_base_url(tmp_path: Path) -> AsyncIterator[str]:
    """`imagegen serve` with no config, as `make run` runs it; its HTTP door's base URL."""
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "imagegen.cli", "serve", "--host", "127.0.0.1"),
            *("--port", str(_free_port()), "--http-port", "0"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "OPENAI_API_KEY": ""},
        )
    try:
        port = None
        for _ in range(300):
            found = _HTTP_PORT.search(log.read_text(errors="replace"))
            if found or process.returncode is not None:
                port = found and found.group(1)
                break
            await asyncio.sleep(0.1)
        assert port, log.read_text(errors="replace")[-2000:]
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


def api_mask() -> bytes:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 12, 12))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        return image.convert("RGB")


async def test_sdk_edit_with_two_images_and_a_mask_against_imagegen_serve(
    http_base_url: str,
) -> None:
    photo = png_bytes(W, H, 5)
    images = [("a.png", photo, "image/png"), ("b.jpg", jpeg_bytes(8, 8), "image/jpeg")]
    mask = ("m.png", api_mask(), "image/png")
    original = decode(base64.b64encode(photo).decode())
    async with openai.AsyncOpenAI(
        api_key="unused", base_url=f"{http_base_url}/v1", max_retries=0
    ) as client:
        response = await client.images.edit(
            model="placeholder", image=images, mask=mask, prompt="a red hat"
        )
        stream = await client.images.edit(
            model="placeholder", image=images, mask=mask, prompt="a red hat", stream=True
        )
        events = [event async for event in stream]

    (item,) = response.data or []
    edited = decode(item.b64_json)
    # The placeholder edits where the mask is transparent and leaves the rest as it was.
    assert edited.getpixel((3, 3)) != original.getpixel((3, 3))
    assert edited.getpixel((30, 20)) == original.getpixel((30, 20))
    (completed,) = events
    assert completed.type == "image_edit.completed"
    assert decode(completed.b64_json).tobytes() == edited.tobytes()
