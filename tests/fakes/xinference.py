"""Fake Xinference (self-hosted) text-to-image endpoint, ``POST /v1/images/generations``, and its
image-to-image (``/v1/images/variations``) and inpainting (``/v1/images/inpainting``) routes.

Imitates Xinference's images API (see docs/providers/xinference.md), checked
against ``xinference/api/restful_api.py::create_images`` and ``api/schemas/requests.py``:

* the body is parsed with a pydantic **v1** model (``TextToImageRequest.parse_obj``) inside the
  handler: ``model: str``, ``prompt: str | list[str]``, ``n = 1``, ``response_format = "url"``,
  ``size = "1024*1024"``, ``kwargs: str | None`` (a JSON-encoded *string*), ``user``; extra keys
  are ignored;
* unknown model uid → 400 ``{"detail": "... Model not found in the model list, uid: X"}``;
* ``kwargs`` is ``json.loads``-ed inside a try block: bad JSON → 500 ``{"detail": ...}``;
* ``size`` is split on non-digit runs, so ``1024*1024`` and ``1024x1024`` both work;
* ``url`` returns a path on the Xinference host (``/root/.xinference/image/<hex>.jpg``),
  ``b64_json`` a base64 JPEG; any other ``response_format`` → 500;
* auth (only when ``api_key`` is set) is FastAPI's OAuth2 bearer dependency: no token →
  401 ``Not authenticated``, wrong token → 401 ``Could not validate credentials``.

Schema errors: because ``parse_obj`` runs *inside* the handler, the real server does not answer
FastAPI's usual 422; the pydantic ``ValidationError`` escapes to Xinference's catch-all, which
answers **500 text/plain** ``Internal Server Error: 1 validation error for TextToImageRequest
...``. That is the default here (``validation_style="xinference"``). ``validation_style="fastapi"``
answers the 422 ``{"detail": [{"type", "loc", "msg", "input"}]}`` a FastAPI body parameter
would produce, for callers that want that shape.

Trigger words in the prompt (whole words, case-insensitive):

* ``loading``     → 503 with ``Retry-After: 30`` (the doc shows this for the /sdapi routes);
* ``ratelimit``   → 429 ``{"detail": "Rate limit reached ..."}``;
* ``servererror`` → 500 ``{"detail": ...}``;
* ``cancelled``   → 409 ``The request has been cancelled: <kwargs.request_id>``;
* ``hang``        → the handler sleeps for an hour (handled in ``base``).

The edit routes (``create_variations``, ``create_inpainting``) take multipart forms: ``model``
(required: FastAPI's 422 when absent), ``prompt``, ``negative_prompt``, ``n``,
``response_format``, ``size`` (default: the input's own), ``kwargs``; the inputs as file parts
all named ``image`` (inpainting: one, plus ``mask_image`` of its size). Accepted calls are kept
in ``fake.edit_calls``. Answers are the generation's shape.

Simplifications: no per-pipeline size rules (diffusers' divisible-by-8/16 checks); sizes above
``MAX_EDGE`` answer 500 to keep the fake's memory bounded; ``url`` files are kept in
``fake.files`` instead of on disk.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from aiohttp import web
from PIL import Image

from .base import FakeProvider, has_word
from .images import jpeg_bytes
from .multipart import MultipartError, parse_multipart

MAX_EDGE = 4096
_MISSING = object()


@dataclass(frozen=True)
class SchemaIssue:
    """One pydantic error, renderable in v1 text form or FastAPI's v2 JSON form."""

    field: str
    v1_msg: str
    v1_type: str
    v2_type: str
    v2_msg: str
    value: Any


def _str_issue(field: str, value: Any) -> SchemaIssue:
    return SchemaIssue(
        field, "str type expected", "type_error.str", "string_type",
        "Input should be a valid string", value,
    )  # fmt: skip


