"""The one orchestration every door (gRPC, in-process SDK) goes through.

request → resolve the deployment → apply the model's parameter rules → call the
provider within the deadline → price the actual answer → report the call facts.
Guardrails, the router and spend tracking slot in here as they arrive; the doors
only convert to and from their wire formats.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum

from imagegen.config import Deployment, Settings
from imagegen.deadline import Deadline
from imagegen.errors import (
    CancelledError,
    FieldViolation,
    ImageGenError,
    InternalError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    UnsupportedParameterError,
)
from imagegen.events import (
    Accepted,
    Generation,
    ImageReady,
    RequestState,
    StreamEvent,
    with_keepalive,
)
from imagegen.fanout import FanOutFailed, fan_out, merge_results
from imagegen.hooks import RequestHook
from imagegen.pricing import Price, PriceTable, compute_cost, load_price_table
from imagegen.providers.base import (
    CREDENTIAL_OPTIONS,
    CallParams,
    Endpoint,
    ImageEvent,
    ModelSpec,
    PreviewEvent,
    Provider,
    ProviderCall,
    StreamingProvider,
    check_params,
)
from imagegen.providers.registry import endpoint_from_env, get_provider, split_model
from imagegen.providers.transport import HttpTransport
from imagegen.spend.quote import Quote, quote_for
from imagegen.types import Attempt, CallFacts, ImageRequest, ProviderResult

log = logging.getLogger(__name__)

# OpenAI's limit on previews per image.
MAX_PARTIAL_IMAGES = 3


class RequestCredentials(Enum):
    """What the gateway does with api_key / api_base / api_version sent in a request."""

    REFUSE = "refuse"
    """PERMISSION_DENIED: a server whose callers may not pick hosts or keys (the default)."""
    ACCEPT = "accept"
    """Use them, but never send the configured key to a base URL the caller chose."""
    TRUST = "trust"
    """The caller is the program itself (in-process SDK): LiteLLM's behaviour."""


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """A served model and what it accepts (for ListModels)."""

    deployment: Deployment
    spec: ModelSpec
    price_basis: str
    supported_params: tuple[str, ...] = field(default=())


