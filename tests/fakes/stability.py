"""A faithful fake of Stability's v2beta generate API (platform.stability.ai API reference,
read 2026-12-04).

``POST /v2beta/stable-image/generate/{ultra|core|sd3}`` with ``Authorization: Bearer`` and a
multipart/form-data body (a JSON body is refused with 400, as Stability does). ``Accept:
application/json`` answers ``{"image", "finish_reason", "seed"}``; ``image/*`` answers the
bytes with ``finish-reason`` and ``seed`` headers. Prompt words: ``filtered`` →
``finish_reason: CONTENT_FILTERED``; ``banned`` → 403 ``content_moderation``.

``POST /v2beta/stable-image/edit/{inpaint|outpaint|erase|remove-background}`` ("Edit" v2beta):
an ``image`` file part that must decode; inpaint and erase a same-size black-and-white
``mask`` file (inpaint also a prompt); outpaint ``left``/``right``/``up``/``down`` (0..2000,
one at least non-zero). The answer's image has the input's size plus the outpainted sides.
"""

from __future__ import annotations

import base64
import io
from email.parser import BytesParser
from email.policy import HTTP
from typing import ClassVar

from aiohttp import web
from PIL import Image

from .base import FakeProvider, has_word
from .images import png_bytes

SD3_MODELS = frozenset({"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash"})
RATIOS = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "3:2": (1216, 832)}


EDIT_ROUTES = frozenset({"inpaint", "outpaint", "erase", "remove-background"})
SIDES = ("left", "right", "up", "down")


def parse_form(content_type: str, body: bytes) -> dict[str, str] | None:
    """The text fields of a multipart/form-data body, or None when it is not one."""
    parsed = parse_multipart(content_type, body)
    return None if parsed is None else parsed[0]


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, bytes]] | None:
    """The text fields and the file parts (those with a filename) of a multipart body."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename() is not None:
                files[name] = data
            else:
                fields[name] = data.decode()
    return fields, files


class StabilityFake(FakeProvider):
    name: ClassVar[str] = "stability"

    def __init__(self, api_key: str = "sk-stability-test") -> None:
        self.api_key = api_key
        self.forms: list[dict[str, str]] = []
        #: Per edit: the route, the image's bytes and the mask as Stability reads it ("L").
        self.edits: list[tuple[str, bytes, Image.Image | None]] = []
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2beta/stable-image/generate/{route}", self.generate)
        router.add_post("/v2beta/stable-image/edit/{route}", self.edit)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", "authorization: invalid or missing API key")
        route = request.match_info["route"]
        if route not in ("ultra", "core", "sd3"):
            return _error(404, "not_found", "route not found")
        form = parse_form(request.headers.get("Content-Type", ""), self.recorded(request).body)
        if form is None:
            return _error(400, "bad_request", "content-type: must be multipart/form-data")
        self.forms.append(form)
        prompt = form.get("prompt", "")
        if not prompt:
            return _error(400, "bad_request", "prompt: cannot be empty")
        if route == "sd3" and form.get("model", "sd3.5-large") not in SD3_MODELS:
            return _error(400, "bad_request", "model: must be one of the sd3.5 models")
        if has_word(prompt, "banned"):
            return _error(403, "content_moderation", "Your request was flagged by our filter")
        width, height = RATIOS.get(form.get("aspect_ratio", "1:1"), (1024, 1024))
        image = png_bytes(width, height, seed=int(form.get("seed", "0")))
        reason = "CONTENT_FILTERED" if has_word(prompt, "filtered") else "SUCCESS"
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response(
                {"image": base64.b64encode(image).decode(), "finish_reason": reason, "seed": 1}
            )
        return web.Response(
            body=image,
            headers={"Content-Type": "image/png", "finish-reason": reason, "seed": "1"},
        )

    async def edit(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", "authorization: invalid or missing API key")
        route = request.match_info["route"]
        if route not in EDIT_ROUTES:
            return _error(404, "not_found", "route not found")
        parsed = parse_multipart(
            request.headers.get("Content-Type", ""), self.recorded(request).body
        )
        if parsed is None:
            return _error(400, "bad_request", "content-type: must be multipart/form-data")
        form, files = parsed
        self.forms.append(form)
        image = _open(files.get("image"))
        if image is None:
            return _error(400, "bad_request", "image: required, and must be an image file")
        width, height = image.size
        mask = None
        if route in ("inpaint", "erase"):
            mask = _open(files.get("mask"))
            if mask is None or mask.size != image.size:
                return _error(400, "bad_request", "mask: must be an image of the image's size")
            mask = mask.convert("L")
            if {value for _, value in mask.getcolors() or []} - {0, 255}:
                return _error(400, "bad_request", "mask: expected pure black and white here")
        if route == "inpaint" and not form.get("prompt"):
            return _error(400, "bad_request", "prompt: cannot be empty")
        if route == "outpaint":
            sides = {side: int(form.get(side, "0")) for side in SIDES}
            if not any(sides.values()) or not all(0 <= v <= 2000 for v in sides.values()):
                return _error(400, "bad_request", "left, right, up, down: one of 1..2000")
            width += sides["left"] + sides["right"]
            height += sides["up"] + sides["down"]
        self.edits.append((route, files["image"], mask))
        result = png_bytes(width, height, seed=len(route), transparent=route == "remove-background")
        return web.json_response(
            {"image": base64.b64encode(result).decode(), "finish_reason": "SUCCESS", "seed": 1}
        )


def _open(data: bytes | None) -> Image.Image | None:
    if not data:
        return None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except OSError:
        return None
    return image


def _error(status: int, name: str, message: str) -> web.Response:
    return web.json_response(
        {"id": "0123456789abcdef", "name": name, "errors": [message]}, status=status
    )
