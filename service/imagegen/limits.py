"""Bounds on concurrent work: total in-flight requests, and concurrent streams per key.

Past a bound the answer is RESOURCE_EXHAUSTED with RetryInfo at once — the request is
refused before any work, so a burst cannot grow memory without bound. Counting is
per process (each worker of a multi-process server has its own bound): a bound on
memory is a per-process matter.
"""

from __future__ import annotations

from imagegen.errors import FieldViolation, ImageGenError, InvalidRequestError, ServerLimitError
from imagegen.events import RequestState
from imagegen.hooks import RequestHook

# How soon a refused caller may come back: generations last seconds, so does a slot.
RETRY_AFTER_SECONDS = 1.0


class InFlightLimit(RequestHook):
    """Refuses a request when `limit` requests are already in flight."""

    name = "in_flight_limit"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    async def on_request(self, state: RequestState) -> None:
        if self.in_flight >= self.limit:
            raise ServerLimitError(
                f"the gateway is serving its maximum of {self.limit} requests; retry shortly",
                metadata={"limit": "max_in_flight_requests"},
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.in_flight += 1
        state.extensions[self.name] = True

    async def finished(self, state: RequestState, error: ImageGenError | None) -> None:
        if state.extensions.pop(self.name, None):
            self.in_flight -= 1


class StreamsPerKeyLimit(RequestHook):
    """Refuses a stream when its caller already has `limit` streams open."""

    name = "streams_per_key_limit"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    async def on_request(self, state: RequestState) -> None:
        if not state.streaming:
            return
        # Without virtual keys every caller is one anonymous caller.
        key = state.caller.key_id if state.caller is not None else ""
        if self.open.get(key, 0) >= self.limit:
            raise ServerLimitError(
                f"this key already has {self.limit} streams open; retry when one ends",
                metadata={"limit": "max_streams_per_key"},
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.open[key] = self.open.get(key, 0) + 1
        state.extensions[self.name] = key

    async def finished(self, state: RequestState, error: ImageGenError | None) -> None:
        key = state.extensions.pop(self.name, None)
        if isinstance(key, str):
            left = self.open[key] - 1
            if left:
                self.open[key] = left
            else:
                del self.open[key]


class RequestBounds(RequestHook):
    """Operator bounds on one request's size, tighter than the built-in ceilings.

    A request over a size bound is INVALID_ARGUMENT naming the field, not RESOURCE_EXHAUSTED:
    the same request would fail again, so there is nothing to retry after.
    """

    name = "request_bounds"

    def __init__(self, max_prompt_chars: int | None, max_images: int | None) -> None:
        self.max_prompt_chars = max_prompt_chars
        self.max_images = max_images

    async def on_request(self, state: RequestState) -> None:
        request = state.request
        if self.max_prompt_chars is not None and len(request.prompt) > self.max_prompt_chars:
            raise _too_large("prompt", f"longer than {self.max_prompt_chars} characters")
        if self.max_images is not None and (request.n or 1) > self.max_images:
            raise _too_large("n", f"more than {self.max_images} images per request")


def _too_large(field: str, what: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{field} is {what} (this server's bound)",
        field_violations=[FieldViolation(field, what)],
        metadata={"field": field},
    )
