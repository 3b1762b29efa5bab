"""The Recraft fake's image endpoints (``POST /v1/images/{endpoint}``), multipart only.

Checked against Recraft's OpenAPI (``external-api.yaml``: ImageToImageRequest,
TransformImageRequest, TransformImageWithMaskRequest, ProcessImageRequest, EraseRegionRequest;
GenerateImageResponse and ProcessImageResponse) and the tool pages (inputs and masks):

* the body is parsed strictly (``tests/fakes/multipart.py``); ``image`` is a file part, and a
  PNG, JPEG or WebP under 10 MB, at most 16 MP, sides 256..4096 px;
* ``inpaint`` and ``eraseRegion`` need a ``mask`` file of exactly the image's size whose pixels
  are all pure black (0, kept) or pure white (255, edited): anything else is a 400;
* ``imageToImage``, ``inpaint`` and ``replaceBackground`` need ``prompt``; ``imageToImage``
  needs ``strength`` in 0..1; ``n`` is 1..6; ``model`` defaults to ``recraftv4_1`` and must be
  one the endpoint serves (V3 for inpaint and background replacement; V3, V4, V4.1 for image
  to image);
* those three answer a generation's shape, one image per ``n`` at the input's size (an SVG
  for a vector model or style), ``credits`` the model's per-image units times the images;
* the tools (``vectorize``, ``removeBackground``, ``crispUpscale``, ``creativeUpscale``,
  ``eraseRegion``) answer ``{created, credits, image}``: an SVG, a transparent PNG, the image
  at twice its sides (crisp and creative alike: Recraft promises no factor), the image at its
  own size; credits 10, 10, 4, 250 and 2 (recraft.ai/docs/api-reference/pricing).

Each accepted call is kept in ``fake.edits`` (endpoint, text fields, file bytes by name).
The prompt trigger words of the generation endpoint apply to the prompted endpoints.
Unconfirmed: V4/V4.1 image to image is charged at the model's generation units (its price was not
published where read).
"""

from __future__ import annotations

import base64
import io
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from PIL import Image

from .images import png_bytes, webp_bytes
from .multipart import MultipartError, parse_multipart

if TYPE_CHECKING:
    from .recraft import RecraftFake

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 16 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 256, 4096
PROMPTED = {"imageToImage", "inpaint", "replaceBackground"}
MASKED = {"inpaint", "eraseRegion"}
V3 = frozenset({"recraftv3", "recraftv3_vector", "recraftv3_raster"})
TOOL_UNITS = {
    "vectorize": 10,
    "removeBackground": 10,
    "crispUpscale": 4,
    "creativeUpscale": 250,
    "eraseRegion": 2,
}
ENDPOINTS = (*sorted(PROMPTED), *sorted(TOOL_UNITS))


@dataclass(frozen=True)
class EditCall:
    """One accepted call: the endpoint, its text fields and its files."""

    endpoint: str
    fields: dict[str, str]
    files: dict[str, bytes] = field(repr=False)


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _open(data: bytes, what: str) -> Image.Image:
    if len(data) >= MAX_BYTES:
        raise Refused("invalid_image", f"{what} must be under 10 MB")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError):
        raise Refused("invalid_image", f"{what} is not a PNG, JPG or WEBP image") from None
    if image.format not in ("PNG", "JPEG", "WEBP"):
        raise Refused("invalid_image", f"{what} is not a PNG, JPG or WEBP image")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise Refused("invalid_image", f"{what} must be at most 16 MP")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise Refused("invalid_image", f"{what} sides must be between 256 and 4096 px")
    return image


def _check_mask(data: bytes | None, size: tuple[int, int]) -> None:
    if data is None:
        raise Refused("invalid_mask", "mask is required")
    mask = _open(data, "mask")
    if mask.size != size:
        raise Refused("invalid_mask", "mask must have exactly the size of the image")
    values = {value for _, value in mask.convert("L").getcolors(MAX_PIXELS) or []}
    if values - {0, 255}:
        raise Refused("invalid_mask", "every mask pixel must be pure black or pure white")


def _svg(width: int, height: int, seed: int) -> bytes:
    colour = f"#{zlib.crc32(str(seed).encode()) & 0xFFFFFF:06x}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><rect width="{width}" height="{height}" '
        f'fill="{colour}"/></svg>'
    ).encode()


def add_edit_routes(fake: RecraftFake, router: web.UrlDispatcher) -> None:
    for endpoint in ENDPOINTS:
        router.add_post(f"/v1/images/{endpoint}", _handler(fake, endpoint))


def _handler(fake: RecraftFake, endpoint: str) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        return _handle(fake, endpoint, request)

    return handle


