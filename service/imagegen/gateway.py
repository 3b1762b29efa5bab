"""The one orchestration every door (gRPC, HTTP, in-process SDK) goes through.

request → hooks (bounds, access control and budget hold, prompt guardrails) → the
router picks a deployment → apply the model's parameter rules → call the provider
within the deadline (retries, fallbacks, n fan-out: each call an Attempt) → price
each attempt's actual answer → image checks and after-call hooks → `finished`
hooks (spend row, budget settlement, telemetry). The doors only convert to and from
their wire formats; each feature lives in its own package behind `hooks.RequestHook`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import tomllib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from imagegen import memory
from imagegen.cache import ImageCache
from imagegen.config import Settings
from imagegen.deadline import Deadline
from imagegen.deployment import Deployment
from imagegen.errors import (
    ConfigError,
    ContentPolicyViolationError,
    FailedPreconditionError,
    FieldViolation,
    ImageGenError,
    InternalError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    RequestCancelledError,
    UnsupportedParameterError,
    invalid_field,
)
from imagegen.events import (
    Accepted,
    Generation,
    ImageReady,
    RequestState,
    StreamEvent,
    Target,
    routed_facts,
    with_keepalive,
)
from imagegen.events import RequestCredentials as RequestCredentials
from imagegen.hooks import RequestHook
from imagegen.images.operations import EditOperation, EditShape
from imagegen.pricing import Price, PriceTable, compute_cost, load_price_table
from imagegen.pricing.calculator import image_price
from imagegen.pricing.quote import Quote, quote_for
from imagegen.pricing.table import parse_price_table
from imagegen.providers.base import (
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
from imagegen.providers.edit_support import require_operation, spec_for_edit
from imagegen.providers.registry import Providers, endpoint_from_env
from imagegen.providers.transport import HttpTransport
from imagegen.router.admission import AdmissionQueue
from imagegen.router.router import Picked, Plan, RequestRouter, RouteContext, Served
from imagegen.storage import ResultStore, store_from_settings
from imagegen.storage.deliver import UrlDelivery
from imagegen.storage.settings import rehoster_from_settings
from imagegen.types import Attempt, CallFacts, ImageRequest, ProviderResult, ResponseFormat

log = logging.getLogger(__name__)

# OpenAI's limit on previews per image.
MAX_PARTIAL_IMAGES = 3


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
        router: RequestRouter | None = None,
        providers: Providers | None = None,
        results: ResultStore | None = None,
    ) -> None:
        self.settings = settings
        # Where images answered as URLs go (None: only models that return URLs can).
        self.results = results
        if results is None and settings.storage is not None:
            self.results = store_from_settings(settings.storage)
        self.cache = ImageCache(settings.cache) if settings.cache is not None else None
        self.rehost = rehoster_from_settings(settings.storage)
        # This gateway's own adapter instances (their token and credential caches with them).
        self.providers = providers or Providers.discover()
        self.router = router or RequestRouter(
            settings.router, admission=AdmissionQueue(settings.server.max_queued_requests)
        )
        self.transport = transport or HttpTransport()
        # Image data in flight, bounded per process (see imagegen.memory); the doors open
        # one lease per call on it.
        self.memory = memory.MemoryBudget(_budget_bytes(settings))
        self.prices = _with_adapter_prices(prices or load_price_table(), self.providers)
        self.request_credentials = request_credentials
        self.hooks: tuple[RequestHook, ...] = tuple(hooks)
        # Only hooks that look at images one by one are asked (output guardrails).
        self._image_checks = tuple(
            hook for hook in self.hooks if type(hook).check_image is not RequestHook.check_image
        )
        for hook in self.hooks:
            hook.bind(self.quote)
        self._warned_unpriced: set[str] = set()
        self._resolved: dict[tuple[str, str, str, str | None], Resolved] = {}

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
        await self.router.aclose()
        await self.transport.aclose()
        if self.results is not None:
            await self.results.aclose()
        if self.cache is not None:
            await self.cache.aclose()
        if self.rehost is not None:
            await self.rehost.aclose()

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
        ended: ImageGenError | None = None
        try:
            for hook in self.hooks:
                await hook.on_request(state)
            # A hook may have rewritten the request (a masked prompt).
            request = state.request
            model = self._model_name(request)
            if not 0 <= partial_images <= MAX_PARTIAL_IMAGES:
                raise InvalidRequestError(
                    f"partial_images must be between 0 and {MAX_PARTIAL_IMAGES}",
                    field_violations=[FieldViolation("partial_images", "out of range")],
                    metadata={"field": "partial_images"},
                )
            self._check_fallbacks(request)
            if deadline is None:
                deadline = Deadline.after(request.timeout or self._group_timeout(model))
            await _hold_inputs(state, request, deadline)
            ctx = RouteContext(request=request, model=model, state=state, deadline=deadline)
            route = _GatewayRoute(self, ctx, partial_images)
            delivery = self._delivery(request)
            served: Served | None = None
            accepted = False
            delivered = 0
            began = time.monotonic()
            try:
                routed = (
                    self.router.run(route, ctx)
                    if self.cache is None
                    else self.cache.run(self.router, route, ctx)
                )
                async for event in routed:
                    if isinstance(event, Picked):
                        first = not accepted
                        accepted = True
                        state.target = _call_of(event.plan).target
                        if first:
                            yield Accepted(
                                facts=state.facts_so_far(), model=model, n=event.plan.images
                            )
                    elif isinstance(event, Served):
                        served = event
                    elif isinstance(event, ImageReady) and self._image_checks:
                        if await self._image_passes(state, event):
                            # Withheld images leave no gap: indexes stay 0..delivered-1.
                            image = event.image
                            if delivery is not None and state.streaming:
                                image = await delivery.image(image)
                            yield ImageReady(index=delivered, image=image)
                            delivered += 1
                    elif isinstance(event, ImageReady) and delivery and state.streaming:
                        yield ImageReady(index=event.index, image=await delivery.image(event.image))
                    else:
                        yield event
            finally:
                state.provider_seconds += time.monotonic() - began
            assert served is not None  # the router ends with Served or raises
            state.target = _call_of(served.plan).target
            result = served.result
            for hook in self.hooks:
                result = await hook.after_call(state, result)
            stored = (0, 0)
            if delivery is not None:
                result = replace(result, images=await delivery.images_of(result.images))
                stored = (delivery.images, delivery.bytes)
            serving_group = served.plan.deployment.model_name
            facts = _settle(
                state,
                # Sub-calls refused for safety became filtered images, as before the router.
                _attempts_cost(state.attempts, skip_refused=True),
                result=result,
                stored=stored,
                fallback_model=serving_group if serving_group != model else "",
            )
            if facts.response_cost is None and facts.model_id not in self._warned_unpriced:
                self._warned_unpriced.add(facts.model_id)
                log.warning(
                    "cost of %s/%s is unknown (no price for the model, or no usage in its answer)",
                    facts.provider,
                    facts.provider_model,
                )
        except ImageGenError as error:
            # Every attempt's own cost: what the provider billed before the failure.
            error.facts = _settle(state, _attempts_cost(state.attempts))
            await self._finished(state, error)
            raise
        except BaseException as exc:
            # A bug, or the caller went away: once the provider was called it may have billed.
            _settle(state, None if state.attempts else Decimal(0))
            if isinstance(exc, GeneratorExit | asyncio.CancelledError):
                ended = RequestCancelledError("the caller cancelled the request")
            else:
                ended = InternalError("internal error")
            await self._finished(state, ended)
            raise
        await self._finished(state, None)
        yield Generation(result=result, state=state)

    def _delivery(self, request: ImageRequest) -> UrlDelivery | None:
        """How images reach a caller who asked for URLs: through the result store."""
        store = self.results
        if store is None or not store.ready:
            return None
        wants_url = request.response_format is ResponseFormat.URL
        if wants_url or self.rehost is not None:
            return UrlDelivery(store, store_bytes=wants_url, rehost=self.rehost)
        return None

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

    def _model_name(self, request: ImageRequest) -> str:
        name = request.model or self.settings.default_model
        if not name:
            raise InvalidRequestError(
                "model is required (no default model is configured)",
                field_violations=[FieldViolation("model", "required")],
                metadata={"field": "model"},
            )
        # An alias (router_settings.model_group_alias) is its group from here on, as in
        # LiteLLM: the group's fallbacks, spend and facts name the group.
        return self.settings.served_name(name)

    def _group_timeout(self, model: str) -> float:
        # A group's deployments each bound their own attempts (see _GatewayRoute.prepare);
        # the request as a whole gets the longest of them, or the global timeout.
        timeouts = [d.timeout for d in self.settings.group(model) if d.timeout is not None]
        if timeouts and len(timeouts) == len(self.settings.group(model)):
            return max(timeouts)
        return self.settings.request_timeout

    def _check_fallbacks(self, request: ImageRequest) -> None:
        for name in request.fallbacks or ():
            try:
                self.resolve_group(name)
            except ModelNotFoundError:
                raise invalid_field(
                    "fallbacks", f"fallback model {name[:128]!r} is not served here"
                ) from None

    def _prepare(
        self,
        deployment: Deployment,
        request: ImageRequest,
        deadline: Deadline,
        partial_images: int,
        state: RequestState | None = None,
        policy: RequestCredentials | None = None,
    ) -> _Call:
        """Check the request against `deployment`'s model rules; the call to make."""
        resolved = self.resolve(deployment)
        provider, spec = resolved.provider, resolved.spec
        # Until a call is made, the request's target is the deployment being prepared, so
        # that a request refused by its rules still reports where it would have gone.
        before_first_call = state is not None and not state.attempts
        target = Target(
            model_name=deployment.model_name,
            model_id=deployment.model_id,
            provider=deployment.provider,
            provider_model=deployment.provider_model,
            api_base="",
        )
        if state is not None and before_first_call:
            state.target = target
        endpoint = self._endpoint(deployment, request, policy or self.request_credentials)
        target = replace(target, api_base=provider.api_base(endpoint))
        if state is not None and before_first_call:
            state.target = target
        if request.edit is not None:
            spec = spec_for_edit(spec, request.edit, deployment.model_name)
        params = self._params(spec, deployment, request)
        if partial_images:
            params = self._with_partials(spec, provider, params, partial_images, request)
        provider.check_endpoint(endpoint, deployment.provider_model)
        if deployment.timeout is not None and request.timeout is None:
            # The deployment's timeout bounds each attempt on it; a retry may go elsewhere.
            deadline = Deadline(min(deadline.expires_at, time.monotonic() + deployment.timeout))
        call = ProviderCall(
            provider_model=deployment.provider_model,
            spec=spec,
            params=params,
            prompt=request.prompt,
            endpoint=endpoint,
            deadline=deadline,
            edit=request.edit,
        )
        if params.size_coerced_from is not None:
            target = replace(
                target,
                size_requested=params.size_coerced_from,
                size_actual=params.aspect_ratio or params.size,
            )
        target = replace(target, dropped_params=params.dropped)
        price = self.price_of(deployment, request)
        return _Call(provider=provider, spec=spec, call=call, price=price, target=target)

    def _with_partials(
        self,
        spec: ModelSpec,
        provider: Provider,
        params: CallParams,
        partial_images: int,
        request: ImageRequest,
    ) -> CallParams:
        if spec.streams_partials and isinstance(provider, StreamingProvider):
            return replace(params, partial_images=partial_images)
        if request.drop_params:
            return replace(params, dropped=(*params.dropped, "partial_images"))
        raise UnsupportedParameterError(
            f"partial_images is not supported by {spec.family} (it streams no previews)",
            field_violations=[FieldViolation("partial_images", f"not supported by {spec.family}")],
            metadata={"field": "partial_images", "model": spec.family},
        )

    async def _provider_call(
        self, state: RequestState, deployment: Deployment, call: _Call
    ) -> AsyncIterator[PreviewEvent | ImageReady | ProviderResult]:
        """The one provider call of an attempt, recorded as an Attempt: previews and images
        as they come (a streaming call) or at once, then the result, priced."""
        provider = call.provider
        attempt = self._attempt_started(state, deployment, call)
        try:
            edit = call.call.edit is not None
            if call.call.params.partial_images and isinstance(provider, StreamingProvider):
                async for event in provider.stream_events(call.call, self.transport):
                    if isinstance(event, PreviewEvent):
                        yield event
                    elif isinstance(event, ImageEvent):
                        yield ImageReady(index=event.index, image=event.image)
                    else:
                        cost = compute_cost(call.price, event.result, edit=edit)
                        self._attempt_finished(state, attempt, None, cost, event.result)
                        yield event.result
                return
            result = await provider.generate(call.call, self.transport)
            # Finished before the images go up: the attempt's time is the provider's alone.
            cost = compute_cost(call.price, result, edit=edit)
            self._attempt_finished(state, attempt, None, cost, result)
            for index, image in enumerate(result.images):
                yield ImageReady(index=index, image=image)
            yield result
        except BaseException as exc:
            if not attempt.outcome:
                self._attempt_finished(state, attempt, exc)
            raise

    def _attempt_started(self, state: RequestState, deployment: Deployment, call: _Call) -> Attempt:
        attempt = Attempt(
            number=len(state.attempts) + 1,
            model_name=deployment.model_name,
            model_id=deployment.model_id,
            provider=deployment.provider,
            api_base=call.target.api_base,
            images=call.call.params.n,
            started_at=time.time(),
            started=time.monotonic(),
            provider_model=deployment.provider_model,
        )
        state.attempts.append(attempt)
        for hook in self.hooks:
            hook.attempt_started(state, attempt)
        return attempt

    def _attempt_finished(
        self,
        state: RequestState,
        attempt: Attempt,
        error: BaseException | None,
        cost: Decimal | None = None,
        result: ProviderResult | None = None,
    ) -> None:
        if error is None:
            attempt.finish("ok", cost=cost)
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
        # One entry per model name: a group's deployments serve the same model.
        for name in self.settings.model_names():
            deployment = self.settings.group(name)[0]
            if deployment.model_name != name:  # an alias is listed under its own name
                deployment = replace(deployment, model_name=name)
            resolved = self.resolve(deployment)
            spec, price = resolved.spec, resolved.price
            basis = "unknown" if price is None else price.basis
            supported = tuple(sorted(spec.params)) + tuple(
                f"provider_params.{name}" for name in sorted(spec.provider_params or {})
            )
            described.append(ModelDescription(deployment, spec, basis, supported))
        return described

    def resolve(self, deployment: Deployment) -> Resolved:
        """`deployment`'s adapter, model rules and price, looked up once and then reused by
        every step of every request (routing costs, quotes, each attempt, its cost)."""
        key = (
            deployment.model_id,
            deployment.provider,
            deployment.provider_model,
            deployment.base_model,
        )
        hit = self._resolved.get(key)
        if hit is not None and hit.configured_price is deployment.price:
            return hit
        provider = self.providers.adapter(deployment.provider)
        spec = provider.spec_for(deployment.base_model or deployment.provider_model)
        resolved = Resolved(provider, spec, self._price(deployment, spec), deployment.price)
        # Bounded: an SDK caller may name any number of unlisted "provider/model" strings.
        if len(self._resolved) < _MAX_RESOLVED:
            self._resolved[key] = resolved
        return resolved

    def _price(
        self, deployment: Deployment, spec: ModelSpec, operation: EditOperation | None = None
    ) -> Price | None:
        # A configured price wins; else the table, by model family (snapshots share a row),
        # and for an edit by its operation (pricing/table.py says which row applies).
        model = spec.family if spec.known else deployment.provider_model
        return deployment.price or self.prices.lookup(
            deployment.provider, model, None if operation is None else operation.value
        )

    def price_of(
        self, deployment: Deployment, request: ImageRequest, edit: EditShape | None = None
    ) -> Price | None:
        """The price row `request` is billed by on `deployment`: the model's, or for an
        edit its operation's."""
        resolved = self.resolve(deployment)
        if edit is None and request.edit is not None:
            edit = request.edit.shape
        if edit is None:
            return resolved.price
        return self._price(deployment, resolved.spec, edit.operation)

    def resolve_group(self, name: str) -> tuple[Deployment, ...]:
        """The deployments serving `name` (raises ModelNotFoundError)."""
        group = self.settings.group(name)
        if group:
            return group
        if self.settings.serve_unlisted_models:
            split = self.providers.split_model(name)
            if split is not None:
                provider, model = split
                return (
                    Deployment(
                        model_name=name,
                        model_id=f"{provider}/{model}",
                        provider=provider,
                        provider_model=model,
                        endpoint=endpoint_from_env(self.providers.adapter(provider), Endpoint()),
                    ),
                )
        served = self.settings.model_names()
        hint = f"; served: {', '.join(served[:20])}" if served else ""
        raise ModelNotFoundError(
            f"no model named {name[:128]!r}{hint}",
            metadata={"model": name[:128]},
        )

    def cost_per_image(self, deployment: Deployment, request: ImageRequest) -> Decimal | None:
        """The price of one image of the request's quality and size on `deployment`, if known."""
        resolved = self.resolve(deployment)
        spec, price = resolved.spec, resolved.price
        if price is None or price.basis == "per_token":
            return None
        if price.basis == "free":
            return Decimal(0)
        quality = request.quality or spec.default_quality
        return image_price(price, quality, request.size or spec.default_size)

    def quote(self, request: ImageRequest, edit: EditShape | None = None) -> Quote:
        """The pre-flight price of `request`, checked as a generation (or, for an edit, as
        EditImages) would check it. `edit` describes an edit whose inputs are not at hand
        (EstimateCost); an edit request's own inputs are used otherwise.

        For a group of several deployments, the dearest one's: a budget hold must cover
        whichever deployment the router picks. Unknown if any deployment's price is.
        """
        if edit is None and request.edit is not None:
            edit = request.edit.shape
        name = self._model_name(request)
        group = self.resolve_group(name)
        if edit is not None:
            # As EditImages refuses it: the operation (or the input count) the model as named
            # does not take is the caller's field, not a precondition of some deployment.
            capability = require_operation(self.resolve(group[0]).spec, edit.operation, name)
            if edit.images > capability.limits.max_images:
                raise invalid_field(
                    "input_images",
                    f"model {name!r} takes at most {capability.limits.max_images} input images",
                )
        quotes = []
        unfit: FailedPreconditionError | None = None
        for deployment in group:
            resolved = self.resolve(deployment)
            spec = resolved.spec
            if edit is not None:
                # An edit is checked as EditImages checks it on this deployment. One whose
                # model cannot take it (the operation, the input count) is never picked by
                # the router, so its price does not enter the quote either.
                try:
                    spec = spec_for_edit(spec, edit, deployment.model_name)
                except FailedPreconditionError as error:
                    unfit = unfit or error
                    continue
            params = self._params(spec, deployment, request)
            quotes.append(
                quote_for(
                    self.price_of(deployment, request, edit),
                    spec,
                    params,
                    model_id=deployment.model_id,
                    provider=deployment.provider,
                    model_name=deployment.model_name,
                    operation=None if edit is None else edit.operation.value,
                )
            )
        if not quotes:
            assert unfit is not None
            raise unfit
        unknown = [q for q in quotes if q.cost is None]
        if unknown:
            return unknown[0]
        return max(quotes, key=lambda q: q.cost or Decimal(0))

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
            options = {
                k: v for k, v in base.options.items() if k not in self.providers.credential_options
            }
        return Endpoint(
            api_base=request.api_base or base.api_base,
            api_key=request.api_key or base.api_key,
            api_version=request.api_version or base.api_version,
            options=options,
            caller_credentials=bool(request.api_key),
            caller_api_base=guarded,
        )

    def _params(self, spec: ModelSpec, deployment: Deployment, request: ImageRequest) -> CallParams:
        if (
            request.response_format is ResponseFormat.URL
            and self.results is not None
            and self.results.ready
            and ResponseFormat.URL not in spec.response_formats
        ):
            # The model returns bytes; the result store turns them into the URL asked for.
            request = request.model_copy(update={"response_format": None})
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


