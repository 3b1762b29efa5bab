"""Which other model groups a request may fall back to, and when."""

from __future__ import annotations

from imagegen.router.settings import RouterSettings
from imagegen.types import ImageRequest


def general_fallbacks(model: str, request: ImageRequest, settings: RouterSettings) -> list[str]:
    """The models tried, in order, when `model` cannot serve (after its retries).

    A request's own `fallbacks` replace the configured ones; `disable_fallbacks` turns
    them all off. Otherwise the group's `fallbacks`, else `default_fallbacks`.
    """
    if request.disable_fallbacks:
        return []
    if request.fallbacks is not None:
        return [name for name in request.fallbacks if name != model]
    configured = settings.fallbacks.get(model)
    if configured is None:
        configured = settings.default_fallbacks
    return [name for name in configured if name != model]


def content_policy_fallbacks(
    model: str, request: ImageRequest, settings: RouterSettings
) -> list[str]:
    """The models tried when `model` refused the prompt for safety."""
    if request.disable_fallbacks:
        return []
    return [name for name in settings.content_policy_fallbacks.get(model, ()) if name != model]
