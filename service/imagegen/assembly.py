"""Which hooks a gateway runs, built from its settings (one place for the servers and SDK)."""

from __future__ import annotations

from imagegen.config import Settings
from imagegen.hooks import RequestHook
from imagegen.spend.hook import AccessHook


def hooks_for(settings: Settings) -> list[RequestHook]:
    """The request hooks `settings` ask for, in the order they must run.

    Order matters: guardrails refuse before access control reserves budget, and
    telemetry comes last so that it sees what the others decided.
    """
    hooks: list[RequestHook] = []
    if settings.access.spend_log:
        hooks.append(AccessHook(settings))
    return hooks
