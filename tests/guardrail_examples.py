"""Custom guardrails, loaded by import path from the tests' configs (as an operator's would be)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from imagegen.guardrails import (
    GuardrailConfig,
    GuardrailContext,
    ImageGuardrail,
    ImageVerdict,
    Mode,
    PromptGuardrail,
    PromptVerdict,
)
from imagegen.types import GeneratedImage


class _ShoutOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_upper_ratio: float = 0.5


class NoShouting(PromptGuardrail):
    """A prompt mostly in capitals is lower-cased (mask) or refused (block)."""

    modes = frozenset({Mode.BLOCK, Mode.MASK})

    def __init__(self, config: GuardrailConfig) -> None:
        super().__init__(config)
        self.max_upper_ratio = _ShoutOptions.model_validate(dict(config.options)).max_upper_ratio

    async def check_prompt(self, prompt: str, context: GuardrailContext) -> PromptVerdict:
        letters = [c for c in prompt if c.isalpha()]
        upper = sum(c.isupper() for c in letters) / max(len(letters), 1)
        if upper <= self.max_upper_ratio:
            return PromptVerdict.allow()
        if self.mode is Mode.MASK:
            return PromptVerdict.mask(prompt.lower(), f"{upper:.0%} capitals")
        return PromptVerdict.block(f"{upper:.0%} capitals")


class OnlySquareImages(ImageGuardrail):
    """Withholds every image that is not square (reads the size the provider reported)."""

    async def check_image(self, image: GeneratedImage, context: GuardrailContext) -> ImageVerdict:
        if image.width is not None and image.width == image.height:
            return ImageVerdict.allow()
        return ImageVerdict.withhold(f"not square ({image.width}x{image.height})")


class Broken(PromptGuardrail):
    """Raises on every prompt, with the prompt in its message (which must not be logged)."""

    async def check_prompt(self, prompt: str, context: GuardrailContext) -> PromptVerdict:
        raise RuntimeError(f"bug while reading {prompt}")


#: What SeenImages was shown, in order: (input field or None for a generated image, width,
#: height). Tests clear it before use.
SEEN_IMAGES: list[tuple[str | None, int | None, int | None]] = []


class SeenImages(ImageGuardrail):
    """Allows every image and records which it was shown."""

    async def check_image(self, image: GeneratedImage, context: GuardrailContext) -> ImageVerdict:
        SEEN_IMAGES.append((context.input_field, image.width, image.height))
        return ImageVerdict.allow()


class NoTinyImages(ImageGuardrail):
    """Withholds images narrower than 32 pixels (reads the decoded width)."""

    async def check_image(self, image: GeneratedImage, context: GuardrailContext) -> ImageVerdict:
        if image.width is not None and image.width >= 32:
            return ImageVerdict.allow()
        return ImageVerdict.withhold(f"{image.width} pixels wide, under 32")
