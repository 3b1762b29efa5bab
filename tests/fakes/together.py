"""A faithful fake of Together AI's images endpoint (docs.together.ai, read 2026-12-04).

``POST /v1/images/generations`` with ``Authorization: Bearer``: ``model``, ``prompt``,
``width``/``height`` (multiples of 16, up to 1792), ``n`` (1..4), ``response_format`` (``url``
default, ``base64``), extras such as ``steps``. Errors are OpenAI-shaped
``{"error": {"message", "type", "code"}}``. Prompt word ``nsfw`` is refused (422).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, ClassVar

from aiohttp import web

from .base import AUX_ROUTE_PREFIX, FakeProvider, has_word
from .images import jpeg_bytes

IMAGE_ROUTE = f"{AUX_ROUTE_PREFIX}together-files"


class TogetherFake(FakeProvider):
    name: ClassVar[str] = "together_ai"

    def __init__(self, api_key: str = "together-test-key") -> None:
        self.api_key = api_key
        self.files: dict[str, bytes] = {}
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/images/generations", self.generations)
        router.add_get("/files/{image_id}.jpeg", self.download, name=IMAGE_ROUTE)

    async def generations(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid API key provided", "invalid_api_key")
        body: Any = self.recorded(request).json
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return _error(400, "prompt is required", "invalid_request_error")
        width, height = int(body.get("width", 1024)), int(body.get("height", 768))
        if width % 16 or height % 16 or max(width, height) > 1792:
            return _error(400, "width and height must be multiples of 16 up to 1792", None)
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 4:
            return _error(400, "n must be between 1 and 4", None)
        if has_word(body["prompt"], "nsfw"):
            return _error(422, "Your request was flagged as NSFW by the safety checker", None)
        data = []
        for index in range(n):
            image = jpeg_bytes(width, height, seed=index)
            if body.get("response_format") == "base64":
                data.append({"index": index, "b64_json": base64.b64encode(image).decode()})
            else:
                image_id = uuid.uuid4().hex
                self.files[image_id] = image
                data.append({"index": index, "url": f"{self.base_url}/files/{image_id}.jpeg"})
        return web.json_response(
            {"id": uuid.uuid4().hex, "model": body.get("model"), "object": "list", "data": data}
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        data = self.files.get(request.match_info["image_id"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, headers={"Content-Type": "image/jpeg"})


def _error(status: int, message: str, code: str | None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "code": code}
    return web.json_response({"error": error}, status=status)
