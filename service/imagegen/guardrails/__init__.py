"""Guardrails: policy checks on prompts before a provider is called and on images after.

`base` defines what a guardrail is (and what a custom one implements), one module per
built-in kind, `settings` the config section, `hook` the request hook that runs them.
"""

from imagegen.guardrails.base import (
    GuardrailConfig,
    GuardrailContext,
    GuardrailOptionError,
    GuardrailUnavailable,
    ImageGuardrail,
    ImageVerdict,
    Mode,
    PromptGuardrail,
    PromptVerdict,
)

__all__ = [
    "GuardrailConfig",
    "GuardrailContext",
    "GuardrailOptionError",
    "GuardrailUnavailable",
    "ImageGuardrail",
    "ImageVerdict",
    "Mode",
    "PromptGuardrail",
    "PromptVerdict",
]
