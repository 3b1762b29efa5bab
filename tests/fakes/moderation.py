"""Fake OpenAI Moderations API (``POST /v1/moderations``).

The answer has OpenAI's shape: ``{"id": "modr-…", "model": …, "results": [...]}`` with one
result per input, each with ``flagged``, ``categories`` (every category, true or false),
``category_scores`` (0..1) and ``category_applied_input_types``. The request body is
``{"model": …, "input": str | [str]}``; a missing or wrong Bearer key is a 401 in OpenAI's
error envelope, a body without ``input`` a 400.

Trigger words in an input (whole words, case-insensitive) flag categories, see
``FLAG_WORDS``; ``hang`` sleeps (from ``base``). Everything else is not flagged.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from aiohttp import web

from . import openai_spec as spec
from .base import FakeProvider, has_word

MODERATIONS_PATH = "/v1/moderations"

# The categories of omni-moderation-latest, in OpenAI's order.
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
FLAG_WORDS: dict[str, tuple[str, ...]] = {
    "massacre": ("violence", "violence/graphic"),
    "threaten": ("harassment", "harassment/threatening"),
    "bomb": ("illicit", "illicit/violent"),
}


def moderate(text: str) -> dict[str, Any]:
    """One result object for one input text."""
    flagged = {c for word, cats in FLAG_WORDS.items() if has_word(text, word) for c in cats}
    return {
        "flagged": bool(flagged),
        "categories": {c: c in flagged for c in CATEGORIES},
        "category_scores": {c: 0.97 if c in flagged else 0.0001 for c in CATEGORIES},
        "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
    }


class ModerationFake(FakeProvider):
    name: ClassVar[str] = "moderation"

    def __init__(self, api_key: str = "sk-test-moderation") -> None:
        self.api_key = api_key
        super().__init__()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(MODERATIONS_PATH, self.moderations)

    def new_request_id(self) -> str:
        return f"req_{secrets.token_hex(16)}"

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        return {"x-request-id": self.request_id(request), "openai-version": "2020-10-01"}

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        return spec.ApiError(
            exc.status, f"Invalid URL ({request.method} {request.path})"
        ).response()

    async def moderations(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            return spec.ApiError(
                401, "Incorrect API key provided.", code="invalid_api_key"
            ).response()
        body = self.recorded(request).json
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(i, str) for i in inputs)
        ):
            return spec.ApiError(400, "'input' is a required property", param="input").response()
        model = body.get("model") or "omni-moderation-latest"
        return web.json_response(
            {
                "id": f"modr-{secrets.token_hex(12)}",
                "model": model,
                "results": [moderate(text) for text in inputs],
            }
        )
