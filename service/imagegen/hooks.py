"""The extension points of the request path.

Guardrails, access control and budgets, the spend log and telemetry each plug into the
gateway as a `RequestHook`: the gateway calls every hook at fixed points of every
request, in the order they were given, so each feature stays in its own package and the
orchestration stays in one place (`gateway.py`). A hook overrides only the points it
needs; the defaults do nothing.

Order of the points for one request:

1. `on_request` — before anything else: authenticate, enforce limits, check or mask
   the prompt, reserve budget. Raising an `ImageGenError` refuses the request; no
   provider is called.
2. `attempt_started` / `attempt_finished` — around each provider call (retries,
   fallbacks and n fan-out sub-calls are separate attempts). Synchronous and cheap:
   they run on the hot path.
3. `check_image` — each finished image as it becomes ready, before any door sees it
   (a stream sends images as they come, before `after_call`): returning False withholds
   it. Only hooks that override it are asked, so the default costs nothing.
4. `after_call` — with the provider's result, before it reaches the caller: output
   guardrails may withhold images (returning a result without them). A hook that
   withholds in `check_image` must withhold the same images here (the result still
   holds them) and count them in `filtered`.
5. `finished` — once, whatever happened (success, error, cancellation): reconcile
   budgets, write the spend row, log, count. Never raises into the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagegen.errors import ImageGenError
    from imagegen.events import RequestState
    from imagegen.pricing.quote import Quoter
    from imagegen.types import Attempt, GeneratedImage, ProviderResult


class RequestHook:
    """One feature's part in every request; see the module docstring for the order."""

    name: str = "hook"

    def bind(self, quote: Quoter) -> None:
        """Called once by the Gateway that runs the hook, with its pre-flight pricing
        (for hooks that hold budgets): hooks call down, never back into the gateway."""

    async def start(self) -> None:
        """Called once before the first request (open pools, start background writers)."""

    async def aclose(self) -> None:
        """Called once at shutdown, after the last request: flush and close."""

    async def on_request(self, state: RequestState) -> None:
        """Before any work. Raise an ImageGenError to refuse the request."""

    def attempt_started(self, state: RequestState, attempt: Attempt) -> None:
        """A provider call is about to be sent."""

    def attempt_finished(self, state: RequestState, attempt: Attempt) -> None:
        """A provider call ended (`attempt.outcome` says how)."""

    async def check_image(self, state: RequestState, image: GeneratedImage) -> bool:
        """An image is ready: False withholds it from the caller (and from the stream)."""
        return True

    async def after_call(self, state: RequestState, result: ProviderResult) -> ProviderResult:
        """The generation's result before it is returned; may withhold images."""
        return result

    async def finished(self, state: RequestState, error: ImageGenError | None) -> None:
        """The request is over: `error` is None on success. Must not raise."""
