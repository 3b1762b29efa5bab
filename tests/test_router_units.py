"""Router pieces as pure functions: strategies, failure classes, backoff, the memory store,
and the in-process `imagegen.Router`."""

from __future__ import annotations

import inspect
import random
from decimal import Decimal

import pytest

import imagegen
from imagegen.deployment import Deployment
from imagegen.errors import (
    CallerCredentialRejectedError,
    ContentPolicyViolationError,
    DeadlineExceededError,
    InvalidRequestError,
    ProviderAuthenticationError,
    ProviderBadResponseError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegen.providers.base import Endpoint
from imagegen.router.retry import Failure, backoff, classify, retries_for
from imagegen.router.settings import RouterSettings
from imagegen.router.state import Limits, Load
from imagegen.router.state_memory import MemoryStore
from imagegen.router.strategies import (
    Candidate,
    by_order,
    cost_based,
    latency_based,
    least_busy,
    load_strategy,
    simple_shuffle,
    usage_based,
)
from tests.fakes.openai import OpenAIFake
from tests.test_sdk import SEED_PARAMETERS


def candidate(
    model_id: str,
    *,
    weight: float = 1.0,
    in_flight: int = 0,
    requests: int = 0,
    rpm: int | None = None,
    latency: float | None = None,
    cost: str | None = None,
    order: int | None = None,
) -> Candidate:
    deployment = Deployment(
        model_name="g",
        model_id=model_id,
        provider="local",
        provider_model="placeholder",
        endpoint=Endpoint(),
        weight=weight,
        rpm=rpm,
        order=order,
    )
    return Candidate(
        deployment,
        Load(in_flight=in_flight, requests=requests),
        latency,
        None if cost is None else Decimal(cost),
    )


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.deployment.model_id for c in candidates]


def test_simple_shuffle_follows_the_weights() -> None:
    rng = random.Random(7)
    group = [candidate("heavy", weight=3), candidate("light", weight=1)]
    firsts = [ids(simple_shuffle(group, rng))[0] for _ in range(4000)]
    share = firsts.count("heavy") / len(firsts)
    assert 0.70 < share < 0.80  # 3:1 → 75 %


def test_least_busy_latency_usage_and_cost_orders() -> None:
    rng = random.Random(1)
    busy = [candidate("a", in_flight=3), candidate("b", in_flight=0), candidate("c", in_flight=1)]
    assert ids(least_busy(busy, rng)) == ["b", "c", "a"]
    timed = [candidate("slow", latency=9.0), candidate("fast", latency=1.0), candidate("new")]
    assert ids(latency_based(timed, rng)) == ["new", "fast", "slow"]
    used = [candidate("half", requests=5, rpm=10), candidate("tenth", requests=1, rpm=10)]
    assert ids(usage_based(used, rng)) == ["tenth", "half"]
    priced = [candidate("dear", cost="0.2"), candidate("unknown"), candidate("cheap", cost="0.01")]
    assert ids(cost_based(priced, rng)) == ["cheap", "dear", "unknown"]


def test_order_tiers() -> None:
    tiers = by_order([candidate("x"), candidate("p", order=1), candidate("q", order=2)])
    assert [ids(tier) for tier in tiers] == [["p"], ["q"], ["x"]]


def reverse_strategy(candidates: list[Candidate], rng: random.Random) -> list[Candidate]:
    return list(reversed(candidates))


def test_a_custom_strategy_loads_by_import_path() -> None:
    strategy = load_strategy("tests.test_router_units:reverse_strategy")
    assert ids(strategy([candidate("a"), candidate("b")], random.Random())) == ["b", "a"]
    with pytest.raises(imagegen.errors.ConfigError, match="no function"):
        load_strategy("tests.test_router_units:missing")


def test_failure_classes() -> None:
    rate = ProviderRateLimitedError("x", provider="openai", upstream_status=429)
    assert classify(rate, deadline_expired=False) is Failure.RETRYABLE
    for error in (
        ProviderUnavailableError("x", provider="p", upstream_status=503),
        ProviderTimeoutError("x", provider="p"),
        ProviderBadResponseError("x", provider="p"),
    ):
        assert classify(error, deadline_expired=False) is Failure.RETRYABLE
    auth = ProviderAuthenticationError("x", provider="p")
    assert classify(auth, deadline_expired=False) is Failure.DEPLOYMENT
    refused = ContentPolicyViolationError("x")
    assert classify(refused, deadline_expired=False) is Failure.CONTENT_POLICY
    assert classify(InvalidRequestError("x"), deadline_expired=False) is Failure.FINAL
    caller = CallerCredentialRejectedError("x", provider="p")
    assert classify(caller, deadline_expired=False) is Failure.FINAL
    late = DeadlineExceededError("x")
    assert classify(late, deadline_expired=False) is Failure.RETRYABLE  # a deployment timeout
    assert classify(late, deadline_expired=True) is Failure.FINAL


