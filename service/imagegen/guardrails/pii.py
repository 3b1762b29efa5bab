"""Personal data in prompts: email addresses, phone numbers and payment card numbers.

Card numbers are checked with the Luhn checksum, so an arbitrary long number (a seed,
an order id) is left alone; only numbers a card could have are masked. Phone numbers
are matched by common written forms (international with "+", North American
"(555) 123-4567", national with a leading 0 and separators): a pattern, not a
guarantee, and deliberately conservative so that sizes and years are not mistaken
for numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from imagegen.guardrails.base import (
    GuardrailConfig,
    GuardrailContext,
    Mode,
    PromptGuardrail,
    PromptVerdict,
)
from imagegen.guardrails.options import parse_options


class Entity(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"


EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# 13 to 19 digits, optionally grouped by single spaces or dashes.
CARD_RE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
PHONE_RE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"  # +44 20 7946 0958, +1-555-123-4567
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567, 555.123.4567
    r"|0\d{1,4}[ /-]\d{3,4}[ -]?\d{2,4}"  # 030 1234 5678, 020-7946-0958
    r")(?![\w])"
)
_PHONE_DIGITS = range(7, 16)  # E.164 allows at most 15


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum that every card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_card_number(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and digits.isdigit() and luhn_valid(digits)


def _is_phone(text: str) -> bool:
    return sum(char.isdigit() for char in text) in _PHONE_DIGITS


# Cards go first: a card number must not be half-masked as a phone number.
_DETECTORS: tuple[tuple[Entity, re.Pattern[str], Callable[[str], bool]], ...] = (
    (Entity.EMAIL, EMAIL_RE, lambda _: True),
    (Entity.CARD, CARD_RE, is_card_number),
    (Entity.PHONE, PHONE_RE, _is_phone),
)


def find_and_mask(prompt: str, entities: frozenset[Entity]) -> tuple[str, dict[Entity, int]]:
    """`prompt` with each entity replaced by "[EMAIL]", "[PHONE]" or "[CARD]", and counts."""
    counts: dict[Entity, int] = {}
    for entity, pattern, valid in _DETECTORS:
        if entity in entities:
            prompt, found = _mask(prompt, pattern, valid, f"[{entity.value.upper()}]")
            if found:
                counts[entity] = found
    return prompt, counts


def _mask(
    text: str, pattern: re.Pattern[str], valid: Callable[[str], bool], placeholder: str
) -> tuple[str, int]:
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        if not valid(match.group(0)):
            return match.group(0)
        found += 1
        return placeholder

    return pattern.sub(replace, text), found


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entities: list[Entity] = Field(default_factory=lambda: list(Entity), min_length=1)


class Pii(PromptGuardrail):
    """Masks (or blocks on) email addresses, phone numbers and Luhn-valid card numbers."""

    modes = frozenset({Mode.BLOCK, Mode.MASK})

    def __init__(self, config: GuardrailConfig) -> None:
        super().__init__(config)
        self.entities = frozenset(parse_options(_Options, config.options).entities)

    async def check_prompt(self, prompt: str, context: GuardrailContext) -> PromptVerdict:
        masked, counts = find_and_mask(prompt, self.entities)
        if not counts:
            return PromptVerdict.allow()
        reason = ", ".join(f"{count} {entity.value}" for entity, count in sorted(counts.items()))
        if self.mode is Mode.BLOCK:
            return PromptVerdict.block(f"found {reason}")
        return PromptVerdict.mask(masked, f"masked {reason}")
