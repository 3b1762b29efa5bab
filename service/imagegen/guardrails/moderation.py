"""External moderation: an OpenAI-compatible `POST {api_base}/v1/moderations`.

The prompt is sent as `{"model": ..., "input": prompt}` with the configured key as a
Bearer token; `results[0].flagged` blocks, and the flagged category names go into
the decision's detail (never the prompt). With `categories` set, only those
categories block.

The call has its own timeout, independent of the request's deadline, so a slow
moderation service cannot eat the provider's time unnoticed. When the service fails
(unreachable, timeout, an error status, an unreadable answer) the guardrail cannot
decide: by default the request is then refused (`on_error: block`, fail closed),
because a moderation step that lets everything through whenever it is down is one an
attacker can switch off by overloading it. `on_error: allow` trades that for
availability.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from imagegen.guardrails.base import (
    GuardrailConfig,
    GuardrailContext,
    GuardrailUnavailable,
    PromptGuardrail,
    PromptVerdict,
)
from imagegen.guardrails.options import parse_options

DEFAULT_MODEL = "omni-moderation-latest"
DEFAULT_TIMEOUT_SECONDS = 10.0
_MAX_ANSWER_BYTES = 1024 * 1024


class ModerationFailed(GuardrailUnavailable):
    """The moderation service gave no usable answer (the message is safe to log)."""


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_base: str = Field(pattern=r"^https?://")
    api_key: str | None = None
    model: str = DEFAULT_MODEL
    timeout: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=300)
    categories: list[str] | None = None


class Moderation(PromptGuardrail):
    """Blocks prompts an OpenAI-compatible moderation endpoint flags."""

    def __init__(self, config: GuardrailConfig) -> None:
        super().__init__(config)
        options = parse_options(_Options, config.options)
        self._url = options.api_base.rstrip("/").removesuffix("/v1") + "/v1/moderations"
        self._model = options.model
        self._timeout = options.timeout
        self._categories = frozenset(options.categories) if options.categories else None
        self._headers = {"content-type": "application/json"}
        if options.api_key:
            self._headers["authorization"] = f"Bearer {options.api_key}"
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check_prompt(self, prompt: str, context: GuardrailContext) -> PromptVerdict:
        result = await self._moderate(prompt)
        flagged = _flagged_categories(result)
        if self._categories is not None:
            flagged = [name for name in flagged if name in self._categories]
            blocked = bool(flagged)
        else:
            blocked = result.get("flagged") is True
        if not blocked:
            return PromptVerdict.allow()
        return PromptVerdict.block(f"flagged: {', '.join(flagged) or 'unspecified'}")

    async def _moderate(self, prompt: str) -> dict[str, Any]:
        if self._client is None:
            raise ModerationFailed("the moderation client is not started")
        body = {"model": self._model, "input": prompt}
        try:
            response = await self._client.post(
                self._url, json=body, headers=self._headers, timeout=self._timeout
            )
        except httpx.TimeoutException:
            raise ModerationFailed(f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ModerationFailed(f"unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ModerationFailed(f"answered HTTP {response.status_code}")
        try:
            payload = json.loads(response.content[:_MAX_ANSWER_BYTES])
            first = payload["results"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModerationFailed("answered without results") from None
        if not isinstance(first, dict) or not isinstance(first.get("flagged"), bool):
            raise ModerationFailed("answered without a flagged verdict")
        return first


def _flagged_categories(result: dict[str, Any]) -> list[str]:
    categories = result.get("categories")
    if not isinstance(categories, dict):
        return []
    return sorted(name for name, value in categories.items() if value is True)
