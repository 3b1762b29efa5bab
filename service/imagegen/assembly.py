"""Which hooks a gateway runs, built from its settings (one place for the servers and SDK)."""

from __future__ import annotations

from imagegen.config import Settings
from imagegen.guardrails.hook import GuardrailHook
from imagegen.hooks import RequestHook
from imagegen.limits import InFlightLimit, RequestBounds, StreamsPerKeyLimit
from imagegen.spend.hook import AccessHook
from imagegen.telemetry.hook import TelemetryHook
from imagegen.telemetry.setup import Telemetry


def hooks_for(settings: Settings) -> list[RequestHook]:
    """The request hooks `settings` ask for, in the order they must run.

    Order matters: cheap bounds first, then access control (who is calling, and may they),
    then guardrails, and telemetry last so that it sees what the others decided.
    """
    server = settings.server
    hooks: list[RequestHook] = []
    # First: a request over the bound is refused before any other work.
    if server.max_in_flight_requests is not None:
        hooks.append(InFlightLimit(server.max_in_flight_requests))
    if server.max_prompt_chars is not None or server.max_images_per_request is not None:
        hooks.append(RequestBounds(server.max_prompt_chars, server.max_images_per_request))
    # Access control before guardrails: an unauthenticated caller must not make the gateway
    # call anything (an external moderation endpoint included). A request a guardrail then
    # blocks has its budget hold released when it finishes, at a cost of 0.
    if settings.access.spend_log:
        # One Redis, one fleet: without a quota_redis_url of their own, quotas are shared
        # through the router's Redis.
        access = settings.access.model_copy(
            update={"quota_redis_url": settings.access.quota_redis_url or settings.router.redis_url}
        )
        hooks.append(AccessHook(access, default_model=settings.default_model))
    if settings.guardrails.active:
        hooks.append(GuardrailHook(settings.guardrails, settings.default_model))
    # After access control, which tells whose stream it is.
    if server.max_streams_per_key is not None:
        hooks.append(StreamsPerKeyLimit(server.max_streams_per_key))
    # Last: it reports what the others decided.
    hooks.append(TelemetryHook(Telemetry.from_settings(settings.telemetry)))
    return hooks