class Gateway:
    """Generates images for validated requests, according to `settings`."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: HttpTransport | None = None,
        prices: PriceTable | None = None,
        request_credentials: RequestCredentials = RequestCredentials.TRUST,
        hooks: Sequence[RequestHook] = (),
    ) -> None:
        self.settings = settings
        self.transport = transport or HttpTransport()
        self.prices = prices or load_price_table()
        self.request_credentials = request_credentials
        self.hooks: tuple[RequestHook, ...] = tuple(hooks)
        # Only hooks that look at images one by one are asked (output guardrails).
        self._image_checks = tuple(
            hook for hook in self.hooks if type(hook).check_image is not RequestHook.check_image
        )
        for hook in self.hooks:
            hook.bind(self)
        self._warned_unpriced: set[str] = set()

    async def start(self) -> None:
        """Start the hooks (background writers, pools); call once before serving."""
        for hook in self.hooks:
            await hook.start()

    async def aclose(self) -> None:
        for hook in reversed(self.hooks):
            try:
                await hook.aclose()
            except Exception:
                log.exception("hook %s failed to close", hook.name)
        await self.transport.aclose()

    def new_state(
        self,
        request: ImageRequest,
        *,
        started: float | None = None,
        door: str = "sdk",
        credentials: str | None = None,
    ) -> RequestState:
        """The state of a new request; `credentials` is the caller's bearer token, if any."""
        request_id = request.request_id or uuid.uuid4().hex
        return RequestState(
            request=request,
            request_id=request_id,
            started=time.monotonic() if started is None else started,
            facts=CallFacts(request_id=request_id),
            door=door,
            credentials=credentials,
        )

    async def generate(
        self,
        request: ImageRequest,
        *,
        deadline: Deadline | None = None,
        state: RequestState | None = None,
    ) -> Generation:
        """Generate the images `request` asks for.

        `deadline` is the caller's (a gRPC deadline); without one, the request's
        `timeout`, then the deployment's, then the global request_timeout apply.
        Raises ImageGenError with `.facts` filled, so failures report where they went.
        """
        generation: Generation | None = None
        async for event in self._run(request, deadline=deadline, state=state, partial_images=0):
            if isinstance(event, Generation):
                generation = event
        assert generation is not None  # _run ends with a Generation or raises
        return generation

    async def stream(
        self,
        request: ImageRequest,
        *,
        deadline: Deadline | None = None,
        state: RequestState | None = None,
        partial_images: int = 0,
        keepalive_seconds: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Events as the generation goes: Accepted, then PreviewEvent / ImageReady as they
        happen (Progress when nothing happened for `keepalive_seconds`), then the
        Generation. Closing the iterator early aborts every provider call."""
        state = state or self.new_state(request)
        state.streaming = True
        events = self._run(request, deadline=deadline, state=state, partial_images=partial_images)
        if keepalive_seconds is None:
            async for event in events:
                yield event
            return
        async for event in with_keepalive(events, keepalive_seconds):
            yield event

    async def _run(
        self,
        request: ImageRequest,
        *,
        deadline: Deadline | None,
        state: RequestState | None,
        partial_images: int,
    ) -> AsyncGenerator[StreamEvent, None]:
        state = state or self.new_state(request)
        facts = state.facts
        called_provider = False
        priced = False
        ended: ImageGenError | None = None
        try:
            for hook in self.hooks:
                await hook.on_request(state)
            # A hook may have rewritten the request (a masked prompt).
            request = state.request
            deployment, provider, spec, call = self._prepare(
                request, state, deadline, partial_images
            )
            yield Accepted(facts=facts, model=deployment.model_name, n=call.params.n)
            called_provider = True
            began = time.monotonic()
            result: ProviderResult | None = None
            delivered = 0
            try:
                async for event in self._provider_events(provider, call, state, deployment):
                    if isinstance(event, ProviderResult):
                        result = event
                    elif isinstance(event, ImageReady) and self._image_checks:
                        if await self._image_passes(state, event):
                            # Withheld images leave no gap: indexes stay 0..delivered-1.
                            yield ImageReady(index=delivered, image=event.image)
                            delivered += 1
                    else:
                        yield event
            finally:
                state.provider_seconds += time.monotonic() - began
            assert result is not None  # the provider events end with the result
            # Priced before any hook withholds an image: the provider billed for all of them.
            facts.response_cost = compute_cost(self._price(deployment, spec), result)
            priced = True
            for hook in self.hooks:
                result = await hook.after_call(state, result)
            facts.filtered = result.filtered
            if facts.response_cost is None and deployment.model_id not in self._warned_unpriced:
                self._warned_unpriced.add(deployment.model_id)
                log.warning(
                    "cost of %s/%s is unknown (no price for the model, or no usage in its answer)",
                    deployment.provider,
                    deployment.provider_model,
                )
        except FanOutFailed as broken:
            facts.response_cost = self._partial_cost(deployment, spec, broken)
            facts.overhead_ms = state.overhead_ms()
            error = broken.error
            if isinstance(error, ImageGenError):
                error.facts = facts
                ended = error
            else:
                ended = InternalError("internal error")
            await self._finished(state, ended)
            raise error from None
        except ImageGenError as error:
            if not priced:  # else the call succeeded and a hook refused its result
                facts.response_cost = _failure_cost(error, called_provider)
            facts.overhead_ms = state.overhead_ms()
            error.facts = facts
            await self._finished(state, error)
            raise
        except BaseException as exc:
            # A bug, or the caller went away: once the provider was called it may have billed.
            facts.response_cost = None if called_provider else Decimal(0)
            facts.overhead_ms = state.overhead_ms()
            if isinstance(exc, GeneratorExit | asyncio.CancelledError):
                ended = CancelledError("the caller cancelled the request")
            else:
                ended = InternalError("internal error")
            await self._finished(state, ended)
            raise
        facts.overhead_ms = state.overhead_ms()
        await self._finished(state, None)
        yield Generation(result=result, state=state)

    async def _image_passes(self, state: RequestState, ready: ImageReady) -> bool:
        for hook in self._image_checks:
            if not await hook.check_image(state, ready.image):
                return False
        return True

    async def _finished(self, state: RequestState, error: ImageGenError | None) -> None:
        for hook in self.hooks:
            try:
                await hook.finished(state, error)
            except Exception:
                # Reporting must never turn a served request into a failed one.
                log.exception(
                    "hook %s failed at the end of request %s", hook.name, state.request_id
                )

    def _prepare(
        self,
        request: ImageRequest,
        state: RequestState,
        deadline: Deadline | None,
        partial_images: int,
    ) -> tuple[Deployment, Provider, ModelSpec, ProviderCall]:
        """Resolve the deployment and check the request against the model's rules."""
        facts = state.facts
        deployment = self._resolve(request)
        facts.model_id = deployment.model_id
        facts.provider = deployment.provider
        facts.provider_model = deployment.provider_model
        provider = get_provider(deployment.provider)
        endpoint = self._endpoint(
            deployment, request, state.request_credentials or self.request_credentials
        )
        facts.api_base = provider.api_base(endpoint)
        spec = provider.spec_for(deployment.base_model or deployment.provider_model)
        params = self._params(spec, deployment, request)
        if partial_images:
            params = self._with_partials(spec, provider, params, partial_images, request)
        state.dropped_params = params.dropped
        provider.check_endpoint(endpoint, deployment.provider_model)
        if deadline is None:
            timeout = request.timeout or deployment.timeout or self.settings.request_timeout
            deadline = Deadline.after(timeout)
        if params.size_coerced_from is not None:
            facts.size_requested = params.size_coerced_from
            facts.size_actual = params.aspect_ratio or params.size
        call = ProviderCall(
            provider_model=deployment.provider_model,
            spec=spec,
            params=params,
            prompt=request.prompt,
            endpoint=endpoint,
            deadline=deadline,
        )
        return deployment, provider, spec, call

    def _with_partials(
        self,
        spec: ModelSpec,
        provider: Provider,
        params: CallParams,
        partial_images: int,
        request: ImageRequest,
    ) -> CallParams:
        if not 0 <= partial_images <= MAX_PARTIAL_IMAGES:
            raise InvalidRequestError(
                f"partial_images must be between 0 and {MAX_PARTIAL_IMAGES}",
                field_violations=[FieldViolation("partial_images", "out of range")],
                metadata={"field": "partial_images"},
            )
        if spec.streams_partials and isinstance(provider, StreamingProvider):
            return replace(params, partial_images=partial_images)
        if request.drop_params:
            return replace(params, dropped=(*params.dropped, "partial_images"))
        raise UnsupportedParameterError(
            f"partial_images is not supported by {spec.family} (it streams no previews)",
            field_violations=[FieldViolation("partial_images", f"not supported by {spec.family}")],
            metadata={"field": "partial_images", "model": spec.family},
        )

    async def _provider_events(
        self,
        provider: Provider,
        call: ProviderCall,
        state: RequestState,
        deployment: Deployment,
    ) -> AsyncIterator[PreviewEvent | ImageReady | ProviderResult]:
        """The provider calls for `call`: previews and images as they come, then the result."""
        if call.params.partial_images and isinstance(provider, StreamingProvider):
            attempt = self._attempt_started(state, deployment, call)
            try:
                async for event in provider.stream_events(call, self.transport):
                    if isinstance(event, PreviewEvent):
                        yield event
                    elif isinstance(event, ImageEvent):
                        yield ImageReady(index=event.index, image=event.image)
                    else:
                        self._attempt_finished(state, attempt, None, event.result)
                        yield event.result
            except BaseException as exc:
                # Closing the stream after the result arrived ends nothing: the attempt is over.
                if attempt.duration_ms is None:
                    self._attempt_finished(state, attempt, exc)
                raise
            return

        async def generate(sub: ProviderCall) -> ProviderResult:
            attempt = self._attempt_started(state, deployment, sub)
            try:
                result = await provider.generate(sub, self.transport)
            except BaseException as exc:
                self._attempt_finished(state, attempt, exc)
                raise
            self._attempt_finished(state, attempt, None, result)
            return result

        per_call = call.spec.max_images_per_call
        if per_call is None or call.params.n <= per_call:
            result = await generate(call)
            for index, image in enumerate(result.images):
                yield ImageReady(index=index, image=image)
            yield result
            return
        async for outcome in fan_out(generate, call, per_call):
            yield outcome

    def _attempt_started(
        self, state: RequestState, deployment: Deployment, call: ProviderCall
    ) -> Attempt:
        facts = state.facts
        facts.attempts += 1
        attempt = Attempt(
            number=facts.attempts,
            model_name=deployment.model_name,
            model_id=deployment.model_id,
            provider=deployment.provider,
            api_base=facts.api_base,
            images=call.params.n,
            started_at=time.time(),
            started=time.monotonic(),
        )
        facts.attempt_log.append(attempt)
        for hook in self.hooks:
            hook.attempt_started(state, attempt)
        return attempt

    def _attempt_finished(
        self,
        state: RequestState,
        attempt: Attempt,
        error: BaseException | None,
        result: ProviderResult | None = None,
    ) -> None:
        if error is None:
            attempt.finish("ok", cost=None)
            if result is not None:
                attempt.usage = result.usage
                attempt.images_returned = len(result.images)
        elif isinstance(error, ImageGenError):
            attempt.finish(error.reason, _failure_cost(error, True))
        elif isinstance(error, GeneratorExit | asyncio.CancelledError):
            attempt.finish("CANCELLED", cost=None)
        else:
            attempt.finish("INTERNAL", cost=None)
        for hook in self.hooks:
            hook.attempt_finished(state, attempt)

    def describe_models(self) -> list[ModelDescription]:
        """The configured models with their rules and price basis."""
        described = []
        for deployment in self.settings.deployments:
            provider = get_provider(deployment.provider)
            spec = provider.spec_for(deployment.base_model or deployment.provider_model)
            price = self._price(deployment, spec)
            basis = "unknown" if price is None else price.basis
            supported = tuple(sorted(spec.params)) + tuple(
                f"provider_params.{name}" for name in sorted(spec.provider_params or {})
            )
            described.append(ModelDescription(deployment, spec, basis, supported))
        return described

    def _partial_cost(
        self, deployment: Deployment, spec: ModelSpec, broken: FanOutFailed
    ) -> Decimal | None:
        # What the finished sub-calls cost, plus whatever the failed one may have cost.
        error = broken.error
        failed = _failure_cost(error, True) if isinstance(error, ImageGenError) else None
        done = Decimal(0)
        if broken.finished:
            merged = merge_results(broken.finished)
            done_cost = compute_cost(self._price(deployment, spec), merged)
            if done_cost is None:
                return None
            done = done_cost
        return None if failed is None else done + failed

    def _price(self, deployment: Deployment, spec: ModelSpec) -> Price | None:
        # A configured price wins; else the table, by model family (snapshots share a row).
        model = spec.family if spec.known else deployment.provider_model
        return deployment.price or self.prices.lookup(deployment.provider, model)

    def _resolve(self, request: ImageRequest) -> Deployment:
        name = request.model or self.settings.default_model
        if not name:
            raise InvalidRequestError(
                "model is required (no default model is configured)",
                field_violations=[FieldViolation("model", "required")],
                metadata={"field": "model"},
            )
        deployment = self.settings.deployment(name)
        if deployment is not None:
            return deployment
        if self.settings.serve_unlisted_models:
            split = split_model(name)
            if split is not None:
                provider, model = split
                return Deployment(
                    model_name=name,
                    model_id=f"{provider}/{model}",
                    provider=provider,
                    provider_model=model,
                    endpoint=endpoint_from_env(get_provider(provider), Endpoint()),
                )
        served = [d.model_name for d in self.settings.deployments]
        hint = f"; served: {', '.join(served[:20])}" if served else ""
        raise ModelNotFoundError(
            f"no model named {name[:128]!r}{hint}",
            metadata={"model": name[:128]},
        )

    def quote(self, request: ImageRequest) -> Quote:
        """The pre-flight price of `request`, checked as a generation would check it."""
        deployment = self._resolve(request)
        provider = get_provider(deployment.provider)
        spec = provider.spec_for(deployment.base_model or deployment.provider_model)
        params = self._params(spec, deployment, request)
        return quote_for(
            self._price(deployment, spec),
            spec,
            params,
            model_id=deployment.model_id,
            provider=deployment.provider,
            model_name=deployment.model_name,
        )

    def _endpoint(
        self, deployment: Deployment, request: ImageRequest, policy: RequestCredentials
    ) -> Endpoint:
        overrides = {
            "api_key": request.api_key,
            "api_base": request.api_base,
            "api_version": request.api_version,
        }
        given = [name for name, value in overrides.items() if value]
        if not given:
            return deployment.endpoint
        if policy is RequestCredentials.REFUSE:
            raise PermissionDeniedError(
                f"this server does not accept {', '.join(given)} from callers",
                field_violations=[
                    FieldViolation(name, "not accepted by this server") for name in given
                ],
                metadata={"field": ",".join(given)},
            )
        base = deployment.endpoint
        moved = request.api_base is not None and request.api_base != base.api_base
        guarded = moved and policy is RequestCredentials.ACCEPT
        options = base.options
        if guarded:
            # The operator's credentials never go to a host the caller chose: such a call
            # must bring its own key, and the deployment's credential options stay behind.
            if not request.api_key:
                raise PermissionDeniedError(
                    "a caller-chosen api_base needs the caller's own api_key",
                    field_violations=[
                        FieldViolation("api_key", "required with a caller-chosen api_base")
                    ],
                    metadata={"field": "api_key"},
                )
            options = {k: v for k, v in base.options.items() if k not in CREDENTIAL_OPTIONS}
        return Endpoint(
            api_base=request.api_base or base.api_base,
            api_key=request.api_key or base.api_key,
            api_version=request.api_version or base.api_version,
            options=options,
            caller_credentials=bool(request.api_key),
            caller_api_base=guarded,
        )

    def _params(self, spec: ModelSpec, deployment: Deployment, request: ImageRequest) -> CallParams:
        unset = {
            name: value
            for name, value in deployment.request_defaults.items()
            if getattr(request, name) is None
        }
        if unset:
            request = request.model_copy(update=unset)
        if deployment.provider_params:
            merged = {**deployment.provider_params, **request.provider_params}
            request = request.model_copy(update={"provider_params": merged})
        drop = request.drop_params
        if drop is None:
            drop = (
                deployment.drop_params
                if deployment.drop_params is not None
                else self.settings.drop_params
            )
        return check_params(spec, request, drop=drop, coerce_size=bool(deployment.coerce_size))


def _failure_cost(error: ImageGenError, called_provider: bool) -> Decimal | None:
    """What a failed call cost.

    Before the provider was called, or when the request never left (no connection):
    nothing. When the provider answered with an error status it did not generate (and
    does not bill). When the call broke off
    mid-way (timeout, dropped connection, unreadable answer) the provider may have
    generated and billed: unknown.
    """
    if not called_provider or "upstream_status" in error.metadata:
        return Decimal(0)
    if error.metadata.get("request_sent") == "false":
        return Decimal(0)
    return None