def _with_adapter_prices(table: PriceTable, providers: Providers) -> PriceTable:
    """`table` plus the rows adapters bring for their own models (a plug-in's prices)."""
    rows = dict(table.rows)
    operation_rows = dict(table.operation_rows)
    for adapter in providers.values():
        if not adapter.price_rows:
            continue
        origin = f"the {adapter.name} adapter's price_rows"
        try:
            adapter_table = parse_price_table(adapter.price_rows, origin)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{origin}: not valid TOML ({exc})") from None
        for (provider, model), price in adapter_table.rows.items():
            if provider != adapter.name:
                raise ConfigError(f"{origin}: prices {provider}/{model}, not its own model")
            if (provider, model) in rows:
                raise ConfigError(f"{origin}: {provider}/{model} is priced twice")
            rows[(provider, model)] = price
        for (provider, model, operation), price in adapter_table.operation_rows.items():
            if provider != adapter.name:
                raise ConfigError(f"{origin}: prices {provider}/{model}, not its own model")
            if (provider, model, operation) in operation_rows:
                raise ConfigError(f"{origin}: {operation} on {provider}/{model} is priced twice")
            operation_rows[(provider, model, operation)] = price
    return PriceTable(rows, operation_rows)


def _budget_bytes(settings: Settings) -> int | None:
    megabytes = settings.server.memory_budget_mb
    return None if megabytes is None else megabytes * memory.MIB


