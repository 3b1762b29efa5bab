"""What a guardrail is: a check on the prompt before the call, or on each image after it.

A guardrail is built once from its config entry (`GuardrailConfig`) and asked for a
verdict per request. It never raises to say no: it returns a verdict. An exception
means "could not decide", and the hook applies the entry's `on_error` policy.

Custom guardrails subclass `PromptGuardrail` or `ImageGuardrail` (or both) and are
named in the config by import path: `guardrail: "python:my_pkg.checks:NoLogos"`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from imagegen.types import GeneratedImage


class Mode(StrEnum):
    """What a guardrail does when its check fails."""

    BLOCK = "block"
    """Refuse the request (prompt guardrails) or withhold the image (image guardrails)."""
    MASK = "mask"
    """Rewrite the prompt without the offending parts and let it through (prompts only)."""


class OnError(StrEnum):
    """What happens when a guardrail cannot decide (its service is down, it raised)."""

    BLOCK = "block"
    """Fail closed: refuse the request / withhold the image. The default."""
    ALLOW = "allow"
    """Fail open: let it through unchecked (the failure is still recorded)."""


@dataclass(frozen=True, slots=True)
class GuardrailConfig:
    """One `guardrails:` entry, as a guardrail's constructor receives it."""

    name: str
    mode: Mode
    options: Mapping[str, Any] = field(default_factory=dict)
    """The entry's other keys (keywords, max_chars, api_base...), for the guardrail to check."""


@dataclass(frozen=True, slots=True)
class GuardrailContext:
    """What a guardrail may know about the request besides the prompt or image."""

    guardrail: str
    """The name of the guardrail being asked (one class may serve several entries)."""
    model: str
    """The model group the caller asked for ("" when it named none and there is no default)."""
    n: int
    """Images asked for."""
    size: str | None
    """The size the images should have: the request's, or the size the gateway coerced it to
    (None when the request named none)."""
    input_field: str | None = None
    """For an edit's input image, the request field it came from ("images[0]"...); None for
    an image the provider generated."""


@dataclass(frozen=True, slots=True)
class PromptVerdict:
    """A prompt guardrail's answer: allow, block (with a reason) or mask (with a new prompt)."""

    action: str
    reason: str = ""
    """Why, for operators: never the prompt text or any part of it."""
    prompt: str | None = None
    """The rewritten prompt, for "mask"."""

    @classmethod
    def allow(cls) -> PromptVerdict:
        return cls("allow")

    @classmethod
    def block(cls, reason: str) -> PromptVerdict:
        return cls("block", reason)

    @classmethod
    def mask(cls, prompt: str, reason: str) -> PromptVerdict:
        return cls("mask", reason, prompt)


@dataclass(frozen=True, slots=True)
class ImageVerdict:
    """An image guardrail's answer: allow, or withhold (with a reason)."""

    action: str
    reason: str = ""

    @classmethod
    def allow(cls) -> ImageVerdict:
        return cls("allow")

    @classmethod
    def withhold(cls, reason: str) -> ImageVerdict:
        return cls("withhold", reason)


class Guardrail:
    """Common part of every guardrail: its config, and a lifecycle for held resources."""

    #: The modes this kind supports; the config is refused for any other.
    modes: frozenset[Mode] = frozenset({Mode.BLOCK})

    def __init__(self, config: GuardrailConfig) -> None:
        self.config = config
        self.name = config.name
        self.mode = config.mode

    async def start(self) -> None:
        """Called once before the first request (open a client)."""

    async def aclose(self) -> None:
        """Called once at shutdown."""


class PromptGuardrail(Guardrail):
    """Checks (and may rewrite) the prompt before any provider is called."""

    async def check_prompt(self, prompt: str, context: GuardrailContext) -> PromptVerdict:
        raise NotImplementedError


class ImageGuardrail(Guardrail):
    """Checks each generated image before it reaches the caller and, on an edit, each input
    image before any provider is called (`context.input_field` names which one)."""

    #: Whether the caller's input images are checked too. A content check wants to see what
    #: the provider will be sent; a check of the answer's form (ImageCheck) does not.
    checks_inputs: bool = True

    async def check_image(self, image: GeneratedImage, context: GuardrailContext) -> ImageVerdict:
        raise NotImplementedError


class GuardrailUnavailable(Exception):
    """Raised by a guardrail that cannot decide; its message is safe to log (no prompt, no
    secret). Any other exception counts the same, logged by type only."""


class GuardrailOptionError(ValueError):
    """A guardrail's options are invalid; the config loader names the entry and key."""
