"""A faithful fake of Black Forest Labs' API (docs.bfl.ai, read 2026-12-04).

``POST /v1/{model}`` with ``x-key`` answers ``{"id", "polling_url"}``; ``GET /v1/get_result?id=``
answers ``{"id", "status", "result", "progress"}``: ``Pending`` for ``pending_polls`` polls
(with a rising ``progress``), then ``Ready`` with ``result.sample`` on a delivery route. Prompt
trigger words: ``moderated`` (``Request Moderated``), ``explicit`` (``Content Moderated``),
``broken`` (``Error``). Validation failures are FastAPI 422 bodies; a bad key is 403
``{"detail": "Not authenticated"}`` as BFL answers. ``polling_base`` / ``delivery_base`` move
the URLs the answers name (for SSRF tests); BFL has no cancel call.
"""

from __future__ import annotations

import base64
import binascii
import io
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web
from PIL import Image

from .base import AUX_ROUTE_PREFIX, FakeProvider, has_word
from .images import MIME_TYPES, ImageFormat, image_bytes

DELIVERY_ROUTE = f"{AUX_ROUTE_PREFIX}bfl-delivery"
MODELS = frozenset(
    {
        "flux-pro-1.1", "flux-pro-1.1-ultra", "flux-pro", "flux-dev", "flux-kontext-pro",
        "flux-kontext-max", "flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b",
        "flux-2-klein-9b", "flux-pro-1.0-fill", "flux-pro-1.0-expand",
    }
)  # fmt: skip
#: Editing endpoints that take `image` (Fill also `mask`) and answer at the input's size.
FILL, EXPAND = "flux-pro-1.0-fill", "flux-pro-1.0-expand"
SIDES = ("top", "bottom", "left", "right")
#: FLUX.2 rates in credits: (first output megapixel, each further output or input megapixel),
#: per BFL's FLUX.2 pricing table; the submit answer states the job's `cost` from them.
FLUX2_RATES = {"flux-2-pro": (3.0, 1.5), "flux-2-max": (7.0, 3.0)}


@dataclass
class BflJob:
    id: str
    model: str
    prompt: str
    width: int
    height: int
    output_format: str
    polls: int = 0


