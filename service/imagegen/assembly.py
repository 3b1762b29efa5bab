"""Which hooks a gateway runs, built from its settings (one place for the servers and SDK)."""

from __future__ import annotations

from imagegen.config import Settings
from imagegen.guardrails.hook import GuardrailHook
from imagegen.hooks import RequestHook


def hooks_for(settings: Settings) -> list[RequestHook]:
    """The request hooks `settings` ask for, in the order they must run.

    Order matters: guardrails refuse before access control reserves budget, and
    telemetry comes last so that it sees what the others decided.
    """
    hooks: list[RequestHook] = []
    if settings.guardrails.active:
        hooks.append(GuardrailHook(settings.guardrails, settings.default_model))
    return hooks
