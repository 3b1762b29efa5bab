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
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum

from imagegen.config import Deployment, Settings
from imagegen.deadline import Deadline
from imagegen.errors import (
    ContentPolicyViolationError,
    FieldViolation,
    ImageGenError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
)
from imagegen.pricing import Price, PriceTable, compute_cost, load_price_table
from imagegen.providers.base import (
    CallParams,
    Endpoint,
    ModelSpec,
    Provider,
    ProviderCall,
    check_params,
)
from imagegen.providers.registry import endpoint_from_env, get_provider, split_model
from imagegen.providers.transport import HttpTransport
from imagegen.types import CallFacts, ImageRequest, ProviderResult, merge_usage

log = logging.getLogger(__name__)


class RequestCredentials(Enum):
    """What the gateway does with api_key / api_base / api_version sent in a request."""

    REFUSE = "refuse"
    """PERMISSION_DENIED: a server whose callers may not pick hosts or keys (the default)."""
    ACCEPT = "accept"
    """Use them, but never send the configured key to a base URL the caller chose."""
    TRUST = "trust"
    """The caller is the program itself (in-process SDK): LiteLLM's behaviour."""


@dataclass(slots=True)
class RequestState:
    """Per-request state, carried through the layers in one place."""

    request: ImageRequest
    request_id: str
    started: float
    facts: CallFacts
    provider_seconds: float = 0.0
    dropped_params: tuple[str, ...] = ()

    def overhead_ms(self) -> float:
        """Time spent in the gateway so far, excluding provider calls."""
        return max(0.0, (time.monotonic() - self.started - self.provider_seconds) * 1000)