def test_retry_policy_per_error_class() -> None:
    settings = RouterSettings(
        num_retries=1, retry_policy={"RateLimitErrorRetries": 4, "ConnectionErrorRetries": 0}
    )
    rate = ProviderRateLimitedError("x", provider="p", upstream_status=429)
    assert retries_for(rate, settings) == 4
    dropped = ProviderUnavailableError("x", provider="p")
    assert retries_for(dropped, settings) == 0
    server = ProviderUnavailableError("x", provider="p", upstream_status=500)
    assert retries_for(server, settings) == 1


def test_backoff_grows_and_is_capped() -> None:
    settings = RouterSettings(retry_backoff_seconds=1.0, retry_backoff_max_seconds=5.0)
    rng = random.Random(3)
    assert 0.5 <= backoff(1, settings, rng) <= 1.0
    assert 2.0 <= backoff(3, settings, rng) <= 4.0
    assert 2.5 <= backoff(10, settings, rng) <= 5.0


async def test_memory_store_limits_and_cooldowns() -> None:
    store = MemoryStore()
    limits = Limits(rpm=2, ipm=3, max_parallel=1)
    assert await store.try_acquire("d", limits, 2) is None
    assert await store.try_acquire("d", limits, 1) == "max_parallel_requests"
    await store.release("d")
    assert await store.try_acquire("d", limits, 2) == "ipm"
    assert await store.try_acquire("d", limits, 1) is None
    await store.release("d")
    assert await store.try_acquire("d", limits, 0) == "rpm"
    assert (await store.loads(["d"]))["d"] == Load(in_flight=0, requests=2, images=3)
    import time

    await store.cool_down("d", time.time() + 30)
    assert set(await store.cooldowns(["d", "e"])) == {"d"}
    await store.record_latency("d", "1024x1024", 2.0, 0.5)
    await store.record_latency("d", "1024x1024", 4.0, 0.5)
    assert await store.latencies(["d"], "1024x1024") == {"d": 3.0}


@pytest.mark.parametrize("name", ["image_generation", "aimage_generation"])
def test_router_methods_have_the_seed_signature(name: str) -> None:
    router = imagegen.Router(
        model_list=[{"model_name": "img", "litellm_params": {"model": "local/placeholder"}}]
    )
    parameters = inspect.signature(getattr(router, name)).parameters
    assert list(parameters) == SEED_PARAMETERS


async def test_the_in_process_router_retries_and_falls_back(openai_fake: OpenAIFake) -> None:
    base = openai_fake.base_url + "/v1"
    router = imagegen.Router(
        model_list=[
            {
                "model_name": "img",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_base": base,
                    "api_key": "sk-test-openai",
                    "order": 1,
                },
                "model_info": {"id": "first"},
            },
            {
                "model_name": "img",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_base": base,
                    "api_key": "sk-test-openai",
                    "order": 2,
                },
                "model_info": {"id": "second"},
            },
            {"model_name": "backup", "litellm_params": {"model": "local/placeholder"}},
        ],
        num_retries=1,
        retry_backoff_seconds=0.01,
        fallbacks=[{"img": ["backup"]}],
    )
    try:
        error = {"error": {"message": "down", "type": "server_error"}}
        openai_fake.fail_next(500, error)
        response = await router.aimage_generation("an otter", model="img", quality="low")
        log = response._hidden_params["attempt_log"]
        assert [(a["model_id"], a["outcome"]) for a in log] == [
            ("first", "PROVIDER_UNAVAILABLE"),
            ("second", "ok"),
        ]
        openai_fake.fail_next(500, error)
        openai_fake.fail_next(500, error)
        response = await router.aimage_generation("an otter", model="img", size="1024x1024")
        assert response._hidden_params["fallback_model"] == "backup"
        log = response._hidden_params["attempt_log"]
        assert [(a["model_name"], a["outcome"]) for a in log] == [
            ("img", "PROVIDER_UNAVAILABLE"),
            ("img", "PROVIDER_UNAVAILABLE"),
            ("backup", "ok"),
        ]
    finally:
        await router.aclose()