def _as_str(field: str, value: Any, issues: list[SchemaIssue]) -> str | None:
    """pydantic v1 ``str`` field: strings pass, numbers are coerced, the rest fails."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    issues.append(_str_issue(field, value))
    return None


def _required(field: str, body: dict[str, Any], issues: list[SchemaIssue]) -> Any:
    value = body.get(field, _MISSING)
    if value is _MISSING:
        issues.append(SchemaIssue(
            field, "field required", "value_error.missing", "missing", "Field required", body,
        ))  # fmt: skip
        return None
    if value is None:
        issues.append(SchemaIssue(
            field, "none is not an allowed value", "type_error.none.not_allowed",
            "string_type", "Input should be a valid string", None,
        ))  # fmt: skip
        return None
    return value


@dataclass(frozen=True)
class TextToImage:
    model: str
    prompts: list[str]
    n: int
    response_format: str
    size: str
    kwargs: str | None


def parse_text_to_image(body: dict[str, Any]) -> tuple[TextToImage | None, list[SchemaIssue]]:
    """Validate like ``TextToImageRequest`` (pydantic v1 coercion rules)."""
    issues: list[SchemaIssue] = []
    model = _required("model", body, issues)
    model = _as_str("model", model, issues) if model is not None else None

    prompt = _required("prompt", body, issues)
    prompts: list[str] = []
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    elif prompt is not None:
        coerced = _as_str("prompt", prompt, [])
        if coerced is None:
            # A Union field reports one error per member, like pydantic v1 does.
            issues.append(_str_issue("prompt", prompt))
            issues.append(SchemaIssue(
                "prompt", "value is not a valid list", "type_error.list", "list_type",
                "Input should be a valid list", prompt,
            ))  # fmt: skip
        else:
            prompts = [coerced]

    n_raw = body.get("n", 1)
    n = 1
    if n_raw is not None:
        try:
            n = int(n_raw)
        except (TypeError, ValueError):
            issues.append(SchemaIssue(
                "n", "value is not a valid integer", "type_error.integer", "int_parsing",
                "Input should be a valid integer", n_raw,
            ))  # fmt: skip

    def optional_str(field: str, default: str | None) -> str | None:
        value = body.get(field, default)
        return None if value is None else _as_str(field, value, issues)

    response_format = optional_str("response_format", "url")
    size = optional_str("size", "1024*1024")
    kwargs = optional_str("kwargs", None)
    optional_str("user", None)
    if issues or model is None:
        return None, issues
    return (
        TextToImage(model, prompts, n, response_format or "url", size or "1024*1024", kwargs),
        issues,
    )


class XinferenceFake(FakeProvider):
    name: ClassVar[str] = "xinference"

    #: Seconds advertised by the ``loading`` trigger.
    retry_after: int = 30

    def __init__(
        self,
        models: tuple[str, ...] = ("sd3-medium",),
        api_key: str | None = None,
        *,
        validation_style: Literal["xinference", "fastapi"] = "xinference",
        image_dir: str = "/root/.xinference/image",
    ) -> None:
        self.models = tuple(models)
        self.api_key = api_key
        self.validation_style = validation_style
        self.image_dir = image_dir
        #: Decoded ``kwargs`` of the last request that got that far (None if it had none).
        self.last_kwargs: dict[str, Any] | None = None
        #: Every decoded ``kwargs``, in order.
        self.kwargs_log: list[dict[str, Any]] = []
        #: Images "written" for ``response_format=url``: host path → JPEG bytes.
        self.files: dict[str, bytes] = {}
        #: Accepted edit calls: (route, text fields, file parts as (name, bytes) in order).
        self.edit_calls: list[tuple[str, dict[str, str], list[tuple[str, bytes]]]] = []
        # Shown in error details the way xoscar prefixes actor errors.
        self._actor_address = f"[address=127.0.0.1:{34000 + os.getpid() % 1000}, pid={os.getpid()}]"
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/images/generations", self.generations)
        router.add_post("/v1/images/variations", self.variations)
        router.add_post("/v1/images/inpainting", self.inpainting)

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        return {"Server": "uvicorn"}

    # ----------------------------------------------------------------- handler

    async def generations(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        record = self.recorded(request)
        try:
            body = json.loads(record.body)
        except ValueError as exc:
            return self._json_error(exc)
        if not isinstance(body, dict):
            return self._schema_error(
                [
                    SchemaIssue(
                        "__root__",
                        f"TextToImageRequest expected dict not {type(body).__name__}",
                        "type_error",
                        "model_attributes_type",
                        "Input should be a valid dictionary or object to extract fields from",
                        body,
                    )
                ]
            )
        parsed, issues = parse_text_to_image(body)
        if parsed is None:
            return self._schema_error(issues)

        if parsed.model not in self.models:
            return _detail(
                400,
                f"{self._actor_address} Model not found in the model list, uid: {parsed.model}",
            )
        prompt = " ".join(parsed.prompts)
        if has_word(prompt, "loading"):
            return _detail(
                503,
                f"Model {parsed.model} is still loading, please retry later.",
                {"Retry-After": str(self.retry_after)},
            )
        if has_word(prompt, "ratelimit"):
            return _detail(429, f"{self._actor_address} Rate limit reached for the model.")
        if has_word(prompt, "servererror"):
            return _detail(
                500, f"{self._actor_address} CUDA error: an illegal memory access was encountered"
            )

        # From here on the real handler is inside ``try: ... except Exception → 500``.
        try:
            kwargs = json.loads(parsed.kwargs) if parsed.kwargs else {}
            request_id = kwargs.get("request_id")
        except (ValueError, AttributeError) as exc:
            return _detail(500, str(exc))
        self.last_kwargs = kwargs
        self.kwargs_log.append(kwargs)
        if has_word(prompt, "cancelled"):
            return _detail(409, f"The request has been cancelled: {request_id}")
        return self._images(parsed)

    # ----------------------------------------------------------------- edit handlers

    async def variations(self, request: web.Request) -> web.StreamResponse:
        return await self._edit(request, "variations")

    async def inpainting(self, request: web.Request) -> web.StreamResponse:
        return await self._edit(request, "inpainting")

    async def _edit(self, request: web.Request, route: str) -> web.StreamResponse:
        """``create_variations`` / ``create_inpainting``: FastAPI ``Form``/``File`` parameters
        (a missing required one is FastAPI's own 422), then the model's pipeline."""
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        try:
            parts = parse_multipart(
                request.headers.get("Content-Type", ""), self.recorded(request).body
            )
        except MultipartError:
            return _missing(["model", "image"])
        fields = {p.name: p.text() for p in parts if not p.is_file}
        files = [(p.name, p.data) for p in parts if p.is_file]
        required = ["model", "image"] + (["mask_image"] if route == "inpainting" else [])
        present = set(fields) | {name for name, _ in files}
        missing = [name for name in required if name not in present]
        if missing:
            return _missing(missing)
        model = fields["model"]
        if model not in self.models:
            return _detail(
                400, f"{self._actor_address} Model not found in the model list, uid: {model}"
            )
        prompt = fields.get("prompt", "")
        if has_word(prompt, "servererror"):
            return _detail(500, f"{self._actor_address} CUDA error: out of memory")
        try:
            kwargs = json.loads(fields["kwargs"]) if "kwargs" in fields else {}
            n = int(fields.get("n", "1"))
            images = [_pil(data) for name, data in files if name == "image"]
            mask = next((_pil(data) for name, data in files if name == "mask_image"), None)
        except (ValueError, OSError) as exc:
            return _detail(500, f"{self._actor_address} {exc}")
        if route == "inpainting" and len(images) != 1:
            return _detail(500, f"{self._actor_address} inpainting takes one image")
        if mask is not None and mask.size != images[0].size:
            return _detail(500, f"{self._actor_address} mask_image must match the image's size")
        self.last_kwargs = kwargs
        self.kwargs_log.append(kwargs)
        self.edit_calls.append((route, fields, files))
        width, height = images[0].size
        size = fields.get("size") or f"{width}*{height}"
        return self._images(
            TextToImage(model, [prompt], n, fields.get("response_format", "url"), size, None)
        )

    # ----------------------------------------------------------------- pieces

    def _images(self, req: TextToImage) -> web.Response:
        try:
            width, height = map(int, re.split(r"[^\d]+", req.size))
        except ValueError as exc:
            return _detail(500, f"{self._actor_address} {exc}")
        if not 0 < width <= MAX_EDGE or not 0 < height <= MAX_EDGE:
            return _detail(
                500,
                f"{self._actor_address} fake limit: width and height must be in "
                f"1..{MAX_EDGE}, got {width}x{height}",
            )
        if req.response_format not in ("url", "b64_json"):
            return _detail(
                500, f"{self._actor_address} Unsupported response format: {req.response_format}"
            )
        data: list[dict[str, str | None]] = []
        count = req.n * max(len(req.prompts), 1)
        for i in range(count):
            image = jpeg_bytes(width, height, seed=zlib.crc32("\n".join(req.prompts).encode()) + i)
            if req.response_format == "url":
                path = f"{self.image_dir}/{uuid.uuid4().hex}.jpg"
                self.files[path] = image
                data.append({"url": path, "b64_json": None})
            else:
                data.append({"url": None, "b64_json": base64.b64encode(image).decode("ascii")})
        return web.json_response({"created": int(time.time()), "data": data})

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _detail(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
        if token.strip() != self.api_key:
            return _detail(
                401,
                "Could not validate credentials",
                {"WWW-Authenticate": 'Bearer scope="models:read"'},
            )
        return None

    def _json_error(self, exc: ValueError) -> web.Response:
        if self.validation_style == "fastapi":
            return web.json_response(
                {
                    "detail": [
                        {
                            "type": "json_invalid",
                            "loc": ["body", 0],
                            "msg": "JSON decode error",
                            "input": {},
                            "ctx": {"error": str(exc).split(":")[0]},
                        }
                    ]
                },
                status=422,
            )
        return _internal_error(str(exc))

    def _schema_error(self, issues: list[SchemaIssue]) -> web.Response:
        if self.validation_style == "fastapi":
            detail = [
                {
                    "type": i.v2_type,
                    "loc": ["body"] if i.field == "__root__" else ["body", i.field],
                    "msg": i.v2_msg,
                    "input": i.value,
                }
                for i in issues
            ]
            return web.json_response({"detail": detail}, status=422)
        count = len(issues)
        lines = [f"{count} validation error{'' if count == 1 else 's'} for TextToImageRequest"]
        for issue in issues:
            lines.append(f"{issue.field}\n  {issue.v1_msg} (type={issue.v1_type})")
        return _internal_error("\n".join(lines))


def _pil(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _missing(fields: list[str]) -> web.Response:
    """FastAPI's own 422 for required Form/File parameters that are absent."""
    detail = [
        {"type": "missing", "loc": ["body", name], "msg": "Field required", "input": None}
        for name in fields
    ]
    return web.json_response({"detail": detail}, status=422)


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    """FastAPI's ``HTTPException`` body."""
    return web.json_response({"detail": detail}, status=status, headers=headers)


def _internal_error(message: str) -> web.Response:
    """Xinference's catch-all 500 handler answers plain text."""
    return web.Response(status=500, text=f"Internal Server Error: {message}")
