"""Guardrail kinds by config name, and custom ones by import path."""

from __future__ import annotations

import importlib

from imagegen.guardrails.base import (
    Guardrail,
    GuardrailOptionError,
    ImageGuardrail,
    PromptGuardrail,
)
from imagegen.guardrails.blocklist import Blocklist
from imagegen.guardrails.length import PromptLength
from imagegen.guardrails.moderation import Moderation
from imagegen.guardrails.output import ImageCheck
from imagegen.guardrails.pii import Pii

CUSTOM_PREFIX = "python:"

BUILTINS: dict[str, type[Guardrail]] = {
    "blocklist": Blocklist,
    "pii": Pii,
    "prompt_length": PromptLength,
    "moderation": Moderation,
    # LiteLLM's name for the same integration, so its configs read the same here.
    "openai_moderation": Moderation,
    "image_check": ImageCheck,
}


def guardrail_class(kind: str) -> type[Guardrail]:
    """The class for a `guardrail:` value: a built-in name or "python:pkg.module:Class"."""
    if not kind.startswith(CUSTOM_PREFIX):
        found = BUILTINS.get(kind)
        if found is None:
            raise GuardrailOptionError(
                f"guardrail: unknown kind {kind!r}; built-ins are "
                f"{', '.join(sorted(BUILTINS))}, or {CUSTOM_PREFIX}package.module:Class"
            )
        return found
    path = kind[len(CUSTOM_PREFIX) :]
    module_name, sep, class_name = path.partition(":")
    if not sep or not module_name or not class_name:
        raise GuardrailOptionError(
            f"guardrail: {kind!r} must be {CUSTOM_PREFIX}package.module:Class"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GuardrailOptionError(f"guardrail: cannot import {module_name} ({exc})") from None
    found = getattr(module, class_name, None)
    if not isinstance(found, type) or not issubclass(found, PromptGuardrail | ImageGuardrail):
        raise GuardrailOptionError(
            f"guardrail: {path} is not a PromptGuardrail or ImageGuardrail subclass"
        )
    return found
