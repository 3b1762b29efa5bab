"""A faithful fake of xAI's image endpoint (docs.x.ai "Image generation", read 2026-12-04).

``POST /v1/images/generations`` with ``Authorization: Bearer``: ``model``, ``prompt``, ``n``
(1..10), ``response_format`` (``url`` default, ``b64_json``), and for the Grok Imagine models
``aspect_ratio`` and ``resolution``. ``size``, ``quality`` and ``style`` are refused with 400
``Argument not supported: <name>`` as xAI does. URLs point at the fake's own ``/imgen`` route.
Prompt word ``forbidden`` is refused by moderation (400).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, ClassVar

from aiohttp import web

from .base import AUX_ROUTE_PREFIX, FakeProvider, has_word
from .images import jpeg_bytes

IMAGE_ROUTE = f"{AUX_ROUTE_PREFIX}xai-imgen"
MODELS = frozenset({"grok-imagine-image", "grok-imagine-image-quality", "grok-2-image-1212"})
RATIOS = {"1:1": (1024, 1024), "16:9": (1280, 720), "9:16": (720, 1280), "4:3": (1024, 768)}


class XaiFake(FakeProvider):
    name: ClassVar[str] = "xai"

    def __init__(self, api_key: str = "xai-test-key") -> None:
        self.api_key = api_key
        self.files: dict[str, bytes] = {}
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/images/generations", self.generations)
        router.add_get("/imgen/{image_id}.jpeg", self.download, name=IMAGE_ROUTE)

    async def generations(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(400, "Incorrect API key provided", "invalid_api_key", status_override=401)
        body: Any = self.recorded(request).json
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return _error(422, "prompt: field required", "invalid_request")
        for unsupported in ("size", "quality", "style"):
            if unsupported in body:
                return _error(400, f"Argument not supported: {unsupported}", "invalid_argument")
        model = body.get("model")
        if model not in MODELS:
            return _error(404, f"The model {model} does not exist", "model_not_found")
        if "aspect_ratio" in body and model == "grok-2-image-1212":
            return _error(400, "Argument not supported: aspect_ratio", "invalid_argument")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return _error(400, "n must be between 1 and 10", "invalid_argument")
        if has_word(body["prompt"], "forbidden"):
            return _error(400, "Generated image rejected by content moderation.", "moderation")
        width, height = RATIOS.get(str(body.get("aspect_ratio", "1:1")), (1024, 768))
        data = []
        for index in range(n):
            image = jpeg_bytes(width, height, seed=index)
            item: dict[str, Any] = {"revised_prompt": ""}
            if body.get("response_format") == "b64_json":
                item["b64_json"] = base64.b64encode(image).decode()
            else:
                image_id = uuid.uuid4().hex
                self.files[image_id] = image
                item["url"] = f"{self.base_url}/imgen/{image_id}.jpeg"
            data.append(item)
        return web.json_response({"data": data})

    async def download(self, request: web.Request) -> web.StreamResponse:
        data = self.files.get(request.match_info["image_id"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, headers={"Content-Type": "image/jpeg"})


def _error(
    status: int, message: str, code: str, status_override: int | None = None
) -> web.Response:
    return web.json_response({"code": code, "error": message}, status=status_override or status)
