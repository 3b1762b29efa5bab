"""Fake Recraft API, ``POST /v1/images/generations`` (and its ``/raster`` and ``/vector`` variants),
and the image endpoints of edits (``recraft_edits``).

Imitates Recraft's API reference (endpoint and auth, request, response, errors), with
per-model rules from Recraft's docs
(api-reference appendix: sizes and prompt limits per model; styles; model pages and pricing):

* ``Authorization: Bearer <key>``; a missing or wrong token is **401 text/plain**
  ``request unauthorized``; an unknown path is 404 text/plain ``404 page not found`` (6.4);
* the body is validated per model: ``prompt`` (≤1000 characters for V2/V3, ≤10000 for V4/V4.1),
  ``n`` 1..6, ``size`` from the model's list (V2/V3 and V4 raster sizes as ``WxH`` or their
  aspect form; vector models only the aspect form), ``style`` by model (none on V4), ``style``
  and ``style_id`` exclusive, ``negative_prompt`` not on V4, ``controls`` field by field
  (``artistic_level`` not on V2), ``text_layout`` only on V3, ``random_seed`` uint32,
  ``response_format`` ``url``/``b64_json``, ``image_format`` ``webp``/``png``;
* the answer always has ``created``, ``credits`` (API units: the price of the images actually
  returned) and a ``data[]`` whose items have ``image_id`` and ``url`` (default, ~24 h signed
  URL on ``img.recraft.ai``) or ``b64_json``; raster images are real WebP (or PNG) files of the
  exact size, vector images are SVG documents. A V2/V3 raster model with a vector style
  (``vector_illustration``, ``icon``) makes an SVG and charges the vector price; a custom
  ``style_id`` does what its base style does (``fake.custom_styles``).

Trigger words in the prompt (whole words, case-insensitive):

* ``forbidden``   → 400 JSON ``{"code": "inappropriate_content", "message": ...}`` (unconfirmed);
* ``nsfwimage``   → 200 with one image fewer than asked, none when ``n`` is 1 (unconfirmed: what
  ``block_nsfw`` is assumed to do);
* ``ratelimit``   → 429 JSON ``too_many_requests`` with ``Retry-After: 7``;
* ``nocredits``   → 402 JSON ``not_enough_credits`` (an empty API-unit balance, unconfirmed);
* ``servererror`` → 500 JSON ``internal_error``;
* ``unavailable`` → 503 **text/plain** from the load balancer in front of the API;
* ``hang``        → the handler sleeps for an hour (handled in ``base``).

The JSON error shape ``{"code", "message"}`` is not documented (unconfirmed); the fake uses it for
every error that is not one of the two documented plain-text ones. Unknown body fields are
ignored, as a Go JSON decoder does. Simplifications: ``substyle`` values are not checked
against the style; ``style_id`` must be a UUID registered in ``fake.custom_styles``; image URLs
cannot be downloaded unless ``self_hosted_urls=True``.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from .base import FakeProvider, has_word
from .images import png_bytes, webp_bytes
from .recraft_edits import EditCall, add_edit_routes

GENERATIONS_PATH = "/v1/images/generations"
IMAGE_ORIGIN = "https://img.recraft.ai"
IMAGE_ROUTE_NAME = "aux-recraft-image"  # "aux-" keeps downloads out of scripted failures/delay
MAX_N = 6
UINT32_MAX = 2**32 - 1

# Appendix, "List of supported image sizes": aspect → size per model family.
V2_V3_SIZES = {
    "1:1": "1024x1024", "2:1": "2048x1024", "1:2": "1024x2048", "3:2": "1536x1024",
    "2:3": "1024x1536", "4:3": "1365x1024", "3:4": "1024x1365", "5:4": "1280x1024",
    "4:5": "1024x1280", "6:10": "1024x1707", "14:10": "1434x1024", "10:14": "1024x1434",
    "16:9": "1820x1024", "9:16": "1024x1820",
}  # fmt: skip
# The OpenAPI ImageSize enum also lists 1707x1024, which has no aspect form.
V2_V3_EXTRA_SIZES = ("1707x1024",)
V4_SIZES = {
    "1:1": "1024x1024", "2:1": "1536x768", "1:2": "768x1536", "3:2": "1280x832",
    "2:3": "832x1280", "4:3": "1216x896", "3:4": "896x1216", "5:4": "1152x896",
    "4:5": "896x1152", "6:10": "832x1344", "14:10": "1280x896", "10:14": "896x1280",
    "16:9": "1344x768", "9:16": "768x1344",
}  # fmt: skip
V4_PRO_SIZES = {
    "1:1": "2048x2048", "2:1": "3072x1536", "1:2": "1536x3072", "3:2": "2560x1664",
    "2:3": "1664x2560", "4:3": "2432x1792", "3:4": "1792x2432", "5:4": "2304x1792",
    "4:5": "1792x2304", "6:10": "1664x2688", "14:10": "2560x1792", "10:14": "1792x2560",
    "16:9": "2688x1536", "9:16": "1536x2688",
}  # fmt: skip
ASPECTS = tuple(V4_SIZES)
VECTOR_STYLES = frozenset({"vector_illustration", "icon"})


@dataclass(frozen=True)
class Model:
    name: str
    generation: str  # "v2", "v3" or "v4" (V4.1 behaves as V4)
    vector: bool
    #: aspect → WxH for raster models; None for vector models (aspect form only).
    sizes: dict[str, str] | None
    styles: frozenset[str]
    #: API units per image; ``vector_units`` when a V2/V3 raster model makes a vector image.
    units: int
    vector_units: int = 0
    extra_sizes: tuple[str, ...] = field(default=())

    @property
    def prompt_limit(self) -> int:
        return 1000 if self.generation in ("v2", "v3") else 10000

    def default_size(self) -> str:
        return "1:1" if self.sizes is None else self.sizes["1:1"]


def _catalogue() -> dict[str, Model]:
    v2 = frozenset(
        {"any", "realistic_image", "digital_illustration", "vector_illustration", "icon"}
    )
    v3 = frozenset(
        {"any", "realistic_image", "digital_illustration", "vector_illustration", "logo_raster"}
    )
    none: frozenset[str] = frozenset()
    models = [
        Model("recraftv2", "v2", False, V2_V3_SIZES, v2, 22, 44, V2_V3_EXTRA_SIZES),
        Model("recraftv3", "v3", False, V2_V3_SIZES, v3, 40, 80, V2_V3_EXTRA_SIZES),
        Model("recraftv2_vector", "v2", True, None, v2 & VECTOR_STYLES, 44),
        Model("recraftv3_vector", "v3", True, None, v3 & VECTOR_STYLES, 80),
        Model("recraftv4", "v4", False, V4_SIZES, none, 40),
        Model("recraftv4_vector", "v4", True, None, none, 80),
        Model("recraftv4_pro", "v4", False, V4_PRO_SIZES, none, 250),
        Model("recraftv4_pro_vector", "v4", True, None, none, 300),
    ]
    for base in ("recraftv4_1", "recraftv4_1_utility"):
        models += [
            Model(base, "v4", False, V4_SIZES, none, 35),
            Model(f"{base}_vector", "v4", True, None, none, 80),
            Model(f"{base}_pro", "v4", False, V4_PRO_SIZES, none, 210),
            # Unconfirmed: not in the price pages read; charged like V4 Pro Vector.
            Model(f"{base}_pro_vector", "v4", True, None, none, 300),
        ]
    catalogue = {m.name: m for m in models}
    # "every raster model also accepts a _raster alias of the same model"
    for model in list(catalogue.values()):
        if not model.vector:
            catalogue[f"{model.name}_raster"] = model
    return catalogue


MODELS = _catalogue()
DEFAULT_MODEL = "recraftv4_1"


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_json(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


def plain(status: int, text: str) -> web.Response:
    # Go's http.Error: text/plain, a trailing newline, nosniff.
    return web.Response(
        status=status,
        body=f"{text}\n".encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


def _uint(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_color(where: str, value: Any) -> None:
    if not isinstance(value, dict) or set(value) - {"rgb", "std", "weight"}:
        raise BadRequest("invalid_controls", f'{where}: expected {{"rgb": [r, g, b]}}')
    rgb = value.get("rgb")
    if not isinstance(rgb, list) or len(rgb) != 3 or not all(_uint(c, 0, 255) for c in rgb):
        raise BadRequest("invalid_controls", f"{where}.rgb: expected three integers 0..255")


def _check_controls(model: Model, controls: Any) -> None:
    if not isinstance(controls, dict):
        raise BadRequest("invalid_controls", "controls must be an object")
    for key, value in controls.items():
        if key == "artistic_level":
            if model.generation == "v2":
                raise BadRequest("invalid_controls", "artistic_level is not supported by V2")
            if not _uint(value, 0, 5):
                raise BadRequest("invalid_controls", "artistic_level must be 0..5")
        elif key == "no_text":
            if not isinstance(value, bool):
                raise BadRequest("invalid_controls", "no_text must be a boolean")
        elif key == "background_color":
            _check_color("background_color", value)
        elif key == "colors":
            if not isinstance(value, list):
                raise BadRequest("invalid_controls", "colors must be a list")
            for index, color in enumerate(value):
                _check_color(f"colors[{index}]", color)
        else:
            raise BadRequest("invalid_controls", f"unknown control {key!r}")


def _check_text_layout(model: Model, layout: Any) -> None:
    if model.generation != "v3":
        raise BadRequest("invalid_request", "text_layout is only supported by Recraft V3")
    if not isinstance(layout, list):
        raise BadRequest("invalid_request", "text_layout must be a list")
    for item in layout:
        bbox = item.get("bbox") if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("text"), str)
            or not isinstance(bbox, list)
            or len(bbox) != 4
            or not all(isinstance(p, list) and len(p) == 2 for p in bbox)
        ):
            raise BadRequest("invalid_request", "text_layout items need text and a 4-point bbox")


@dataclass(frozen=True)
class Generation:
    model: Model
    prompt: str
    n: int
    #: "WxH" for raster output, an aspect ("16:9") for vector output.
    size: str
    vector: bool
    response_format: str
    image_format: str
    features: bool


def _svg(aspect: str, seed: int) -> bytes:
    w, h = (int(part) for part in aspect.split(":"))
    scale = 1024 / max(w, h)
    width, height = round(w * scale), round(h * scale)
    colour = f"#{zlib.crc32(str(seed).encode()) & 0xFFFFFF:06x}"
    radius = min(width, height) // 4
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><rect width="{width}" height="{height}" '
        f'fill="{colour}"/><circle cx="{width // 2}" cy="{height // 2}" r="{radius}" '
        'fill="#ffffff"/></svg>'
    ).encode()


class RecraftFake(FakeProvider):
    name: ClassVar[str] = "recraft"

    #: Seconds advertised by the ``ratelimit`` trigger.
    retry_after: int = 7

    def __init__(
        self, api_key: str = "recraft-test-key", *, self_hosted_urls: bool = False
    ) -> None:
        self.api_key = api_key
        self.self_hosted_urls = self_hosted_urls
        #: Custom styles by id (``style_id``) → their base style.
        self.custom_styles: dict[str, str] = {}
        #: Generated images by image_id (bytes, content type), for self-hosted URLs.
        self.images: dict[str, tuple[bytes, str]] = {}
        #: API units charged so far.
        self.credits_charged = 0
        #: Accepted calls of the image endpoints (``recraft_edits``), in order.
        self.edits: list[EditCall] = []
        super().__init__()

    # ----------------------------------------------------------------- base hooks

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(GENERATIONS_PATH, self.generations)
        router.add_post(f"{GENERATIONS_PATH}/raster", self.raster_generations)
        router.add_post(f"{GENERATIONS_PATH}/vector", self.vector_generations)
        router.add_get("/img/{image_id}", self.download, name=IMAGE_ROUTE_NAME)
        add_edit_routes(self, router)

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        if exc.status == 405:
            return plain(405, "Method Not Allowed")
        return plain(exc.status, "404 page not found" if exc.status == 404 else exc.reason)

    # ----------------------------------------------------------------- handlers

    async def generations(self, request: web.Request) -> web.StreamResponse:
        return self._handle(request, only=None)

    async def raster_generations(self, request: web.Request) -> web.StreamResponse:
        return self._handle(request, only="raster")

    async def vector_generations(self, request: web.Request) -> web.StreamResponse:
        return self._handle(request, only="vector")

    async def download(self, request: web.Request) -> web.StreamResponse:
        image_id = request.match_info["image_id"].rsplit(".", 1)[0]
        found = self.images.get(image_id)
        if found is None:
            return plain(404, "404 page not found")
        data, content_type = found
        return web.Response(body=data, headers={"Content-Type": content_type})

    def _handle(self, request: web.Request, *, only: str | None) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            return plain(401, "request unauthorized")
        body = self.recorded(request).json
        if not isinstance(body, dict):
            return error_json(400, "invalid_request", "the body must be a JSON object")
        try:
            generation = self._parse(body, only)
        except BadRequest as bad:
            return error_json(400, bad.code, bad.message)

        prompt = generation.prompt
        triggered = self.triggered(prompt)
        if triggered is not None:
            return triggered
        count = generation.n
        if has_word(prompt, "nsfwimage"):
            count -= 1
        return self._answer(generation, count)

    def triggered(self, prompt: str) -> web.Response | None:
        """The scripted error a trigger word in `prompt` asks for, if any."""
        if has_word(prompt, "forbidden"):
            return error_json(
                400,
                "inappropriate_content",
                "The prompt was flagged as inappropriate (NSFW) and rejected",
            )
        if has_word(prompt, "ratelimit"):
            return error_json(
                429,
                "too_many_requests",
                "Too many requests, please slow down",
                {"Retry-After": str(self.retry_after)},
            )
        if has_word(prompt, "nocredits"):
            return error_json(
                402, "not_enough_credits", "Not enough API units on the balance, top up to continue"
            )
        if has_word(prompt, "servererror"):
            return error_json(500, "internal_error", "internal server error")
        if has_word(prompt, "unavailable"):
            return web.Response(
                status=503,
                text="upstream connect error or disconnect/reset before headers. "
                "reset reason: overflow",
                content_type="text/plain",
            )
        return None

    # ----------------------------------------------------------------- validation

    def _parse(self, body: dict[str, Any], only: str | None) -> Generation:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("invalid_request", "prompt is required")
        name = body.get("model", DEFAULT_MODEL)
        model = MODELS.get(name) if isinstance(name, str) else None
        if model is None:
            raise BadRequest("invalid_model", f"unknown model {name!r}")
        if len(prompt) > model.prompt_limit:
            raise BadRequest(
                "prompt_too_long", f"prompt is longer than {model.prompt_limit} characters"
            )
        n = body.get("n", 1)
        if not _uint(n, 1, MAX_N):
            raise BadRequest("invalid_n", f"n must be between 1 and {MAX_N}")

        style = body.get("style")
        style_id = body.get("style_id")
        if style is not None and style_id is not None:
            raise BadRequest("invalid_style", "style and style_id can't be used together")
        if model.generation == "v4":
            for unsupported in ("style", "style_id", "substyle", "negative_prompt"):
                if body.get(unsupported) is not None:
                    raise BadRequest(
                        "invalid_request", f"{unsupported} is not supported by {model.name}"
                    )
        if style is not None and style not in model.styles:
            raise BadRequest("invalid_style", f"style {style!r} is not supported by {model.name}")
        base_style = style
        if style_id is not None:
            try:
                uuid.UUID(str(style_id))
            except ValueError:
                raise BadRequest("invalid_style", "style_id must be a UUID") from None
            if style_id not in self.custom_styles:
                raise BadRequest("style_not_found", f"style {style_id} not found")
            base_style = self.custom_styles[style_id]
        vector = model.vector or (base_style in VECTOR_STYLES)
        if only == "raster" and vector:
            raise BadRequest("invalid_request", "this endpoint makes raster images only")
        if only == "vector" and not vector:
            raise BadRequest("invalid_request", "this endpoint makes vector images only")

        size = self._size(model, body.get("size"), vector)
        for key in ("negative_prompt", "substyle"):
            if key in body and not isinstance(body[key], str):
                raise BadRequest("invalid_request", f"{key} must be a string")
        if "controls" in body:
            _check_controls(model, body["controls"])
        if "text_layout" in body:
            _check_text_layout(model, body["text_layout"])
        if "random_seed" in body and not _uint(body["random_seed"], 0, UINT32_MAX):
            raise BadRequest("invalid_request", "random_seed must be a uint32")
        response_format = body.get("response_format", "url")
        if response_format not in ("url", "b64_json"):
            raise BadRequest("invalid_request", "response_format must be url or b64_json")
        image_format = body.get("image_format", "webp")
        if image_format not in ("webp", "png"):
            raise BadRequest("invalid_request", "image_format must be webp or png")
        return Generation(
            model=model,
            prompt=prompt,
            n=n,
            size=size,
            vector=vector,
            response_format=response_format,
            image_format=image_format,
            features=body.get("calculate_features") is True,
        )

    @staticmethod
    def _size(model: Model, size: Any, vector: bool) -> str:
        if size is None:
            size = model.default_size()
        if not isinstance(size, str):
            raise BadRequest("invalid_size", "size must be a string")
        if model.sizes is None:
            if size not in ASPECTS:
                raise BadRequest("invalid_size", f"size {size!r} is not supported by {model.name}")
            return size
        if size in model.sizes:
            pixels = model.sizes[size]
        elif size in model.sizes.values() or size in model.extra_sizes:
            pixels = size
        else:
            raise BadRequest("invalid_size", f"size {size!r} is not supported by {model.name}")
        if not vector:
            return pixels
        # A V2/V3 raster model drawing a vector style: the SVG has the size's aspect.
        return next((a for a, s in model.sizes.items() if s == pixels), pixels.replace("x", ":"))

    # ----------------------------------------------------------------- answer

    def _answer(self, gen: Generation, count: int) -> web.Response:
        data: list[dict[str, Any]] = []
        seed = zlib.crc32(gen.prompt.encode())
        for index in range(max(count, 0)):
            image_id = str(uuid.uuid4())
            if gen.vector:
                image, content_type, ext = _svg(gen.size, seed + index), "image/svg+xml", "svg"
            else:
                width, height = (int(v) for v in gen.size.split("x"))
                if gen.image_format == "png":
                    image, content_type, ext = (
                        png_bytes(width, height, seed + index),
                        "image/png",
                        "png",
                    )
                else:
                    image = webp_bytes(width, height, seed + index)
                    content_type, ext = "image/webp", "webp"
            item: dict[str, Any] = {"image_id": image_id}
            if gen.response_format == "b64_json":
                item["b64_json"] = base64.b64encode(image).decode("ascii")
            else:
                self.images[image_id] = (image, content_type)
                item["url"] = self._url(image_id, ext)
            if gen.features:
                item["features"] = {"nsfw_score": 0.01}
            data.append(item)
        units = gen.model.vector_units if gen.vector and not gen.model.vector else gen.model.units
        credits = units * len(data)
        self.credits_charged += credits
        return web.json_response({"created": int(time.time()), "credits": credits, "data": data})

    def image_url(self, image_id: str, ext: str) -> str:
        return self._url(image_id, ext)

    def _url(self, image_id: str, ext: str) -> str:
        if self.self_hosted_urls:
            return f"{self.base_url}/img/{image_id}.{ext}"
        return f"{IMAGE_ORIGIN}/{secrets.token_urlsafe(24)}/{image_id}.{ext}"