@dataclass(slots=True)
class Generation:
    """A finished generation."""

    result: ProviderResult
    state: RequestState

    @property
    def facts(self) -> CallFacts:
        return self.state.facts


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
    ) -> None:
        self.settings = settings
        self.transport = transport or HttpTransport()
        self.prices = prices or load_price_table()
        self.request_credentials = request_credentials
        self._warned_unpriced: set[str] = set()

    async def aclose(self) -> None:
        await self.transport.aclose()

    def new_state(self, request: ImageRequest, *, started: float | None = None) -> RequestState:
        request_id = request.request_id or uuid.uuid4().hex
        return RequestState(
            request=request,
            request_id=request_id,
            started=time.monotonic() if started is None else started,
            facts=CallFacts(request_id=request_id),
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
        state = state or self.new_state(request)
        facts = state.facts
        called_provider = False
        try:
            deployment = self._resolve(request)
            facts.model_id = deployment.model_id
            facts.provider = deployment.provider
            facts.provider_model = deployment.provider_model
            provider = get_provider(deployment.provider)
            endpoint = self._endpoint(deployment, request)
            facts.api_base = provider.api_base(endpoint)
            spec = provider.spec_for(deployment.base_model or deployment.provider_model)
            params = self._params(spec, deployment, request)
            state.dropped_params = params.dropped
            provider.check_endpoint(endpoint, deployment.provider_model)
            if deadline is None:
                timeout = request.timeout or deployment.timeout or self.settings.request_timeout
                deadline = Deadline.after(timeout)
            call = ProviderCall(
                provider_model=deployment.provider_model,
                spec=spec,
                params=params,
                prompt=request.prompt,
                endpoint=endpoint,
                deadline=deadline,
            )
            if params.size_coerced_from is not None:
                facts.size_requested = params.size_coerced_from
                facts.size_actual = params.aspect_ratio or params.size
            called_provider = True
            began = time.monotonic()
            try:
                result = await self._call(provider, call, facts)
            finally:
                state.provider_seconds += time.monotonic() - began
            facts.filtered = result.filtered
            facts.response_cost = compute_cost(self._price(deployment, spec), result)
            if facts.response_cost is None and deployment.model_id not in self._warned_unpriced:
                self._warned_unpriced.add(deployment.model_id)
                log.warning(
                    "cost of %s/%s is unknown (no price for the model, or no usage in its answer)",
                    deployment.provider,
                    deployment.provider_model,
                )
        except _FanOutFailed as broken:
            facts.response_cost = self._partial_cost(deployment, spec, broken)
            facts.overhead_ms = state.overhead_ms()
            error = broken.error
            if isinstance(error, ImageGenError):
                error.facts = facts
            raise error from None
        except ImageGenError as error:
            facts.response_cost = _failure_cost(error, called_provider)
            facts.overhead_ms = state.overhead_ms()
            error.facts = facts
            raise
        except Exception:
            # A bug, not a provider's answer: once the provider was called it may have billed.
            facts.response_cost = None if called_provider else Decimal(0)
            facts.overhead_ms = state.overhead_ms()
            raise
        facts.overhead_ms = state.overhead_ms()
        return Generation(result=result, state=state)

    async def _call(
        self, provider: Provider, call: ProviderCall, facts: CallFacts
    ) -> ProviderResult:
        per_call = call.spec.max_images_per_call
        if per_call is None or call.params.n <= per_call:
            facts.attempts += 1
            return await provider.generate(call, self.transport)
        return await self._fan_out(provider, call, per_call, facts)

    async def _fan_out(
        self, provider: Provider, call: ProviderCall, per_call: int, facts: CallFacts
    ) -> ProviderResult:
        """Serve n with parallel calls when the model makes fewer images per call.

        Every sub-call runs to its end (the ones that succeed are billed whatever the
        others do). Sub-calls refused by a safety filter count as filtered images; any
        other failure fails the call, reporting the cost of what was generated.
        """
        counts = [per_call] * (call.params.n // per_call)
        if call.params.n % per_call:
            counts.append(call.params.n % per_call)
        calls = [replace(call, params=replace(call.params, n=count)) for count in counts]
        facts.attempts += len(calls)
        outcomes = await asyncio.gather(
            *(provider.generate(sub, self.transport) for sub in calls), return_exceptions=True
        )
        results: list[ProviderResult] = []
        filtered = 0
        refusal: ContentPolicyViolationError | None = None
        failure: BaseException | None = None
        for sub, outcome in zip(calls, outcomes, strict=True):
            if isinstance(outcome, ProviderResult):
                results.append(outcome)
                filtered += outcome.filtered
            elif isinstance(outcome, ContentPolicyViolationError):
                filtered += sub.params.n
                refusal = refusal or outcome
            else:
                failure = failure or outcome
        if failure is not None:
            raise _FanOutFailed(failure, results)
        if not results:
            assert refusal is not None  # every sub-call either succeeded or failed
            raise refusal
        first = results[0]
        return ProviderResult(
            images=[image for result in results for image in result.images],
            usage=merge_usage([result.usage for result in results]),
            created=first.created,
            quality=first.quality,
            size=first.size,
            headers=first.headers,
            filtered=filtered,
        )

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
        self, deployment: Deployment, spec: ModelSpec, broken: _FanOutFailed
    ) -> Decimal | None:
        # What the finished sub-calls cost, plus whatever the failed one may have cost.
        error = broken.error
        failed = _failure_cost(error, True) if isinstance(error, ImageGenError) else None
        done = Decimal(0)
        if broken.finished:
            merged = ProviderResult(
                images=[image for result in broken.finished for image in result.images],
                usage=merge_usage([result.usage for result in broken.finished]),
                quality=broken.finished[0].quality,
                size=broken.finished[0].size,
            )
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

    def _endpoint(self, deployment: Deployment, request: ImageRequest) -> Endpoint:
        overrides = {
            "api_key": request.api_key,
            "api_base": request.api_base,
            "api_version": request.api_version,
        }
        given = [name for name, value in overrides.items() if value]
        if not given:
            return deployment.endpoint
        if self.request_credentials is RequestCredentials.REFUSE:
            raise PermissionDeniedError(
                f"this server does not accept {', '.join(given)} from callers",
                field_violations=[
                    FieldViolation(name, "not accepted by this server") for name in given
                ],
                metadata={"field": ",".join(given)},
            )
        base = deployment.endpoint
        api_key = request.api_key or base.api_key
        moved = request.api_base is not None and request.api_base != base.api_base
        if moved and not request.api_key and self.request_credentials is RequestCredentials.ACCEPT:
            # Never lend the operator's key to a host the caller chose.
            api_key = None
        return Endpoint(
            api_base=request.api_base or base.api_base,
            api_key=api_key,
            api_version=request.api_version or base.api_version,
            options=base.options,
            caller_credentials=bool(request.api_key),
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


class _FanOutFailed(Exception):
    """A fan-out sub-call failed; carries what the other sub-calls produced (and cost)."""

    def __init__(self, error: BaseException, finished: list[ProviderResult]) -> None:
        super().__init__("a fan-out sub-call failed")
        self.error = error
        self.finished = finished


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
