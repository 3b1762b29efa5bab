"""A faithful fake of Stability's v2beta generate API (platform.stability.ai API reference,
read 2026-12-04).

``POST /v2beta/stable-image/generate/{ultra|core|sd3}`` with ``Authorization: Bearer`` and a
multipart/form-data body (a JSON body is refused with 400, as Stability does). ``Accept:
application/json`` answers ``{"image", "finish_reason", "seed"}``; ``image/*`` answers the
bytes with ``finish-reason`` and ``seed`` headers. Prompt words: ``filtered`` →
``finish_reason: CONTENT_FILTERED``; ``banned`` → 403 ``content_moderation``.
"""

from __future__ import annotations

import base64
from email.parser import BytesParser
from email.policy import HTTP
from typing import ClassVar

from aiohttp import web

from .base import FakeProvider, has_word
from .images import png_bytes

SD3_MODELS = frozenset({"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash"})
RATIOS = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "3:2": (1216, 832)}


def parse_form(content_type: str, body: bytes) -> dict[str, str] | None:
    """The text fields of a multipart/form-data body, or None when it is not one."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload.decode() if isinstance(payload, bytes) else ""
    return fields


class StabilityFake(FakeProvider):
    name: ClassVar[str] = "stability"

    def __init__(self, api_key: str = "sk-stability-test") -> None:
        self.api_key = api_key
        self.forms: list[dict[str, str]] = []
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2beta/stable-image/generate/{route}", self.generate)

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


def _error(status: int, name: str, message: str) -> web.Response:
    return web.json_response(
        {"id": "0123456789abcdef", "name": name, "errors": [message]}, status=status
    )