async def _hold_inputs(state: RequestState, request: ImageRequest, deadline: Deadline) -> None:
    """Rank the call's memory lease by its key, and count an edit's input images (held
    from the request's arrival, and once more in the provider request built from them)."""
    lease = memory.current()
    if lease is None:
        return
    if state.caller is not None:
        lease.priority = state.caller.priority
    if request.edit is not None:
        await lease.take(2 * request.edit.inputs.total_bytes, deadline)


def _failure_cost(error: ImageGenError, called_provider: bool) -> Decimal | None:
    """What a failed call cost.

    Before the provider was called, or when the request never left (no connection):
    nothing. When the provider answered with an error status it did not generate (and
    does not bill). When the call broke off
    mid-way (timeout, dropped connection, unreadable answer) the provider may have
    generated and billed: unknown.
    """
    if not called_provider or error.upstream_status is not None:
        return Decimal(0)
    if error.request_sent is False:
        return Decimal(0)
    return None


def _attempts_cost(attempts: Sequence[Attempt], *, skip_refused: bool = False) -> Decimal | None:
    """What the request cost: the sum of its attempts' costs (None if any is unknown)."""
    total = Decimal(0)
    for attempt in attempts:
        if skip_refused and attempt.outcome == ContentPolicyViolationError.reason:
            continue
        if attempt.cost is None:
            return None
        total += attempt.cost
    return total


