"""litellm_settings.request_timeout and drop_params keep LiteLLM's meaning, through the HTTP
door as a LiteLLM proxy caller sees them: the file's timeout ends a hanging call, and with
drop_params a parameter the model does not take is dropped instead of refused."""

from __future__ import annotations

import time
from typing import Any

import httpx
import yaml

from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake


def config(fake: OpenAIFake, **litellm_settings: Any) -> str:
    entry = {
        "model_name": "img",
        "litellm_params": {
            "model": "openai/dall-e-2",
            "api_base": fake.base_url + "/v1",
            "api_key": "sk-test-openai",
        },
    }
    return yaml.safe_dump({"model_list": [entry], "litellm_settings": litellm_settings})


async def post(base_url: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.post("/v1/images/generations", json={"model": "img", **body})


async def test_request_timeout_ends_a_hanging_call(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(config(openai_fake, request_timeout=1))
    started = time.monotonic()
    answer = await post(served.http_base_url, {"prompt": "hang", "size": "256x256"})
    elapsed = time.monotonic() - started
    assert answer.status_code == 504, answer.text
    assert answer.json()["error"]["code"] == "deadline_exceeded"
    assert 0.9 <= elapsed < 5


async def test_drop_params_drops_what_the_model_does_not_take(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    strict = await serve(config(openai_fake))
    refused = await post(strict.http_base_url, {"prompt": "a", "style": "vivid"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "style"

    lenient = await serve(config(openai_fake, drop_params=True))
    answer = await post(lenient.http_base_url, {"prompt": "a", "style": "vivid"})
    assert answer.status_code == 200, answer.text
    assert "style" not in openai_fake.requests[-1].json
