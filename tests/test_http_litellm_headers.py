"""The HTTP door's x-litellm-* headers: LiteLLM's names for the facts of the x-imagegen-*
headers, over real HTTP calls to the running server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import yaml

from imagegen.http.litellm_headers import litellm_headers
from imagegen.types import Attempt, CallFacts
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.test_router_server import SERVER_ERROR, deployment


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def post(
    http: aiohttp.ClientSession, served: Served, **body: Any
) -> tuple[int, dict[str, str]]:
    body = {"model": "img", "prompt": "an otter", "size": "1024x1024", "quality": "low", **body}
    async with http.post(f"{served.http_base_url}/v1/images/generations", json=body) as response:
        await response.read()
        return response.status, {k.lower(): v for k, v in response.headers.items()}


async def test_a_served_call_has_litellms_headers_beside_imagegens(
    serve: ServeFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    served = await serve(yaml.safe_dump({"model_list": [deployment(openai_fake, "dep-a")]}))
    status, headers = await post(http, served)
    assert status == 200
    assert Decimal(headers["x-litellm-response-cost"]) > 0
    assert headers["x-litellm-response-cost"] == headers["x-imagegen-response-cost"]
    assert headers["x-litellm-model-id"] == "dep-a"
    assert headers["x-litellm-model-group"] == "img"
    assert headers["x-litellm-model-api-base"] == headers["x-imagegen-api-base"]
    assert headers["x-litellm-call-id"] == headers["x-imagegen-request-id"]
    assert headers["x-litellm-attempted-retries"] == "0"
    assert headers["x-litellm-attempted-fallbacks"] == "0"
    assert float(headers["x-litellm-overhead-duration-ms"]) >= 0


async def test_retries_and_fallbacks_are_counted_as_litellm_counts_them(
    serve: ServeFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    async with OpenAIFake() as other:
        served = await serve(
            yaml.safe_dump(
                {
                    "model_list": [
                        deployment(openai_fake, "a", order=1),
                        deployment(openai_fake, "b", order=2),
                        deployment(other, "c", name="backup"),
                    ],
                    "router_settings": {
                        "num_retries": 1,
                        "retry_backoff_seconds": 0.01,
                        "fallbacks": [{"img": ["backup"]}],
                    },
                }
            )
        )
        openai_fake.fail_next(500, SERVER_ERROR)
        openai_fake.fail_next(500, SERVER_ERROR)
        status, headers = await post(http, served)
    assert status == 200
    assert headers["x-imagegen-attempts"] == "3"
    assert headers["x-litellm-model-id"] == "c"
    assert headers["x-litellm-model-group"] == "backup"
    # Retries count within the group that answered; the group before it is one fallback.
    assert headers["x-litellm-attempted-retries"] == "0"
    assert headers["x-litellm-attempted-fallbacks"] == "1"


async def test_a_failed_call_still_says_its_cost_and_deployment(
    serve: ServeFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    served = await serve(yaml.safe_dump({"model_list": [deployment(openai_fake, "dep-a")]}))
    openai_fake.fail_next(500, SERVER_ERROR)
    status, headers = await post(http, served)
    assert status >= 500
    assert headers["x-litellm-response-cost"] == "0"
    assert headers["x-litellm-model-id"] == "dep-a"


def test_an_unknown_cost_is_left_out_and_the_query_is_stripped() -> None:
    facts = CallFacts(
        request_id="req-1",
        model_id="m",
        api_base="https://res.openai.azure.com/openai?sig=secret-sas",
        response_cost=None,
    )
    headers = litellm_headers(facts)
    assert "x-litellm-response-cost" not in headers
    assert headers["x-litellm-model-api-base"] == "https://res.openai.azure.com/openai"
    assert "secret" not in "".join(headers.values())


def test_retries_count_on_the_last_group_only() -> None:
    def attempt(number: int, group: str) -> Attempt:
        return Attempt(
            number=number,
            model_name=group,
            model_id=f"{group}-{number}",
            provider="openai",
            api_base="",
            images=1,
            started_at=0.0,
            started=0.0,
        )

    facts = CallFacts(request_id="r")
    facts.attempt_log.extend([attempt(1, "a"), attempt(2, "a"), attempt(3, "b"), attempt(4, "b")])
    headers = litellm_headers(facts)
    assert (headers["x-litellm-attempted-retries"], headers["x-litellm-attempted-fallbacks"]) == (
        "1",
        "1",
    )


async def test_a_stream_carries_litellms_routing_headers_but_no_cost(
    serve: ServeFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    served = await serve(yaml.safe_dump({"model_list": [deployment(openai_fake, "dep-a")]}))
    body = {"model": "img", "prompt": "an otter", "size": "1024x1024", "stream": True}
    async with http.post(f"{served.http_base_url}/v1/images/generations", json=body) as response:
        assert response.status == 200
        await response.read()
        headers = {k.lower(): v for k, v in response.headers.items()}
    assert headers["x-litellm-model-id"] == "dep-a"
    assert headers["x-litellm-call-id"] == headers["x-imagegen-request-id"]
    assert "x-litellm-response-cost" not in headers  # known only at the end: on the last event