def _settle(
    state: RequestState,
    cost: Decimal | None,
    *,
    result: ProviderResult | None = None,
    stored: tuple[int, int] = (0, 0),
    fallback_model: str = "",
) -> CallFacts:
    """The request's facts, derived once at its end from what each layer recorded (the
    target, the attempt log, the cache's and guardrails' outcomes) and the result."""
    facts = replace(
        routed_facts(state.request_id, state.target, state.attempts),
        response_cost=cost,
        overhead_ms=state.overhead_ms(),
        filtered=result.filtered if result is not None else 0,
        failed=result.failed if result is not None else 0,
        withheld=list(state.withheld),
        fallback_model=fallback_model,
        cache=state.cache,
        cache_saved=state.cache_saved,
        stored_images=stored[0],
        stored_bytes=stored[1],
    )
    state.facts = facts
    return facts


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a deployment resolves to: its adapter, its model's rules and its price."""

    provider: Provider
    spec: ModelSpec
    price: Price | None
    configured_price: Price | None
    """The deployment's own price (model_info), which `price` is when set."""


# Deployments a gateway keeps resolved at most (configured ones plus unlisted SDK models).
_MAX_RESOLVED = 4096


@dataclass(frozen=True, slots=True)
class _Call:
    """A provider call prepared for one deployment (the router's Plan payload)."""

    provider: Provider
    spec: ModelSpec
    call: ProviderCall
    price: Price | None
    target: Target
    """Where this call goes, as the caller is told."""


