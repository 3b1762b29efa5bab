"""Checks that the fake providers speak the wire formats the gateway will meet."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.fakes import AzureFake, OpenAIFake, XinferenceFake

GEN = "/v1/images/generations"
OPENAI_AUTH = {"Authorization": "Bearer sk-test-openai"}
AZURE_KEY = {"api-key": "azure-test-key"}
AZURE_GPT = "/openai/deployments/gpt-image-1/images/generations?api-version=2025-04-01-preview"
AZURE_DALLE = "/openai/deployments/dalle3/images/generations?api-version=2024-10-21"


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


@pytest.fixture
async def openai() -> AsyncIterator[tuple[OpenAIFake, httpx.AsyncClient]]:
    async with (
        OpenAIFake(self_hosted_urls=True) as fake,
        httpx.AsyncClient(base_url=fake.base_url) as client,
    ):
        yield fake, client


@pytest.fixture
async def azure() -> AsyncIterator[tuple[AzureFake, httpx.AsyncClient]]:
    async with AzureFake() as fake, httpx.AsyncClient(base_url=fake.base_url) as client:
        yield fake, client


# --------------------------------------------------------------------------- OpenAI


async def test_openai_rejects_wrong_key(openai: tuple[OpenAIFake, httpx.AsyncClient]) -> None:
    _, client = openai
    r = await client.post(
        GEN, json={"model": "gpt-image-1", "prompt": "fox"}, headers={"Authorization": "Bearer x"}
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert r.headers["x-request-id"].startswith("req_")


async def test_openai_gpt_image_success(openai: tuple[OpenAIFake, httpx.AsyncClient]) -> None:
    fake, client = openai
    body = {
        "model": "gpt-image-1",
        "prompt": "a red fox in snow",
        "n": 2,
        "size": "1024x1536",
        "quality": "low",
        "output_format": "jpeg",
        "output_compression": 80,
    }
    r = await client.post(GEN, json=body, headers=OPENAI_AUTH)
    assert r.status_code == 200, r.text
    payload = r.json()
    images = [decode(item["b64_json"]) for item in payload["data"]]
    assert [(i.format, i.size) for i in images] == [("JPEG", (1024, 1536))] * 2
    assert payload["size"] == "1024x1536" and payload["quality"] == "low"
    assert payload["background"] == "opaque" and payload["output_format"] == "jpeg"
    usage = payload["usage"]
    assert usage["output_tokens"] == 2 * 408  # OpenAI's output-token table
    assert usage["input_tokens_details"] == {"text_tokens": 5, "image_tokens": 0}
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert "output_tokens_details" not in usage
    for header in ("x-request-id", "openai-processing-ms", "x-ratelimit-remaining-requests"):
        assert header in r.headers
    recorded = fake.last_request
    assert recorded.json == body and recorded.headers["authorization"] == "Bearer sk-test-openai"


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (
            {"model": "gpt-image-1", "response_format": "b64_json"},
            400,
            "unknown_parameter",
            "response_format",
        ),
        ({"model": "dall-e-3", "n": 2}, 400, "invalid_value", "n"),
        ({"model": "dall-e-2", "output_format": "png"}, 400, "unknown_parameter", "output_format"),
        ({"model": "gpt-image-1", "seed": 3}, 400, "unknown_parameter", "seed"),
        ({"model": "gpt-image-1", "size": "512x512"}, 400, "invalid_value", "size"),
        ({"model": "gpt-image-2", "size": "1000x1008"}, 400, "invalid_value", "size"),
        ({"model": "gpt-image-2", "size": "3840x1024"}, 400, "invalid_value", "size"),
        ({"model": "gpt-image-3"}, 404, "model_not_found", None),
    ],
)
async def test_openai_validation(
    openai: tuple[OpenAIFake, httpx.AsyncClient],
    body: dict[str, Any],
    status: int,
    code: str,
    param: str | None,
) -> None:
    _, client = openai
    r = await client.post(GEN, json={"prompt": "fox", **body}, headers=OPENAI_AUTH)
    assert r.status_code == status
    error = r.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["type"] == "invalid_request_error"


async def test_openai_gpt_image_2_free_size(openai: tuple[OpenAIFake, httpx.AsyncClient]) -> None:
    _, client = openai
    body = {"model": "gpt-image-2", "prompt": "fox", "size": "1280x720", "quality": "high"}
    r = await client.post(GEN, json=body, headers=OPENAI_AUTH)
    assert r.status_code == 200, r.text
    assert decode(r.json()["data"][0]["b64_json"]).size == (1280, 720)
    assert r.json()["size"] == "1280x720"


async def test_openai_dalle3_url_is_downloadable(
    openai: tuple[OpenAIFake, httpx.AsyncClient],
) -> None:
    _, client = openai
    r = await client.post(GEN, json={"model": "dall-e-3", "prompt": "fox"}, headers=OPENAI_AUTH)
    assert r.status_code == 200, r.text
    item = r.json()["data"][0]
    assert item["revised_prompt"] and "usage" not in r.json()
    blob = await client.get(item["url"])
    assert blob.status_code == 200 and blob.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(blob.content)).size == (1024, 1024)


async def test_openai_trigger_words(openai: tuple[OpenAIFake, httpx.AsyncClient]) -> None:
    _, client = openai
    r = await client.post(
        GEN, json={"model": "gpt-image-1", "prompt": "ratelimit me"}, headers=OPENAI_AUTH
    )
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"

    r = await client.post(
        GEN, json={"model": "gpt-image-1", "prompt": "forbidden fox"}, headers=OPENAI_AUTH
    )
    error = r.json()["error"]
    assert r.status_code == 400
    assert (error["code"], error["type"]) == ("moderation_blocked", "image_generation_user_error")
    assert r.headers["x-request-id"] in error["message"]

    r = await client.post(
        GEN, json={"model": "dall-e-3", "prompt": "forbidden"}, headers=OPENAI_AUTH
    )
    assert r.json()["error"]["code"] == "content_policy_violation"

    r = await client.post(
        GEN, json={"model": "gpt-image-1", "prompt": "insufficient_quota"}, headers=OPENAI_AUTH
    )
    assert r.status_code == 429 and "retry-after" not in r.headers
    assert r.json()["error"]["code"] == "insufficient_quota"


async def test_openai_stream(openai: tuple[OpenAIFake, httpx.AsyncClient]) -> None:
    _, client = openai
    body = {"model": "gpt-image-1", "prompt": "fox", "stream": True, "partial_images": 2}
    r = await client.post(GEN, json=body, headers=OPENAI_AUTH)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[len("data: ") :])
        for line in r.text.splitlines()
        if line.startswith("data: ")
    ]
    assert [e["type"] for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [e.get("partial_image_index") for e in events] == [0, 1, None]
    assert events[-1]["usage"]["output_tokens"] == 1056  # auto quality → medium, 1024x1024
    assert "[DONE]" not in r.text


async def test_fail_next_is_fifo_and_one_shot(
    openai: tuple[OpenAIFake, httpx.AsyncClient],
) -> None:
    fake, client = openai
    fake.fail_next(503, {"error": {"message": "busy"}}, headers={"retry-after": "1"})
    fake.fail_next(502, "<html>bad gateway</html>", content_type="text/html")
    body = {"model": "gpt-image-1", "prompt": "fox", "quality": "low"}
    statuses = [(await client.post(GEN, json=body, headers=OPENAI_AUTH)) for _ in range(3)]
    assert [s.status_code for s in statuses] == [503, 502, 200]
    assert statuses[0].headers["retry-after"] == "1" and "x-request-id" in statuses[0].headers
    assert statuses[1].headers["content-type"] == "text/html"
    assert len(fake.requests) == 3


async def test_disconnect_is_counted(openai: tuple[OpenAIFake, httpx.AsyncClient]) -> None:
    fake, client = openai
    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            GEN, json={"model": "gpt-image-1", "prompt": "hang"}, headers=OPENAI_AUTH, timeout=0.2
        )
    await asyncio.wait_for(fake.disconnected.wait(), 5)
    assert fake.disconnects == 1


async def test_stop_with_request_in_flight_is_fast() -> None:
    fake = OpenAIFake()
    await fake.start()
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        task = asyncio.create_task(
            client.post(GEN, json={"model": "gpt-image-1", "prompt": "hang"}, headers=OPENAI_AUTH)
        )
        await asyncio.wait_for(fake.received.wait(), 5)
        started = time.monotonic()
        await fake.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(httpx.HTTPError):
            await task
    assert fake.disconnects == 0  # shutting down is not a client disconnect


# --------------------------------------------------------------------------- Azure


async def test_azure_deployment_route(azure: tuple[AzureFake, httpx.AsyncClient]) -> None:
    _, client = azure
    r = await client.post(AZURE_GPT, json={"prompt": "fox", "quality": "low"}, headers=AZURE_KEY)
    assert r.status_code == 200, r.text
    item = r.json()["data"][0]
    assert decode(item["b64_json"]).size == (1024, 1024)
    assert item["content_filter_results"]["violence"] == {"filtered": False, "severity": "safe"}
    assert "prompt_filter_results" in item and r.json()["usage"]["output_tokens"] == 272
    assert r.headers["x-ms-deployment-name"] == "gpt-image-1"
    assert {"apim-request-id", "x-request-id", "x-ms-region"} <= set(r.headers)

    r = await client.post(AZURE_GPT.split("?")[0], json={"prompt": "fox"}, headers=AZURE_KEY)
    assert r.status_code == 400

    r = await client.post(AZURE_GPT, json={"prompt": "fox"}, headers={"api-key": "nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "401"


async def test_azure_v1_route(azure: tuple[AzureFake, httpx.AsyncClient]) -> None:
    _, client = azure
    url = "/openai/v1/images/generations"
    bearer_key = {"Authorization": "Bearer azure-test-key"}
    r = await client.post(
        url,
        json={"model": "dalle3", "prompt": "fox", "response_format": "b64_json"},
        headers=bearer_key,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["revised_prompt"]

    r = await client.post(url, json={"model": "dall-e-3", "prompt": "fox"}, headers=bearer_key)
    assert r.status_code == 404 and r.json()["error"]["code"] == "DeploymentNotFound"

    # The API key works as a bearer token only on the v1 route.
    r = await client.post(AZURE_DALLE, json={"prompt": "fox"}, headers=bearer_key)
    assert r.status_code == 401
    r = await client.post(
        AZURE_DALLE, json={"prompt": "fox"}, headers={"Authorization": "Bearer entra-test-token"}
    )
    assert r.status_code == 200


async def test_azure_safety_and_rate_limit(azure: tuple[AzureFake, httpx.AsyncClient]) -> None:
    _, client = azure
    r = await client.post(AZURE_DALLE, json={"prompt": "forbidden fox"}, headers=AZURE_KEY)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "content_policy_violation"
    assert error["inner_error"]["code"] == "ResponsibleAIPolicyViolation"
    assert error["inner_error"]["content_filter_results"]["violence"]["filtered"] is True

    r = await client.post(AZURE_DALLE, json={"prompt": "ratelimit"}, headers=AZURE_KEY)
    assert r.status_code == 429
    assert (r.headers["retry-after"], r.headers["retry-after-ms"]) == ("7", "7000")

    r = await client.post(
        AZURE_GPT, json={"prompt": "fox", "output_format": "webp"}, headers=AZURE_KEY
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "output_format"


# --------------------------------------------------------------------------- Xinference


async def test_xinference_kwargs_and_formats() -> None:
    async with (
        XinferenceFake(api_key="xk") as fake,
        httpx.AsyncClient(base_url=fake.base_url) as client,
    ):
        auth = {"Authorization": "Bearer xk"}
        r = await client.post(GEN, json={"model": "sd3-medium", "prompt": "fox"})
        assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}

        kwargs = {"negative_prompt": "blurry", "num_inference_steps": 20, "seed": 42}
        body = {
            "model": "sd3-medium",
            "prompt": "fox",
            "size": "96*64",
            "response_format": "b64_json",
            "kwargs": json.dumps(kwargs),
        }
        r = await client.post(GEN, json=body, headers=auth)
        assert r.status_code == 200, r.text
        item = r.json()["data"][0]
        assert item["url"] is None
        assert (decode(item["b64_json"]).format, decode(item["b64_json"]).size) == (
            "JPEG",
            (96, 64),
        )
        assert fake.last_kwargs == kwargs

        r = await client.post(
            GEN, json={"model": "sd3-medium", "prompt": "fox", "size": "64x32"}, headers=auth
        )
        path = r.json()["data"][0]["url"]
        assert path.startswith("/root/.xinference/image/") and path.endswith(".jpg")
        assert Image.open(io.BytesIO(fake.files[path])).size == (64, 32)

        # kwargs as an object: pydantic error escapes the handler → plain-text 500.
        r = await client.post(GEN, json={**body, "kwargs": kwargs}, headers=auth)
        assert r.status_code == 500 and r.headers["content-type"].startswith("text/plain")
        assert "kwargs\n  str type expected" in r.text

        r = await client.post(GEN, json={**body, "model": "nope"}, headers=auth)
        assert r.status_code == 400 and "Model not found" in r.json()["detail"]
        r = await client.post(GEN, json={**body, "response_format": "png"}, headers=auth)
        assert r.status_code == 500 and "detail" in r.json()
        r = await client.post(GEN, json={**body, "prompt": "still loading"}, headers=auth)
        assert r.status_code == 503 and r.headers["retry-after"] == "30"


async def test_xinference_fastapi_validation_style() -> None:
    async with (
        XinferenceFake(validation_style="fastapi") as fake,
        httpx.AsyncClient(base_url=fake.base_url) as client,
    ):
        r = await client.post(
            GEN, json={"model": "sd3-medium", "prompt": "fox", "kwargs": {"seed": 1}}
        )
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "kwargs"]
