"""One request's attempts: pick a deployment, call it, retry, cool down, fall back.

The router knows deployments, their shared state and the failure rules; it does not
know providers. The gateway hands it a `Route` — how to resolve a model group, prepare
a call for one deployment (checking the request against that model's rules) and execute
it — and consumes what `run` yields: a `Picked` before every attempt, the attempt's
previews and images, and finally `Served`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from redis.exceptions import RedisError

from imagegen.deadline import Deadline
from imagegen.deployment import Deployment
from imagegen.errors import (
    DeadlineExceededError,
    DeploymentLimitError,
    FailedPreconditionError,
    ImageGenError,
    InvalidRequestError,
    NoDeploymentAvailableError,
    PreconditionViolation,
    ProviderRateLimitedError,
    RouterStateUnavailableError,
)
from imagegen.events import Decision, ImageReady, RequestState
from imagegen.providers.base import PreviewEvent, ProviderCall
from imagegen.router.admission import POLL_LOCAL_SECONDS, POLL_SHARED_SECONDS, AdmissionQueue
from imagegen.router.fallbacks import content_policy_fallbacks, general_fallbacks
from imagegen.router.fanout import FanOutFailed, fan_out
from imagegen.router.retry import Failure, backoff, classify, retries_for
from imagegen.router.settings import RouterSettings
from imagegen.router.state import Limits, RouterStore, seconds_to_next_window
from imagegen.router.state_memory import MemoryStore
from imagegen.router.state_redis import RedisStore
from imagegen.router.strategies import Candidate, by_order, load_strategy
from imagegen.types import ImageRequest, ProviderResult

# How long a caller is told to wait when every deployment is at max_parallel_requests.
BUSY_RETRY_AFTER = 1.0
# Calls that may wait for a deployment slot, unless the gateway says otherwise.
DEFAULT_QUEUE_CAPACITY = 1000
# A deployment's allowances of the current minute: refused until the next window.
PER_MINUTE_LIMITS = frozenset({"rpm", "ipm", "tpm"})


@dataclass(frozen=True, slots=True)
class Plan:
    """A call prepared for one deployment (the payload is the gateway's)."""

    deployment: Deployment
    payload: Any
    images: int
    fan_out: bool = False
    """Served by routed sub-calls: takes no slot of its own and is not retried as a whole."""
    call: ProviderCall | None = None
    """The provider call (what a fan-out splits into sub-calls)."""
    per_call: int | None = None
    """Images one provider call makes at most (None: no limit)."""


@dataclass(frozen=True, slots=True)
class Picked:
    """The next attempt goes to `plan.deployment` (yielded before every attempt)."""

    plan: Plan


@dataclass(frozen=True, slots=True)
class Served:
    """The attempt that produced the result."""

    plan: Plan
    result: ProviderResult


AttemptEvent = PreviewEvent | ImageReady | ProviderResult
RouteEvent = Picked | PreviewEvent | ImageReady | Served


class Route(Protocol):
    """What the gateway provides for one request."""

    def resolve(self, model_name: str) -> tuple[Deployment, ...]:
        """The deployments of a model group (raises ModelNotFoundError)."""
        ...

    def prepare(self, deployment: Deployment, n: int | None, deadline: Deadline) -> Plan:
        """The call for `deployment` (n: a fan-out sub-call's count); raises when it cannot."""
        ...

    def execute(self, plan: Plan) -> AsyncIterator[AttemptEvent]:
        """Make the one provider call of a (not fan-out) plan: previews and images as they
        come, then the ProviderResult."""
        ...

    def cost_per_image(self, deployment: Deployment) -> Decimal | None: ...


@dataclass(slots=True)
class RouteContext:
    """The routing state of one request."""

    request: ImageRequest
    model: str
    """The model group the caller asked for (or the default)."""
    state: RequestState
    deadline: Deadline
    delivered: bool = False
    """An image or preview reached the caller: from then on nothing is retried."""
    tried: list[str] = field(default_factory=list)
    """"deployment-id REASON" for every failed attempt, for the final error."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Why a deployment was last passed over (deployment id → reason)."""
    _noted: set[str] = field(default_factory=set)

    @property
    def size(self) -> str:
        return self.request.size or "default"

    def decide(self, name: str, action: str, detail: str) -> None:
        self.state.decisions.append(
            Decision(kind="router", name=name, action=action, detail=detail)
        )

    def skip(self, deployment: Deployment, reason: str) -> None:
        key = f"{deployment.model_id}:{reason.split(' ')[0]}"
        self.skipped[deployment.model_id] = reason
        if key not in self._noted:
            self._noted.add(key)
            self.decide("skip", "skip", f"{deployment.model_name}/{deployment.model_id}: {reason}")


class _Untried(Exception):
    """No deployment of a group accepts the request (its size, n...): the first reason."""

    def __init__(self, error: ImageGenError) -> None:
        super().__init__("no deployment accepts the request")
        self.error = error


class RequestRouter:
    """Routes requests over model groups; one per gateway, shared by all its requests."""

    def __init__(
        self,
        settings: RouterSettings,
        *,
        store: RouterStore | None = None,
        rng: random.Random | None = None,
        admission: AdmissionQueue | None = None,
    ) -> None:
        self.settings = settings
        self.admission = admission or AdmissionQueue(DEFAULT_QUEUE_CAPACITY)
        if store is None:
            if settings.redis_url:
                store = RedisStore(settings.redis_url, settings.redis_namespace)
            else:
                store = MemoryStore()
        self.store: RouterStore = store
        self.strategy = load_strategy(settings.routing_strategy)
        self.rng = rng or random.Random()

    async def aclose(self) -> None:
        await self.store.aclose()

    async def run(self, route: Route, ctx: RouteContext) -> AsyncIterator[RouteEvent]:
        """Serve the request from its model group, then its fallbacks; see the module doc."""
        try:
            async for event in self._run(route, ctx):
                yield event
        except RedisError:
            raise RouterStateUnavailableError(
                "the router's shared state (Redis) is unreachable"
            ) from None

    async def _run(self, route: Route, ctx: RouteContext) -> AsyncIterator[RouteEvent]:
        queue = [ctx.model, *general_fallbacks(ctx.model, ctx.request, self.settings)]
        index = 0
        last: ImageGenError | None = None
        # Fallbacks passed over as unable to take the request (an edit their models cannot
        # serve), and the others reached: when only unfit ones were, that is the answer.
        unfit_fallbacks = other_fallbacks = 0
        while index < len(queue):
            model = queue[index]
            index += 1
            if model != ctx.model:
                ctx.decide("fallback", "fallback", f"{queue[index - 2]} -> {model}")
            try:
                async for event in self._group(route, ctx, model, n=None, stream=True):
                    yield event
                return
            except _Untried as untried:
                unfit = isinstance(untried.error, FailedPreconditionError)
                if model == ctx.model:
                    raise (self._unfit(ctx) if unfit else untried.error) from None
                ctx.decide("fallback", "skip", f"{model}: {untried.error.message}")
                unfit_fallbacks += unfit
                other_fallbacks += not unfit
                last = last or untried.error
                continue
            except ImageGenError as error:
                if ctx.delivered:
                    raise
                other_fallbacks += model != ctx.model
                kind = classify(error, deadline_expired=ctx.deadline.expired)
                if kind is Failure.CONTENT_POLICY:
                    targets = [
                        name
                        for name in content_policy_fallbacks(model, ctx.request, self.settings)
                        if name not in queue[:index]
                    ]
                    if not targets:
                        raise self._annotated(error, ctx) from None
                    # A refusal is not an outage: only content-policy fallbacks follow it.
                    queue[index:] = targets
                elif kind is Failure.FINAL and not isinstance(error, NoDeploymentAvailableError):
                    raise self._annotated(error, ctx) from None
                last = error
        assert last is not None  # the queue holds at least the requested model
        if unfit_fallbacks and not other_fallbacks:
            raise self._unfit(ctx)
        raise self._annotated(last, ctx)

    async def sub_call(self, route: Route, ctx: RouteContext, model: str, n: int) -> ProviderResult:
        """One n fan-out sub-call, routed within `model`'s group."""
        served: Served | None = None
        async for event in self._group(route, ctx, model, n=n, stream=False):
            if isinstance(event, Served):
                served = event
        assert served is not None
        return served.result

    async def _group(
        self, route: Route, ctx: RouteContext, model: str, *, n: int | None, stream: bool
    ) -> AsyncIterator[RouteEvent]:
        group = route.resolve(model)
        retries = 0
        failed: dict[str, str] = {}
        sub_call = n is not None
        allow_retries = not sub_call or self.settings.fan_out_on_failure == "retry"
        while True:
            plan, acquired = await self._admitted(route, ctx, model, group, failed, n)
            yield Picked(plan)
            try:
                async for event in self._attempt(route, ctx, plan, acquired, stream=stream):
                    yield event
                return
            except ImageGenError as error:
                kind = classify(error, deadline_expired=ctx.deadline.expired)
                deployment = plan.deployment
                ctx.tried.append(f"{deployment.model_id} {error.reason}")
                if (stream and ctx.delivered) or kind in (Failure.FINAL, Failure.CONTENT_POLICY):
                    raise
                await self._penalise(ctx, group, deployment, error, kind)
                failed[deployment.model_id] = error.reason
                if (
                    plan.fan_out
                    or not allow_retries
                    or retries >= retries_for(error, self.settings)
                ):
                    raise
                retries += 1
                wait = await self._wait_before_retry(ctx, group, failed, error, retries)
                if wait is None:
                    raise
                ctx.decide(
                    "retry",
                    "retry",
                    f"{model}: retry {retries} after {error.reason} from "
                    f"{deployment.model_id}, in {wait:.2f}s",
                )
                await asyncio.sleep(wait)

    async def _wait_before_retry(
        self,
        ctx: RouteContext,
        group: Sequence[Deployment],
        failed: dict[str, str],
        error: ImageGenError,
        retry: int,
    ) -> float | None:
        """Seconds to wait before the retry, or None when it cannot happen in time."""
        wait = backoff(retry, self.settings, self.rng)
        if error.retry_after:
            cooling = await self.store.cooldowns([d.model_id for d in group])
            others = [d for d in group if d.model_id not in failed and d.model_id not in cooling]
            if not others:
                # The same deployment is next: its Retry-After is the earliest sensible time.
                if error.retry_after > self.settings.max_retry_after_seconds:
                    ctx.decide("retry", "give_up", f"Retry-After {error.retry_after:.1f}s too long")
                    return None
                wait = max(wait, error.retry_after)
        if wait >= ctx.deadline.remaining():
            ctx.decide("retry", "give_up", f"no time left to wait {wait:.2f}s before a retry")
            return None
        return wait

    async def _penalise(
        self,
        ctx: RouteContext,
        group: Sequence[Deployment],
        deployment: Deployment,
        error: ImageGenError,
        kind: Failure,
    ) -> None:
        # A lone deployment is never cooled down: there is nothing to route to instead, and
        # refusing calls it might serve would only turn a slow recovery into an outage.
        if len(group) < 2:
            return
        cooldown = self.settings.cooldown_time
        if isinstance(error, ProviderRateLimitedError) or kind is Failure.DEPLOYMENT:
            seconds = max(cooldown, error.retry_after or 0.0)
            why = error.reason
        else:
            fails = await self.store.record_failure(deployment.model_id)
            if fails <= self.settings.allowed_fails:
                return
            seconds, why = cooldown, f"{fails} failures this minute"
        if seconds <= 0:
            return
        await self.store.cool_down(deployment.model_id, time.time() + seconds)
        ctx.decide("cooldown", "cooldown", f"{deployment.model_id} for {seconds:.1f}s: {why}")

    async def _admitted(
        self,
        route: Route,
        ctx: RouteContext,
        model: str,
        group: Sequence[Deployment],
        failed: dict[str, str],
        n: int | None,
    ) -> tuple[Plan, bool]:
        """`_pick`, waiting in the admission queue while every deployment is busy."""
        while True:
            try:
                return await self._pick(route, ctx, model, group, failed, n)
            except NoDeploymentAvailableError as error:
                # Only when every deployment left is busy will a slot free for this call.
                if not error.all_busy:
                    raise
                ids = [d.model_id for d in group]
                latencies = await self.store.latencies(ids, ctx.size)
                caller = ctx.state.caller
                await self.admission.wait(
                    ids,
                    model=model,
                    priority=caller.priority if caller is not None else 0,
                    deadline=ctx.deadline,
                    slots=sum(d.max_parallel_requests or 0 for d in group),
                    latency=min(latencies.values()) if latencies else None,
                    poll=POLL_LOCAL_SECONDS
                    if isinstance(self.store, MemoryStore)
                    else POLL_SHARED_SECONDS,
                )

    async def _pick(
        self,
        route: Route,
        ctx: RouteContext,
        model: str,
        group: Sequence[Deployment],
        failed: dict[str, str],
        n: int | None,
    ) -> tuple[Plan, bool]:
        """The next deployment to call, its call prepared and (unless fan-out) its slot taken."""
        ids = [d.model_id for d in group]
        cooling = await self.store.cooldowns(ids)
        now = time.time()
        for deployment in group:
            if deployment.model_id in cooling:
                left = cooling[deployment.model_id] - now
                ctx.skip(deployment, f"cooldown ({left:.1f}s left)")
        available = [d for d in group if d.model_id not in cooling]
        if not available:
            retry_after = max(0.0, min(cooling.values()) - now)
            raise NoDeploymentAvailableError(
                f"every deployment of {model} is cooling down; retry in {retry_after:.1f}s",
                metadata={"model": model, "skipped": _listed(ctx, ids)},
                retry_after=retry_after,
            )
        # Deployments that failed this request go last, not away: when nothing else is left,
        # retrying one of them is better than giving up.
        fresh = [d for d in available if d.model_id not in failed]
        loads = await self.store.loads(ids)
        latencies = await self.store.latencies(ids, ctx.size)
        candidates = [
            Candidate(d, loads[d.model_id], latencies.get(d.model_id), route.cost_per_image(d))
            for d in available
        ]
        ordered: list[Candidate] = []
        for tier in by_order([c for c in candidates if c.deployment in fresh]):
            ordered += self.strategy(tier, self.rng)
        for tier in by_order([c for c in candidates if c.deployment not in fresh]):
            ordered += self.strategy(tier, self.rng)
        constraint: ImageGenError | None = None
        limited: list[tuple[str, str]] = []
        """(deployment id, the limit that refused it)"""
        too_slow = 0
        for candidate in ordered:
            deployment = candidate.deployment
            remaining = ctx.deadline.remaining()
            if candidate.latency is not None and remaining < candidate.latency:
                ctx.skip(
                    deployment,
                    f"deadline (takes ~{candidate.latency:.1f}s, {max(remaining, 0):.1f}s left)",
                )
                too_slow += 1
                continue
            try:
                plan = route.prepare(deployment, n, ctx.deadline)
            except InvalidRequestError as error:
                ctx.skip(deployment, f"constraint ({error.message[:120]})")
                constraint = constraint or error
                continue
            except FailedPreconditionError as error:
                # Its model cannot take this request at all (an edit operation it does not
                # serve, more input images than it takes, a mask): never picked.
                ctx.skip(deployment, f"unfit ({error.message[:120]})")
                constraint = constraint or error
                continue
            if plan.fan_out:
                return plan, False
            limits = Limits(
                deployment.rpm, deployment.ipm, deployment.max_parallel_requests, deployment.tpm
            )
            refused = await self.store.try_acquire(deployment.model_id, limits, plan.images)
            if refused is not None:
                ctx.skip(deployment, f"{refused} limit reached")
                limited.append((deployment.model_id, refused))
                continue
            return plan, True
        if constraint is not None and not limited and not too_slow:
            raise _Untried(constraint)
        if too_slow and not limited:
            raise DeadlineExceededError(
                f"no deployment of {model} can finish in the "
                f"{max(ctx.deadline.remaining(), 0):.1f}s left ({_listed(ctx, ids)})",
                metadata={"model": model, "skipped": _listed(ctx, ids)},
            )
        if limited and not cooling and all(r in PER_MINUTE_LIMITS for _, r in limited):
            raise _window_spent(model, limited, _listed(ctx, ids))
        busy = all(reason == "max_parallel_requests" for _, reason in limited)
        retry_after = BUSY_RETRY_AFTER if busy else seconds_to_next_window()
        all_busy = busy and bool(limited)
        # The limit is named for callers too (ErrorInfo metadata), not read back here.
        busy_limit = {"limit": "max_parallel_requests"} if all_busy else {}
        raise NoDeploymentAvailableError(
            f"every deployment of {model} is at its limits; retry in {retry_after:.1f}s",
            metadata={"model": model, "skipped": _listed(ctx, ids), **busy_limit},
            retry_after=retry_after,
            all_busy=all_busy,
        )

    async def _attempt(
        self, route: Route, ctx: RouteContext, plan: Plan, acquired: bool, *, stream: bool
    ) -> AsyncIterator[RouteEvent]:
        deployment = plan.deployment
        began = time.monotonic()
        result: ProviderResult | None = None
        events = self._fan_out(route, ctx, plan) if plan.fan_out else route.execute(plan)
        try:
            async for event in events:
                if isinstance(event, ProviderResult):
                    result = event
                    continue
                if stream:
                    ctx.delivered = True
                    yield event
        finally:
            if acquired:
                await self.store.release(deployment.model_id)
                self.admission.released(deployment.model_id)
        assert result is not None  # execute ends with the result or raises
        if not plan.fan_out and deployment.tpm is not None:
            tokens = _tokens(result)
            if tokens:
                await self.store.record_tokens(deployment.model_id, tokens)
        if not plan.fan_out:
            await self.store.record_latency(
                deployment.model_id,
                ctx.size,
                time.monotonic() - began,
                self.settings.latency_alpha,
            )
        yield Served(plan, result)

    async def _fan_out(
        self, route: Route, ctx: RouteContext, plan: Plan
    ) -> AsyncIterator[AttemptEvent]:
        """A plan for more images than one call makes: sub-calls, each routed (and retried)
        within the group like a request of its own, merged into one result."""
        call, per_call = plan.call, plan.per_call
        assert call is not None and per_call is not None  # a fan-out plan has both
        model = plan.deployment.model_name

        async def generate(sub: ProviderCall) -> ProviderResult:
            return await self.sub_call(route, ctx, model, sub.params.n)

        try:
            async for outcome in fan_out(
                generate,
                call,
                per_call,
                concurrency=self.settings.fan_out_concurrency,
                partial=self.settings.fan_out_on_failure == "partial",
            ):
                if isinstance(outcome, ProviderResult) and outcome.failed:
                    ctx.decide(
                        "fan_out",
                        "partial",
                        f"{outcome.failed} of {call.params.n} images failed; returning the rest",
                    )
                yield outcome
        except FanOutFailed as broken:
            raise broken.error from None

    def _unfit(self, ctx: RouteContext) -> FailedPreconditionError:
        """FAILED_PRECONDITION naming every deployment passed over and why (and what failed
        before): no deployment left to try can take the request."""
        skipped = "; ".join(f"{i}: {why}" for i, why in ctx.skipped.items())
        tried = ", ".join(ctx.tried)
        before = f"{ctx.model} failed ({tried}); " if tried else ""
        return FailedPreconditionError(
            f"{before}no deployment left can take this request (skipped: {skipped})"[:1000],
            metadata={
                "model": ctx.model,
                "skipped": skipped[:1000],
                **({"tried": tried[:1000]} if tried else {}),
            },
            # One PreconditionFailure violation per deployment passed over, for callers
            # that read the status details rather than parse the message.
            preconditions=[
                PreconditionViolation("DEPLOYMENT_SKIPPED", f"deployment:{i}", why)
                for i, why in ctx.skipped.items()
            ],
        )

    def _annotated(self, error: ImageGenError, ctx: RouteContext) -> ImageGenError:
        """`error`, wrapped with what was tried when more than one thing was (the
        provider's error itself is not changed)."""
        if len(ctx.tried) + len(ctx.skipped) <= 1 and not isinstance(
            error, NoDeploymentAvailableError
        ):
            return error
        tried = ", ".join(ctx.tried) or "nothing"
        metadata: dict[str, str] = {}
        if ctx.tried:
            metadata["tried"] = ",".join(ctx.tried)[:1000]
        skipped = "; ".join(f"{i}: {why}" for i, why in ctx.skipped.items())
        if skipped:
            metadata["skipped"] = skipped[:1000]
        told = f"tried: {tried}" + (f"; skipped: {skipped}" if skipped else "")
        # A sub-call's error already tells, in its message, what was tried.
        return error.annotated(None if "(tried:" in error.message else told, metadata)


def _tokens(result: ProviderResult) -> int:
    """A call's tokens as its provider reported them (LiteLLM's tpm counts input + output)."""
    usage = result.usage
    if usage is None:
        return 0
    return usage.input_tokens + usage.output_tokens or usage.total_tokens


def _window_spent(
    model: str, limited: Sequence[tuple[str, str]], skipped: str
) -> DeploymentLimitError:
    """Every deployment tried is out of its allowance of this minute: RESOURCE_EXHAUSTED until
    the next window, naming each deployment's limit."""
    retry_after = seconds_to_next_window()
    subjects = [f"deployment:{model_id}:{limit}" for model_id, limit in limited]
    reached = ", ".join(f"{model_id}: {limit}" for model_id, limit in limited)
    return DeploymentLimitError(
        f"every deployment of {model} has used this minute's allowance ({reached}); "
        f"retry in {retry_after:.1f}s"[:1000],
        subject=subjects[0],
        other_subjects=subjects[1:],
        metadata={
            "model": model,
            "skipped": skipped,
            "limit": ",".join(sorted({limit for _, limit in limited})),
        },
        retry_after=retry_after,
    )


def _listed(ctx: RouteContext, ids: Sequence[str]) -> str:
    return "; ".join(f"{i}: {ctx.skipped[i]}" for i in ids if i in ctx.skipped)[:1000]