class BflFake(FakeProvider):
    name: ClassVar[str] = "black_forest_labs"

    def __init__(self, api_key: str = "bfl-test-key", pending_polls: int = 2) -> None:
        self.api_key = api_key
        self.pending_polls = pending_polls
        self.jobs: dict[str, BflJob] = {}
        self.polling_base: str | None = None
        self.delivery_base: str | None = None
        #: Serve result files chunked, without a Content-Length.
        self.chunked_delivery = False
        #: Per submit that carried input images: their decoded bytes in field order.
        self.input_images: list[list[bytes]] = []
        #: Per Fill submit: the mask as BFL reads it (an "L" image, white = inpaint).
        self.masks: list[Image.Image] = []
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/get_result", self.get_result)
        router.add_get("/delivery/{job_id}/sample.{ext}", self.delivery, name=DELIVERY_ROUTE)
        router.add_post("/v1/{model}", self.submit)

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("x-key") == self.api_key

    async def submit(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response({"detail": "Not authenticated"}, status=403)
        model = request.match_info["model"]
        if model not in MODELS:
            return web.json_response({"detail": "Not Found"}, status=404)
        body: Any = self.recorded(request).json
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return _invalid(["body", "prompt"], "Field required")
        inputs = _input_images(body)
        if isinstance(inputs, web.Response):
            return inputs
        if inputs:
            self.input_images.append(inputs)
        width, height = int(body.get("width", 1024)), int(body.get("height", 768))
        if model in (FILL, EXPAND):
            sized = self._edit_input(model, body)
            if isinstance(sized, web.Response):
                return sized
            width, height = sized
        elif "aspect_ratio" in body:
            width, height = _ratio_size(str(body["aspect_ratio"]))
        elif width % 32 or height % 32 or not 256 <= min(width, height) <= max(width, height):
            return _invalid(["body", "width"], "Input should be a multiple of 32")
        job = BflJob(
            id=str(uuid.uuid4()),
            model=model,
            prompt=body["prompt"],
            width=width,
            height=height,
            output_format=str(body.get("output_format", "jpeg")),
        )
        self.jobs[job.id] = job
        base = self.polling_base or self.base_url
        answer: dict[str, Any] = {"id": job.id, "polling_url": f"{base}/v1/get_result?id={job.id}"}
        if model in FLUX2_RATES:
            first, further = FLUX2_RATES[model]
            output_mp = round(width * height / 1_000_000, 2)
            answer.update(
                cost=round(first + max(0.0, output_mp - 1) * further, 4),
                input_mp=0,
                output_mp=output_mp,
            )
        return web.json_response(answer)

    def _edit_input(self, model: str, body: dict[str, Any]) -> tuple[int, int] | web.Response:
        """Fill and Expand: a base64 `image` (Fill: a same-size black/white `mask`; Expand:
        non-negative sides); the answer's size is the image's, plus any added sides."""
        image = _decode(body.get("image"))
        if image is None:
            return _invalid(["body", "image"], "Input should be a base64 encoded image")
        self.input_images.append([base64.b64decode(str(body["image"]))])
        width, height = image.size
        if model == FILL and "mask" in body:
            mask = _decode(body["mask"])
            if mask is None or mask.size != image.size:
                return _invalid(["body", "mask"], "Mask dimensions must match the image")
            gray = mask.convert("L")
            if {value for _, value in gray.getcolors() or []} - {0, 255}:
                return _invalid(["body", "mask"], "Mask must be black and white")
            self.masks.append(gray)
        if model == EXPAND:
            sides = {side: body.get(side, 0) for side in SIDES}
            if any(not isinstance(v, int) or not 0 <= v <= 2048 for v in sides.values()):
                return _invalid(["body", "top"], "Input should be between 0 and 2048")
            width += sides["left"] + sides["right"]
            height += sides["top"] + sides["bottom"]
        return width, height

    async def get_result(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response({"detail": "Not authenticated"}, status=403)
        job = self.jobs.get(request.query.get("id", ""))
        if job is None:
            return web.json_response({"id": "", "status": "Task not found"})
        job.polls += 1
        answer: dict[str, Any] = {"id": job.id, "result": None, "progress": None}
        if has_word(job.prompt, "moderated"):
            answer["status"] = "Request Moderated"
        elif has_word(job.prompt, "explicit") and job.polls > self.pending_polls:
            answer["status"] = "Content Moderated"
        elif has_word(job.prompt, "broken"):
            answer["status"] = "Error"
        elif job.polls <= self.pending_polls:
            answer["status"] = "Pending"
            answer["progress"] = round(job.polls / (self.pending_polls + 1), 2)
        else:
            base = self.delivery_base or self.base_url
            ext = job.output_format
            answer["status"] = "Ready"
            answer["result"] = {
                "sample": f"{base}/delivery/{job.id}/sample.{ext}?se=2026-12-04&sig=abc",
                "prompt": job.prompt,
                "seed": 42,
                "start_time": 1.0,
                "end_time": 2.0,
                "duration": 1.0,
            }
            answer["progress"] = 1.0
        return web.json_response(answer)

    async def delivery(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.Response(status=404)
        fmt: ImageFormat = "jpeg"
        if job.output_format in ("png", "webp"):
            fmt = "png" if job.output_format == "png" else "webp"
        data = image_bytes(fmt, job.width, job.height, seed=len(job.prompt))
        if not self.chunked_delivery:
            return web.Response(body=data, headers={"Content-Type": MIME_TYPES[fmt]})
        # Chunked, with no Content-Length: the size is only known by reading.
        response = web.StreamResponse(headers={"Content-Type": MIME_TYPES[fmt]})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), 1024):
            await response.write(data[start : start + 1024])
        await response.write_eof()
        return response


INPUT_FIELDS = ("input_image", "input_image_2", "input_image_3", "input_image_4")


def _input_images(body: dict[str, Any]) -> list[bytes] | web.Response:
    """Kontext's `input_image` .. `input_image_4`: base64 that must decode to an image; a later
    reference without the earlier ones, or an unknown numbered field, is refused."""
    unknown = [k for k in body if k.startswith("input_image") and k not in INPUT_FIELDS]
    if unknown:
        return _invalid(["body", unknown[0]], "Extra inputs are not permitted")
    found: list[bytes] = []
    for name in INPUT_FIELDS:
        value = body.get(name)
        if value is None:
            break
        try:
            data = base64.b64decode(str(value), validate=True)
            Image.open(io.BytesIO(data)).verify()
        except (binascii.Error, ValueError, OSError):
            return _invalid(["body", name], "Input should be a base64 encoded image or URL")
        found.append(data)
    if any(body.get(name) is not None for name in INPUT_FIELDS[len(found) :]):
        return _invalid(["body", INPUT_FIELDS[len(found)]], "Field required")
    return found


def _decode(value: Any) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(base64.b64decode(str(value), validate=True)))
        image.load()
    except (binascii.Error, ValueError, OSError):
        return None
    return image


def _invalid(loc: list[str], message: str) -> web.Response:
    detail = [{"type": "value_error", "loc": loc, "msg": message, "input": None}]
    return web.json_response({"detail": detail}, status=422)


def _ratio_size(ratio: str) -> tuple[int, int]:
    w, _, h = ratio.partition(":")
    try:
        a, b = int(w), int(h)
    except ValueError:
        return 1024, 1024
    # About one megapixel in the ratio, edges multiples of 32.
    scale = (1024 * 1024 / (a * b)) ** 0.5
    return max(32, round(a * scale / 32) * 32), max(32, round(b * scale / 32) * 32)
