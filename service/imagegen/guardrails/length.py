"""A limit on the prompt's length, in characters (tighter than the gateway's own ceiling)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from imagegen.guardrails.base import (
    GuardrailConfig,
    GuardrailContext,
    PromptGuardrail,
    PromptVerdict,
)
from imagegen.guardrails.options import parse_options


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_chars: int = Field(ge=1)


class PromptLength(PromptGuardrail):
    """Blocks prompts longer than `max_chars` characters."""

    def __init__(self, config: GuardrailConfig) -> None:
        super().__init__(config)
        self.max_chars = parse_options(_Options, config.options).max_chars

    async def check_prompt(self, prompt: str, context: GuardrailContext) -> PromptVerdict:
        if len(prompt) <= self.max_chars:
            return PromptVerdict.allow()
        return PromptVerdict.block(f"prompt has {len(prompt)} chars, limit {self.max_chars}")
