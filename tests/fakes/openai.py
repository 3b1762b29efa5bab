"""Fake OpenAI Images API (``POST /v1/images/generations`` and ``POST /v1/images/edits``).

Imitates OpenAI's Images API reference (auth and headers, models, request validation,
response bodies and token table, SSE, the error envelope and bodies); what the gateway makes of
it is in docs/providers/openai.md. Per-model rules live in ``openai_spec`` and are shared with the
Azure fake.

Trigger words in the prompt (whole words, case-insensitive):

* ``forbidden``          → 400 ``moderation_blocked`` (GPT image) / ``content_policy_violation``
  (DALL·E), bodies as in 1.7;
* ``ratelimit``          → 429 ``rate_limit_exceeded`` with ``retry-after: 7``;
* ``insufficient_quota`` → 429 ``insufficient_quota`` (no ``retry-after``: must not be retried);
* ``servererror``        → 500 ``server_error``;
* ``streamerror``        → when streaming, a mid-stream ``data: {"error": ...}`` event;
* ``hang``               → the handler sleeps for an hour (handled in ``base``).

Deliberate simplifications:

* auth accepts exactly one key; ``OpenAI-Organization``/``OpenAI-Project`` are recorded, not
  checked. A missing key gets ``code: null`` (OpenAI's "You didn't provide an API key" answer),
  a wrong key ``invalid_api_key``;
* ``x-ratelimit-*`` count generation requests and output tokens in a sliding 60 s window against
  fixed limits; nothing is ever actually throttled unless a trigger word asks for it;
* DALL·E URLs point at a fake blob store (see ``blobs``); the host looks real unless
  ``self_hosted_urls=True``, in which case the URL can be downloaded from the fake;
* dall-e-2/dall-e-3 still work (they were retired on 2026-05-12) because Azure and compatible
  hosts keep the dialect alive; ``dalle_retired=True`` turns them into 404 ``model_not_found``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar

from aiohttp import web

from . import openai_edits as edits
from . import openai_spec as spec
from .base import STARTED_AT, FakeProvider, has_word
from .blobs import BlobStore

GENERATIONS_PATH = "/v1/images/generations"
DALLE_BLOB_ORIGIN = "https://oaidalleapiprodscus.blob.core.windows.net"

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


def mask_key(key: str) -> str:
    """OpenAI echoes a wrong key as its first few and last four characters."""
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def safety_error(model: spec.ModelSpec, request_id: str) -> spec.ApiError:
    """OpenAI's two safety refusal bodies."""
    if model.family == "gpt-image":
        return spec.ApiError(
            400,
            "Your request was rejected by the safety system. If you believe this is an error, "
            f"contact us at help.openai.com and include the request ID {request_id}.",
            err_type="image_generation_user_error",
            code="moderation_blocked",
        )
    return spec.ApiError(
        400,
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        code="content_policy_violation",
    )


