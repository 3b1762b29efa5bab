"""A faithful fake of Replicate's predictions API (replicate.com/docs/reference/http, read
2026-12-04).

``POST /v1/models/{owner}/{name}/predictions`` (or ``/v1/predictions`` with ``version``) with
``Authorization: Bearer`` creates a prediction. With ``Prefer: wait=N`` the answer is held
until the prediction ends or ``min(N, hold_seconds)`` passes. The prediction runs for
``run_polls`` status reads (``starting``, then ``processing`` with tqdm-style ``logs``), then
``succeeded`` with ``output`` a list of file URLs. ``POST /v1/predictions/{id}/cancel`` makes
it ``canceled`` and records the id in ``cancelled``. Prompt words: ``nsfw`` fails it with
Replicate's "NSFW content detected" error, ``oom`` fails it with a CUDA error.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from .base import AUX_ROUTE_PREFIX, FakeProvider, has_word
from .images import image_bytes

FILE_ROUTE = f"{AUX_ROUTE_PREFIX}replicate-delivery"
OFFICIAL = frozenset(
    {
        "black-forest-labs/flux-schnell",
        "black-forest-labs/flux-dev",
        "black-forest-labs/flux-pro",
        "black-forest-labs/flux-1.1-pro",
        "black-forest-labs/flux-1.1-pro-ultra",
    }
)


@dataclass
class Prediction:
    id: str
    model: str
    input: dict[str, Any]
    reads: int = 0
    status: str = "starting"
    error: str | None = None


class ReplicateFake(FakeProvider):
    name: ClassVar[str] = "replicate"

    def __init__(self, api_key: str = "r8_test", run_polls: int = 2) -> None:
        self.api_key = api_key
        self.run_polls = run_polls
        self.hold_seconds = 0.0
        self.predictions: dict[str, Prediction] = {}
        self.cancelled: list[str] = []
        self.cancel_seen = asyncio.Event()
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/delivery/{pid}/out-0.webp", self.file, name=FILE_ROUTE)
        router.add_post("/v1/models/{owner}/{name}/predictions", self.create_official)
        router.add_post("/v1/predictions", self.create_versioned)
        router.add_get("/v1/predictions/{pid}", self.get)
        router.add_post("/v1/predictions/{pid}/cancel", self.cancel)

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        return _problem(exc.status, exc.reason)

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def create_official(self, request: web.Request) -> web.StreamResponse:
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model not in OFFICIAL:
            return _problem(404, "The requested resource could not be found.")
        return await self._create(request, model)

    async def create_versioned(self, request: web.Request) -> web.StreamResponse:
        body = self.recorded(request).json
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            return _problem(422, "version is required")
        return await self._create(request, f"version:{body['version']}")

    async def _create(self, request: web.Request, model: str) -> web.StreamResponse:
        if not self._authorised(request):
            return _problem(401, "You did not pass a valid authentication token")
        body = self.recorded(request).json
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return _problem(422, "input is required")
        if not isinstance(body["input"].get("prompt"), str):
            return _problem(422, "input.prompt: prompt is required")
        prediction = Prediction(id=uuid.uuid4().hex[:26], model=model, input=body["input"])
        self.predictions[prediction.id] = prediction
        prefer = request.headers.get("Prefer", "")
        if prefer.startswith("wait"):
            _, _, seconds = prefer.partition("=")
            hold = min(float(seconds or 60), self.hold_seconds)
            # A quick model finishes within the hold: answer with the finished prediction.
            if self.run_polls == 0:
                self._advance(prediction)
            elif hold > 0:
                await asyncio.sleep(hold)
        return web.json_response(self._view(prediction), status=201)

    async def get(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return _problem(401, "You did not pass a valid authentication token")
        prediction = self.predictions.get(request.match_info["pid"])
        if prediction is None:
            return _problem(404, "The requested resource could not be found.")
        prediction.reads += 1
        self._advance(prediction)
        return web.json_response(self._view(prediction))

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return _problem(401, "You did not pass a valid authentication token")
        prediction = self.predictions.get(request.match_info["pid"])
        if prediction is None:
            return _problem(404, "The requested resource could not be found.")
        if prediction.status in ("starting", "processing"):
            prediction.status = "canceled"
            self.cancelled.append(prediction.id)
            self.cancel_seen.set()
        return web.json_response(self._view(prediction))

    def _advance(self, prediction: Prediction) -> None:
        if prediction.status not in ("starting", "processing"):
            return
        prompt = str(prediction.input.get("prompt"))
        if prediction.reads < self.run_polls:
            prediction.status = "processing" if prediction.reads else "starting"
            return
        if has_word(prompt, "nsfw"):
            prediction.status = "failed"
            prediction.error = (
                "NSFW content detected. Try running it again, or try a different prompt."
            )
        elif has_word(prompt, "oom"):
            prediction.status = "failed"
            prediction.error = "CUDA out of memory"
        else:
            prediction.status = "succeeded"

    def _view(self, prediction: Prediction) -> dict[str, Any]:
        base = f"{self.base_url}/v1/predictions/{prediction.id}"
        logs = ""
        if prediction.status == "processing":
            percent = min(99, 100 * prediction.reads // max(1, self.run_polls))
            logs = f"Running...\n {percent}%|####      | {prediction.reads}/{self.run_polls}"
        output = None
        if prediction.status == "succeeded":
            output = [f"{self.base_url}/delivery/{prediction.id}/out-0.webp"]
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": "hidden",
            "input": prediction.input,
            "logs": logs,
            "output": output,
            "data_removed": False,
            "error": prediction.error,
            "status": prediction.status,
            "created_at": "2026-12-04T21:00:00.000Z",
            "urls": {
                "cancel": f"{base}/cancel",
                "get": base,
                "web": f"https://replicate.com/p/{prediction.id}",
            },
        }

    async def file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["pid"] not in self.predictions:
            return web.Response(status=404)
        data = image_bytes("webp", 512, 512, seed=3)
        return web.Response(body=data, headers={"Content-Type": "image/webp"})


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response(
        {"title": detail, "detail": detail, "status": status},
        status=status,
        content_type="application/problem+json",
    )
