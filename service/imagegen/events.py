"""The state of one request, and what a generation yields as it goes.

`RequestState` travels through the layers in one place; a generation's stream is
`Accepted`, then `Progress` / `PreviewEvent` / `ImageReady` as they happen, then the
`Generation`. The doors turn these into their wire formats.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from imagegen.providers.base import PreviewEvent
from imagegen.providers.progress import JobProgress, progress_sink
from imagegen.types import Attempt, CallFacts, GeneratedImage, ImageRequest, ProviderResult


class RequestCredentials(Enum):
    """What the gateway does with api_key / api_base / api_version sent in a request."""

    REFUSE = "refuse"
    """PERMISSION_DENIED: a server whose callers may not pick hosts or keys (the default)."""
    ACCEPT = "accept"
    """Use them, but never send the configured key to a base URL the caller chose."""
    TRUST = "trust"
    """The caller is the program itself (in-process SDK): LiteLLM's behaviour."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, once a virtual key authenticated the request."""

    key_id: str
    """A stable, non-secret id of the key (never the key itself)."""
    alias: str
    tags: tuple[str, ...] = ()

    @property
    def priority(self) -> int:
        """The key's place when calls queue for memory or a deployment slot: its tag
        `priority:<integer>` (higher goes first; 0 without one, the last such tag wins)."""
        found = 0
        for tag in self.tags:
            name, _, value = tag.partition(":")
            if name == "priority":
                with contextlib.suppress(ValueError):
                    found = int(value)
        return found


@dataclass(frozen=True, slots=True)
class Decision:
    """Something a guardrail or the router decided for a request (span event, log field)."""

    kind: str
    """"guardrail", "router" or "quota"."""
    name: str
    """The guardrail's name, or the router step (e.g. "fallback", "cooldown", "retry")."""
    action: str
    """What was done: "allow", "block", "mask", "withhold", "skip", "retry", "fallback", ..."""
    detail: str = ""
    """A short, secret-free, prompt-free explanation."""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Target:
    """Where one prepared call goes: what the caller is told about it before the end.

    Made once per prepared call, from the deployment, the endpoint and the checked
    parameters (never changed afterwards)."""

    model_name: str
    model_id: str
    provider: str
    provider_model: str
    api_base: str
    size_requested: str | None = None
    """Set when the size was coerced: what the caller asked for."""
    size_actual: str | None = None
    """...and what the model was asked for instead."""
    dropped_params: tuple[str, ...] = ()


@dataclass(slots=True)
class RequestState:
    """Per-request state, carried through the layers in one place.

    While the request runs, each layer records what it did in its own field (the gateway
    the target and the attempt log, the cache its outcome, guardrails what they withheld);
    `facts`, the record the doors report, is derived from them once, at the end."""

    request: ImageRequest
    request_id: str
    started: float
    facts: CallFacts
    """Empty until the gateway settles the request (success or failure)."""
    provider_seconds: float = 0.0
    streaming: bool = False
    """A StreamGenerateImages call (or a streamed HTTP answer)."""
    door: str = "sdk"
    """Which door the request came through: "grpc", "http" or "sdk"."""
    credentials: str | None = None
    """The bearer token the caller presented (a virtual key), if any. Never logged."""
    caller: Caller | None = None
    """Set by access control once the credentials were checked."""
    request_credentials: RequestCredentials | None = None
    """Access control's per-key override of the server's policy for api_key/api_base."""
    decisions: list[Decision] = field(default_factory=list)
    """Guardrail and router decisions, in order (telemetry reports them)."""
    extensions: dict[str, object] = field(default_factory=dict)
    """Per-request data of the hooks, each under its own hook's name."""
    target: Target | None = None
    """The call picked last (before any pick: the one prepared last); set by the gateway."""
    attempts: list[Attempt] = field(default_factory=list)
    """Every provider call made for this request, in the order they started (the gateway's)."""
    cache: str = ""
    """The cache's outcome: "hit", "miss", or "" when the request was not cacheable."""
    cache_saved: Decimal | None = None
    """What a cache hit would have cost from the provider."""
    withheld: list[str] = field(default_factory=list)
    """Why guardrails withheld images, one "guardrail: reason" per image (never prompt text)."""

    @property
    def dropped_params(self) -> tuple[str, ...]:
        """Parameters the target's model does not take that drop_params let through."""
        return self.target.dropped_params if self.target is not None else ()

    def overhead_ms(self) -> float:
        """Time spent in the gateway so far, excluding provider calls."""
        return max(0.0, (time.monotonic() - self.started - self.provider_seconds) * 1000)

    def facts_so_far(self) -> CallFacts:
        """The routing facts known now (before the end: where the request is going)."""
        return routed_facts(self.request_id, self.target, self.attempts)


def routed_facts(request_id: str, target: Target | None, attempts: list[Attempt]) -> CallFacts:
    """The facts of where a request went: `target`, and the attempts made."""
    if target is None:
        return CallFacts(request_id=request_id, attempts=len(attempts), attempt_log=list(attempts))
    return CallFacts(
        request_id=request_id,
        model_id=target.model_id,
        provider=target.provider,
        provider_model=target.provider_model,
        api_base=target.api_base,
        attempts=len(attempts),
        size_requested=target.size_requested,
        size_actual=target.size_actual,
        attempt_log=list(attempts),
    )


@dataclass(slots=True)
class Generation:
    """A finished generation."""

    result: ProviderResult
    state: RequestState

    @property
    def facts(self) -> CallFacts:
        return self.state.facts


@dataclass(frozen=True, slots=True)
class Accepted:
    """The request is valid and a deployment was chosen (the first streamed event)."""

    facts: CallFacts
    model: str
    n: int


@dataclass(frozen=True, slots=True)
class ImageReady:
    """A finished image, at its position among the call's images."""

    index: int
    image: GeneratedImage


@dataclass(frozen=True, slots=True)
class Progress:
    """The call is still running: a keep-alive, or what the provider said about its job."""

    elapsed_seconds: float
    images_done: int
    job: JobProgress | None = None
    """The provider's job status (polling providers); None for a plain keep-alive."""


StreamEvent = Accepted | Progress | PreviewEvent | ImageReady | Generation


async def with_keepalive(
    events: AsyncGenerator[StreamEvent, None], interval: float
) -> AsyncIterator[StreamEvent]:
    """`events`, with a Progress event whenever `interval` seconds pass without one."""
    queue: asyncio.Queue[StreamEvent | JobProgress | _Ended] = asyncio.Queue()

    async def pump() -> None:
        # The generation runs in this task: a polling provider's job progress (reported
        # from within it, or from tasks it starts) joins the stream here.
        with progress_sink(queue.put_nowait):
            try:
                async for event in events:
                    await queue.put(event)
                await queue.put(_Ended(None))
            except Exception as exc:
                await queue.put(_Ended(exc))

    started = time.monotonic()
    images_done = 0
    task = asyncio.ensure_future(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                yield Progress(time.monotonic() - started, images_done)
                continue
            if isinstance(item, JobProgress):
                yield Progress(time.monotonic() - started, images_done, job=item)
                continue
            if isinstance(item, _Ended):
                if item.error is not None:
                    raise item.error
                return
            if isinstance(item, ImageReady):
                images_done += 1
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await events.aclose()


@dataclass(frozen=True, slots=True)
class _Ended:
    error: Exception | None