def _call_of(plan: Plan) -> _Call:
    call: _Call = plan.payload
    return call


class _GatewayRoute:
    """The gateway's side of one request's routing (see imagegen.router.router.Route)."""

    def __init__(self, gateway: Gateway, ctx: RouteContext, partial_images: int) -> None:
        self.gateway = gateway
        self.ctx = ctx
        self.partial_images = partial_images

    def resolve(self, model_name: str) -> tuple[Deployment, ...]:
        return self.gateway.resolve_group(model_name)

    def cost_per_image(self, deployment: Deployment) -> Decimal | None:
        return self.gateway.cost_per_image(deployment, self.ctx.request)

    def prepare(self, deployment: Deployment, n: int | None, deadline: Deadline) -> Plan:
        request = self.ctx.request
        if n is not None:
            request = request.model_copy(update={"n": n})
        call = self.gateway._prepare(
            deployment,
            request,
            deadline,
            self.partial_images if n is None else 0,
            self.ctx.state,
            self.ctx.state.request_credentials,
        )
        params = call.call.params
        per_call = call.spec.max_images_per_call
        streams = bool(params.partial_images) and isinstance(call.provider, StreamingProvider)
        splits = per_call is not None and params.n > per_call and not streams
        if n is not None and splits:
            raise invalid_field("n", f"{deployment.model_id} makes at most {per_call} per call")
        return Plan(
            deployment=deployment,
            payload=call,
            images=params.n,
            fan_out=splits,
            call=call.call,
            per_call=per_call,
        )

    async def execute(
        self, plan: Plan
    ) -> AsyncIterator[PreviewEvent | ImageReady | ProviderResult]:
        """One provider call (the router splits fan-out plans into sub-calls first)."""
        call: _Call = plan.payload
        async for event in self.gateway._provider_call(self.ctx.state, plan.deployment, call):
            yield event
