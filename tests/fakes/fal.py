"""A faithful fake of fal's queue API (docs.fal.ai "Queue", read 2026-12-04).

``POST /{app}`` with ``Authorization: Key`` answers ``{request_id, status_url, response_url,
cancel_url}`` (the request routes hang off the app's owner/name, without its sub-path).
``GET .../requests/{id}/status`` answers ``IN_QUEUE`` with a falling ``queue_position`` for
``queue_polls`` polls, then ``IN_PROGRESS`` for ``progress_polls``, then ``COMPLETED``.
``GET .../requests/{id}`` is the app's output; ``PUT .../requests/{id}/cancel`` answers 202
``CANCELLATION_REQUESTED`` (400 ``ALREADY_COMPLETED`` once done) and records the id in
``cancelled``. ``status_failures``: statuses the next polls fail with. Prompt words: ``nsfw``
flags every image (``has_nsfw_concepts``), ``halfnsfw`` the first one only, ``crash`` completes
with an ``error``. ``file_base`` moves the image URLs; ``sync_mode`` inlines them as data URIs.
An edit app's ``image_url`` data URI is decoded (422 when it is not base64 of a known image
type) and its bytes recorded in ``input_images``, one list per submit.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from .base import AUX_ROUTE_PREFIX, FakeProvider, has_word
from .images import image_bytes

FILE_ROUTE = f"{AUX_ROUTE_PREFIX}fal-files"


@dataclass
class FalRequest:
    id: str
    app: str
    input: dict[str, Any]
    polls: int = 0
    done: bool = False
    cancelled: bool = False


class FalFake(FakeProvider):
    name: ClassVar[str] = "fal_ai"

    def __init__(
        self, api_key: str = "fal-test-key", queue_polls: int = 2, progress_polls: int = 1
    ) -> None:
        self.api_key = api_key
        self.queue_polls = queue_polls
        self.progress_polls = progress_polls
        self.jobs: dict[str, FalRequest] = {}
        self.cancelled: list[str] = []
        self.cancel_seen = asyncio.Event()
        self.file_base: str | None = None
        #: HTTP statuses the next status polls answer with (transient failures), in order.
        self.status_failures: list[int] = []
        #: The decoded `image_url` data URI of each submit that carried one.
        self.input_images: list[list[bytes]] = []
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/files/{request_id}/{index}.png", self.file, name=FILE_ROUTE)
        router.add_route("*", "/{tail:.+}", self.dispatch)

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Key" and key == self.api_key

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response(
                {"detail": "Authentication is required to perform this action"}, status=401
            )
        parts = request.match_info["tail"].split("/")
        if "requests" in parts:
            at = parts.index("requests")
            rest = parts[at + 1 :]
            job = self.jobs.get(rest[0]) if rest else None
            if job is None:
                return web.json_response({"detail": "Request not found"}, status=404)
            if rest[1:] == ["status"] and request.method == "GET":
                if self.status_failures:
                    status = self.status_failures.pop(0)
                    return web.json_response({"detail": "try again later"}, status=status)
                return self._status(job)
            if rest[1:] == ["cancel"] and request.method == "PUT":
                return self._cancel(job)
            if rest[1:] == [] and request.method == "GET":
                return self._result(job)
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        if request.method != "POST":
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        return self._submit(request, "/".join(parts))

    def _submit(self, request: web.Request, app: str) -> web.StreamResponse:
        body = self.recorded(request).json
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}]
            return web.json_response({"detail": detail}, status=422)
        if "image_url" in body:
            data = _decode_data_uri(body["image_url"])
            if data is None:
                detail = [{"loc": ["body", "image_url"], "msg": "bad image", "type": "value"}]
                return web.json_response({"detail": detail}, status=422)
            self.input_images.append([data])
        job = FalRequest(id=str(uuid.uuid4()), app=app, input=body)
        self.jobs[job.id] = job
        root = "/".join(app.split("/")[:2])
        base = f"{self.base_url}/{root}/requests/{job.id}"
        return web.json_response(
            {
                "status": "IN_QUEUE",
                "request_id": job.id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": self.queue_polls,
            }
        )

    def _status(self, job: FalRequest) -> web.StreamResponse:
        job.polls += 1
        root = "/".join(job.app.split("/")[:2])
        base = f"{self.base_url}/{root}/requests/{job.id}"
        answer: dict[str, Any] = {"response_url": base, "status_url": f"{base}/status"}
        if job.cancelled:
            answer["status"] = "CANCELED"
        elif job.polls <= self.queue_polls:
            answer["status"] = "IN_QUEUE"
            answer["queue_position"] = self.queue_polls - job.polls
        elif job.polls <= self.queue_polls + self.progress_polls:
            answer["status"] = "IN_PROGRESS"
            answer["logs"] = None
        else:
            job.done = True
            answer["status"] = "COMPLETED"
            answer["logs"] = None
            answer["metrics"] = {"inference_time": 0.5}
            if has_word(str(job.input.get("prompt")), "crash"):
                answer["error"] = "Internal error while running the app"
                answer["error_type"] = "runner_error"
        return web.json_response(answer, status=200 if job.done else 202)

    def _cancel(self, job: FalRequest) -> web.StreamResponse:
        if job.done:
            return web.json_response({"status": "ALREADY_COMPLETED"}, status=400)
        job.cancelled = True
        self.cancelled.append(job.id)
        self.cancel_seen.set()
        return web.json_response({"status": "CANCELLATION_REQUESTED"}, status=202)

    def _result(self, job: FalRequest) -> web.StreamResponse:
        if not job.done:
            return web.json_response({"detail": "Request is still in progress"}, status=400)
        prompt = str(job.input.get("prompt"))
        count = int(job.input.get("num_images", 1))
        size = job.input.get("image_size")
        width, height = (1024, 768)
        if isinstance(size, dict):
            width, height = int(size["width"]), int(size["height"])
        base = self.file_base or self.base_url
        # `sync_mode`: the files come inline as data URIs instead of CDN URLs.
        inline = bool(job.input.get("sync_mode"))
        images = [
            {
                "url": (
                    "data:image/png;base64,"
                    + base64.b64encode(image_bytes("png", width, height, seed=i)).decode()
                    if inline
                    else f"{base}/files/{job.id}/{i}.png"
                ),
                "width": width,
                "height": height,
                "content_type": "image/png",
            }
            for i in range(count)
        ]
        flags = [
            has_word(prompt, "nsfw") or (i == 0 and has_word(prompt, "halfnsfw"))
            for i in range(count)
        ]
        return web.json_response(
            {
                "images": images,
                "timings": {"inference": 0.5},
                "seed": 1234,
                "has_nsfw_concepts": flags,
                "prompt": prompt,
            }
        )

    async def file(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["request_id"])
        if job is None:
            return web.Response(status=404)
        size = job.input.get("image_size")
        width, height = (1024, 768)
        if isinstance(size, dict):
            width, height = int(size["width"]), int(size["height"])
        data = image_bytes("png", width, height, seed=int(request.match_info["index"]))
        return web.Response(body=data, headers={"Content-Type": "image/png"})


_DATA_URI_TYPES = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8", "image/webp": b"RIFF"}


def _decode_data_uri(value: object) -> bytes | None:
    """The bytes of a `data:<image type>;base64,...` URI whose bytes are of that type."""
    if not isinstance(value, str) or not value.startswith("data:"):
        return None
    header, _, encoded = value[5:].partition(",")
    mime, _, encoding = header.partition(";")
    magic = _DATA_URI_TYPES.get(mime)
    if encoding != "base64" or magic is None:
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError:
        return None
    return data if data.startswith(magic) else None
