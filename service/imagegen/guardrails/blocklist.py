"""Keyword and regex blocklist on prompts.

Keywords match as whole words, case-insensitively ("gun" does not match "begun"); a
keyword may be a phrase. Patterns are regular expressions, also case-insensitive.
In `mask` mode every match is replaced and the prompt goes on.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imagegen.guardrails.base import (
    GuardrailConfig,
    GuardrailContext,
    GuardrailOptionError,
    Mode,
    PromptGuardrail,
    PromptVerdict,
)
from imagegen.guardrails.options import parse_options

MASK = "[blocked]"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    mask_with: str = MASK

    @field_validator("keywords")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not keyword.strip() for keyword in value):
            raise ValueError("a keyword must not be blank")
        return value


class Blocklist(PromptGuardrail):
    """Blocks (or masks) prompts containing a listed keyword or matching a pattern."""

    modes = frozenset({Mode.BLOCK, Mode.MASK})

    def __init__(self, config: GuardrailConfig) -> None:
        super().__init__(config)
        options = parse_options(_Options, config.options)
        if not options.keywords and not options.patterns:
            raise GuardrailOptionError("keywords or patterns: give at least one")
        self._mask_with = options.mask_with
        # Lookarounds rather than \b: they also bound keywords that start or end with
        # punctuation ("c++", "#tag").
        self._rules: list[tuple[str, re.Pattern[str]]] = []
        for index, keyword in enumerate(options.keywords):
            compiled = re.compile(rf"(?<!\w){re.escape(keyword.strip())}(?!\w)", re.IGNORECASE)
            self._rules.append((f"keyword {index + 1}", compiled))
        for index, pattern in enumerate(options.patterns):
            try:
                compiled = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise GuardrailOptionError(
                    f"patterns[{index}]: not a valid regex ({exc})"
                ) from None
            self._rules.append((f"pattern {index + 1}", compiled))

    async def check_prompt(self, prompt: str, context: GuardrailContext) -> PromptVerdict:
        # The detail names the entry (by position), never the matched text.
        hits = [label for label, rule in self._rules if rule.search(prompt)]
        if not hits:
            return PromptVerdict.allow()
        reason = f"matched {', '.join(hits)}"
        if self.mode is Mode.BLOCK:
            return PromptVerdict.block(reason)
        masked = prompt
        for _, rule in self._rules:
            masked = rule.sub(self._mask_with, masked)
        return PromptVerdict.mask(masked, reason)
