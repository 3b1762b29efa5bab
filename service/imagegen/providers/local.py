"""The built-in offline provider `local`, serving the model `placeholder`.

A development and test model: it renders a real PNG of the requested size with
Pillow, deterministic for (prompt, seed, image index), with no network and no key.
Its price is exactly $0 (see pricing/prices.toml). It is what `make run` serves
out of the box, so the whole request path can be exercised offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import textwrap
import time
from typing import ClassVar

from PIL import Image, ImageDraw, ImageFont

from imagegen.errors import ModelNotFoundError
from imagegen.providers.base import Endpoint, ModelSpec, ParamSpec, ProviderCall
from imagegen.providers.transport import HttpTransport
from imagegen.sizes import FreeFormRule, parse_size
from imagegen.types import GeneratedImage, ProviderResult, ResponseFormat

PLACEHOLDER_MODEL = "placeholder"
DEFAULT_SIZE = "1024x1024"

PLACEHOLDER_SPEC = ModelSpec(
    family=PLACEHOLDER_MODEL,
    params=frozenset({"n", "size", "response_format", "user"}),
    max_prompt_chars=32000,
    max_n=10,
    size_rule=FreeFormRule(min_edge=16, max_edge=2048),
    response_formats=(ResponseFormat.B64_JSON,),
    send_response_format=False,
    provider_params={"seed": ParamSpec(int, minimum=0, maximum=2**32 - 1)},
    default_size=DEFAULT_SIZE,
)


def render_placeholder(prompt: str, seed: int, index: int, width: int, height: int) -> bytes:
    """A PNG: a two-colour gradient chosen by the prompt's hash, with the prompt written on it."""
    digest = hashlib.sha256(f"{seed}\x00{index}\x00{prompt}".encode()).digest()
    top, bottom = digest[0:3], digest[3:6]
    # Build the gradient as a 1-pixel-wide strip and let resize() stretch it: far cheaper
    # than drawing width x height pixels in Python.
    strip = Image.new("RGB", (1, 256))
    strip.putdata(
        [
            tuple(t + (b - t) * y // 255 for t, b in zip(top, bottom, strict=True))
            for y in range(256)
        ]
    )
    image = strip.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    font_size = max(8, min(width, height) // 16)
    font = ImageFont.load_default(size=font_size)
    ink = (255, 255, 255) if sum(top) + sum(bottom) < 3 * 255 else (0, 0, 0)
    chars_per_line = max(8, int(width / (font_size * 0.6)))
    lines = textwrap.wrap(prompt, chars_per_line)[: max(1, height // (font_size * 2))]
    draw.multiline_text((font_size // 2, font_size // 2), "\n".join(lines), fill=ink, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


class LocalProvider:
    """Renders placeholder images in-process."""

    name: ClassVar[str] = "local"
    env_api_key: ClassVar[tuple[str, ...]] = ()
    env_api_base: ClassVar[tuple[str, ...]] = ()
    env_api_version: ClassVar[tuple[str, ...]] = ()
    endpoint_options: ClassVar[tuple[str, ...]] = ()
    credential_options: ClassVar[tuple[str, ...]] = ()
    bare_models: ClassVar[tuple[str, ...]] = (PLACEHOLDER_MODEL,)
    price_rows: ClassVar[str] = ""

    def spec_for(self, model: str) -> ModelSpec:
        if model != PLACEHOLDER_MODEL:
            raise ModelNotFoundError(
                f"the local provider serves only {PLACEHOLDER_MODEL!r}",
                metadata={"model": model, "provider": self.name},
            )
        return PLACEHOLDER_SPEC

    def api_base(self, endpoint: Endpoint) -> str:
        return "local://"

    def check_endpoint(self, endpoint: Endpoint, model: str) -> None:
        self.spec_for(model)

    async def generate(self, call: ProviderCall, transport: HttpTransport) -> ProviderResult:
        size = parse_size(call.params.size or DEFAULT_SIZE)
        raw_seed = call.params.extra.get("seed", 0)
        seed = raw_seed if isinstance(raw_seed, int) else 0

        def render_all() -> list[bytes]:
            return [
                render_placeholder(call.prompt, seed, index, size.width, size.height)
                for index in range(call.params.n)
            ]

        # Pillow releases the GIL while encoding; a thread keeps the event loop serving.
        pngs = await asyncio.to_thread(render_all)
        return ProviderResult(
            images=[
                GeneratedImage(
                    data=png, mime_type="image/png", width=size.width, height=size.height
                )
                for png in pngs
            ],
            created=int(time.time()),
            size=str(size),
        )
