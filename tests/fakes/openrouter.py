"""A faithful fake of OpenRouter's chat completions with image output (openrouter.ai/docs
"Image generation", read 2026-12-04).

``POST /api/v1/chat/completions`` with ``Authorization: Bearer``: ``model``, ``messages``,
``modalities`` (must include ``image`` for an image), ``image_config.aspect_ratio``. The answer
carries ``choices[0].message.images[].image_url.url`` as a PNG data URL and a ``usage`` block
with OpenRouter's ``cost``.
Prompt word ``refuse`` answers text only with ``finish_reason: content_filter``; a bad key is
401 ``{"error": {"message", "code": 401}}``.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, ClassVar

from aiohttp import web

from .base import FakeProvider, has_word
from .images import png_bytes

RATIOS = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "3:2": (1248, 832)}


class OpenRouterFake(FakeProvider):
    name: ClassVar[str] = "openrouter"

    def __init__(self, api_key: str = "sk-or-test") -> None:
        self.api_key = api_key
        #: What each answer says it cost (usage.cost, in credits of $1).
        self.cost = 0.0387036
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v1/chat/completions", self.completions)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "No auth credentials found")
        body: Any = self.recorded(request).json
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "messages is required")
        prompt = str(messages[-1].get("content", ""))
        wants_image = "image" in (body.get("modalities") or [])
        ratio = (body.get("image_config") or {}).get("aspect_ratio", "1:1")
        width, height = RATIOS.get(ratio, (1024, 1024))
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        finish = "stop"
        if has_word(prompt, "refuse"):
            message["content"] = "I can't help with that."
            finish = "content_filter"
        elif wants_image:
            data = base64.b64encode(png_bytes(width, height, seed=7)).decode()
            message["images"] = [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
            ]
        return web.json_response(
            {
                "id": f"gen-{uuid.uuid4().hex}",
                "provider": "Google",
                "model": body.get("model"),
                "object": "chat.completion",
                "created": 1796400000,
                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 1290,
                    "total_tokens": 1302,
                    "cost": self.cost if "images" in message else 0.0000036,
                },
            }
        )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "code": status}}, status=status)