class OpenAIFake(FakeProvider):
    name: ClassVar[str] = "openai"

    #: Sliding-window limits reported in x-ratelimit-* headers.
    limit_requests: int = 50
    limit_tokens: int = 250_000
    #: Seconds advertised by the ``ratelimit`` trigger.
    retry_after: int = 7

    def __init__(
        self,
        api_key: str = "sk-test-openai",
        *,
        include_output_details: bool = False,
        self_hosted_urls: bool = False,
        dalle_retired: bool = False,
        organization: str = "org-fake",
    ) -> None:
        self.api_key = api_key
        self.include_output_details = include_output_details
        self.self_hosted_urls = self_hosted_urls
        self.dalle_retired = dalle_retired
        self.organization = organization
        #: Seconds between SSE events (raise it to test mid-stream cancellation).
        self.stream_interval: float = 0.0
        self.blobs = BlobStore(DALLE_BLOB_ORIGIN, ttl_seconds=3600)
        self._window = spec.UsageWindow()
        #: Every edit the fake accepted, as parsed from its multipart body.
        self.edit_requests: list[edits.EditRequest] = []
        super().__init__()

    # ----------------------------------------------------------------- base hooks

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(GENERATIONS_PATH, self.generations)
        router.add_post(edits.EDITS_PATH, self.edits)
        self.blobs.add_route(router)

    def new_request_id(self) -> str:
        return f"req_{secrets.token_hex(16)}"

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        elapsed_ms = int((time.monotonic() - request[STARTED_AT]) * 1000)
        used_requests, used_tokens = self._window.totals()
        return {
            "x-request-id": self.request_id(request),
            "openai-processing-ms": str(elapsed_ms),
            "openai-version": "2020-10-01",
            "openai-organization": self.organization,
            "x-ratelimit-limit-requests": str(self.limit_requests),
            "x-ratelimit-remaining-requests": str(max(self.limit_requests - used_requests, 0)),
            "x-ratelimit-reset-requests": "1.2s",
            "x-ratelimit-limit-tokens": str(self.limit_tokens),
            "x-ratelimit-remaining-tokens": str(max(self.limit_tokens - used_tokens, 0)),
            "x-ratelimit-reset-tokens": "6m0s",
            "Server": "cloudflare",
        }

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        # OpenAI answers unknown paths/methods with its normal envelope.
        return spec.ApiError(
            exc.status, f"Invalid URL ({request.method} {request.path})"
        ).response()

    # ----------------------------------------------------------------- handler

    async def generations(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._generate(request)
        except spec.ApiError as err:
            return err.response()

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        record = self.recorded(request)
        body = record.json
        if body is None:
            raise spec.ApiError(400, spec.PARSE_ERROR)
        prompt = body.get("prompt") if isinstance(body, dict) else None
        prompt = prompt if isinstance(prompt, str) else ""
        self._gateway_triggers(prompt, body)

        retired = frozenset({"dall-e-2", "dall-e-3"}) if self.dalle_retired else frozenset()
        model = spec.resolve_model(body if isinstance(body, dict) else {}, retired=retired)
        req = spec.parse_request(body, model, spec.OPENAI)
        if has_word(req.prompt, "forbidden"):
            raise safety_error(model, self.request_id(request))

        self._window.add(spec.output_tokens_per_image(req) * req.n)
        created = int(time.time())
        if req.stream:
            late_error = None
            if has_word(req.prompt, "streamerror"):
                late_error = safety_error(model, self.request_id(request))
            return await spec.stream_images(
                request,
                req,
                created,
                apply_headers=self.apply_common_headers,
                interval=self.stream_interval,
                details=self.include_output_details,
                error_after_partials=late_error,
            )
        if model.family == "gpt-image":
            data = [{"b64_json": spec.b64(spec.render(req, i))} for i in range(req.n)]
            return web.json_response(
                spec.gpt_image_body(req, data, created, details=self.include_output_details)
            )
        return web.json_response({"created": created, "data": self._dalle_items(request, req)})

    async def edits(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/images/edits``: multipart in, the generation answer shapes out."""
        try:
            return await self._edit(request)
        except spec.ApiError as err:
            return err.response()

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        record = self.recorded(request)
        fields, image_parts, mask_part = edits.parse_edit(
            request.headers.get("Content-Type", ""), record.body
        )
        prompt = fields.get("prompt")
        self._gateway_triggers(prompt if isinstance(prompt, str) else "", fields)
        edit = edits.validate_edit(fields, image_parts, mask_part)
        req = edit.image_request
        if has_word(req.prompt, "forbidden"):
            raise safety_error(req.spec, self.request_id(request))
        self.edit_requests.append(edit)
        self._window.add(spec.output_tokens_per_image(req) * req.n)
        created = int(time.time())
        if req.stream:
            return await spec.stream_images(
                request,
                req,
                created,
                apply_headers=self.apply_common_headers,
                interval=self.stream_interval,
                details=self.include_output_details,
                event_prefix="image_edit",
                input_image_tokens=edit.input_image_tokens,
            )
        data = [{"b64_json": spec.b64(spec.render(req, i))} for i in range(req.n)]
        return web.json_response(
            spec.gpt_image_body(
                req,
                data,
                created,
                details=self.include_output_details,
                input_image_tokens=edit.input_image_tokens,
            )
        )

    # ----------------------------------------------------------------- pieces

    def _check_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise spec.ApiError(401, _NO_KEY)
        if token != self.api_key:
            raise spec.ApiError(
                401,
                f"Incorrect API key provided: {mask_key(token)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _gateway_triggers(self, prompt: str, body: Any) -> None:
        """Edge failures: they happen before the request body is validated."""
        model = body.get("model") if isinstance(body, dict) else None
        if has_word(prompt, "ratelimit"):
            raise spec.ApiError(
                429,
                f"Rate limit reached for {model or 'dall-e-2'} in organization "
                f"{self.organization} on images per minute (IPM): Limit 5, Used 5, Requested 1. "
                f"Please try again in {self.retry_after}s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.",
                err_type="requests",
                code="rate_limit_exceeded",
                headers={
                    "retry-after": str(self.retry_after),
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{self.retry_after}s",
                },
            )
        if has_word(prompt, "insufficient_quota"):
            raise spec.ApiError(
                429,
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                err_type="insufficient_quota",
                code="insufficient_quota",
            )
        if has_word(prompt, "servererror"):
            raise spec.ApiError(
                500,
                "The server had an error while processing your request. Sorry about that!",
                err_type="server_error",
            )

    def _dalle_items(self, request: web.Request, req: spec.ImageRequest) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        origin = self.base_url if self.self_hosted_urls else self.blobs.public_origin
        for i in range(req.n):
            image = spec.render(req, i)
            item: dict[str, Any]
            if req.response_format == "b64_json":
                item = {"b64_json": spec.b64(image)}
            else:
                path = f"/private/{self.organization}/user-fake/img-{secrets.token_urlsafe(18)}.png"
                item = {"url": self.blobs.publish(path, image, "image/png", origin)}
            if req.spec.name == "dall-e-3":
                item["revised_prompt"] = spec.revised_prompt(req)
            items.append(item)
        return items