def _handle(fake: RecraftFake, endpoint: str, request: web.Request) -> web.StreamResponse:
    from .recraft import error_json, plain

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() != fake.api_key:
        return plain(401, "request unauthorized")
    try:
        parts = parse_multipart(
            request.headers.get("Content-Type", ""), fake.recorded(request).body
        )
    except MultipartError as bad:
        return error_json(400, "invalid_request", f"malformed multipart body: {bad}")
    fields = {p.name: p.text() for p in parts if not p.is_file}
    files = {p.name: p.data for p in parts if p.is_file}
    try:
        answer = _answer(fake, endpoint, fields, files)
    except Refused as refused:
        return error_json(400, refused.code, refused.message)
    if isinstance(answer, web.StreamResponse):
        return answer
    fake.edits.append(EditCall(endpoint, fields, files))
    return web.json_response(answer)


def _answer(
    fake: RecraftFake, endpoint: str, fields: dict[str, str], files: dict[str, bytes]
) -> dict[str, Any] | web.StreamResponse:
    from .recraft import MODELS

    if "image" not in files:
        raise Refused("invalid_request", "image is required (a file part)")
    image = _open(files["image"], "image")
    if endpoint in MASKED:
        _check_mask(files.get("mask"), image.size)
    response_format = fields.get("response_format", "url")
    if response_format not in ("url", "b64_json"):
        raise Refused("invalid_request", "response_format must be url or b64_json")
    image_format = fields.get("image_format", "webp")
    if image_format not in ("webp", "png"):
        raise Refused("invalid_request", "image_format must be webp or png")
    width, height = image.size
    if endpoint not in PROMPTED:
        return _tool_answer(fake, endpoint, width, height, response_format, image_format)

    prompt = fields.get("prompt", "")
    if not prompt:
        raise Refused("invalid_request", "prompt is required")
    triggered = fake.triggered(prompt)
    if triggered is not None:
        return triggered
    name = fields.get("model", "recraftv4_1")
    model = MODELS.get(name)
    if model is None:
        raise Refused("invalid_model", f"unknown model {name!r}")
    allowed = model.generation in ("v3", "v4") if endpoint == "imageToImage" else name in V3
    if not allowed:
        raise Refused("invalid_model", f"{endpoint} does not support the model {name!r}")
    if endpoint == "imageToImage":
        try:
            strength = float(fields["strength"])
        except (KeyError, ValueError):
            raise Refused("invalid_request", "strength is required (a number 0..1)") from None
        if not 0 <= strength <= 1:
            raise Refused("invalid_request", "strength must be between 0 and 1")
    try:
        n = int(fields.get("n", "1"))
    except ValueError:
        raise Refused("invalid_n", "n must be an integer") from None
    if not 1 <= n <= 6:
        raise Refused("invalid_n", "n must be between 1 and 6")
    style = fields.get("style")
    if style is not None and style not in model.styles:
        raise Refused("invalid_style", f"style {style!r} is not supported by {name}")
    vector = model.vector or style in ("vector_illustration", "icon")
    seed = zlib.crc32(prompt.encode())
    data = []
    for index in range(n):
        if vector:
            made, ext, kind = _svg(width, height, seed + index), "svg", "image/svg+xml"
        elif image_format == "png":
            made, ext, kind = png_bytes(width, height, seed + index), "png", "image/png"
        else:
            made, ext, kind = webp_bytes(width, height, seed + index), "webp", "image/webp"
        data.append(_item(fake, made, ext, kind, response_format))
    units = model.vector_units if vector and not model.vector else model.units
    credits = units * n
    fake.credits_charged += credits
    return {"created": int(time.time()), "credits": credits, "data": data}


def _tool_answer(
    fake: RecraftFake,
    endpoint: str,
    width: int,
    height: int,
    response_format: str,
    image_format: str,
) -> dict[str, Any]:
    seed = len(endpoint)
    if endpoint == "vectorize":
        made, ext, kind = _svg(width, height, seed), "svg", "image/svg+xml"
    else:
        if endpoint in ("crispUpscale", "creativeUpscale"):
            width, height = width * 2, height * 2
        transparent = endpoint == "removeBackground"
        if image_format == "png" or transparent:
            made = png_bytes(width, height, seed, transparent=transparent)
            ext, kind = "png", "image/png"
        else:
            made, ext, kind = webp_bytes(width, height, seed), "webp", "image/webp"
    credits = TOOL_UNITS[endpoint]
    fake.credits_charged += credits
    return {
        "created": int(time.time()),
        "credits": credits,
        "image": _item(fake, made, ext, kind, response_format),
    }


def _item(fake: RecraftFake, data: bytes, ext: str, kind: str, response_format: str) -> Any:
    image_id = str(uuid.uuid4())
    if response_format == "b64_json":
        return {"image_id": image_id, "b64_json": base64.b64encode(data).decode("ascii")}
    fake.images[image_id] = (data, kind)
    return {"image_id": image_id, "url": fake.image_url(image_id, ext)}
