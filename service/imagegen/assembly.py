"""Which hooks a gateway runs, built from its settings (one place for the servers and SDK)."""

from __future__ import annotations

from imagegen.config import Settings
from imagegen.hooks import RequestHook
from imagegen.telemetry.hook import TelemetryHook
from imagegen.telemetry.setup import Telemetry


def hooks_for(settings: Settings) -> list[RequestHook]:
    """The request hooks `settings` ask for, in the order they must run.

    Order matters: guardrails refuse before access control reserves budget, and
    telemetry comes last so that it sees what the others decided.
    """
    hooks: list[RequestHook] = []
    hooks.append(TelemetryHook(Telemetry.from_settings(settings.telemetry)))
    return hooks
