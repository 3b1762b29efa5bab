"""The OpenAI-compatible HTTP door, end to end: the official `openai` SDK and plain HTTP
against a real server (both doors on one loop, one Gateway) and the fake providers.

What a caller of OpenAI's Images API relies on: the request body, ImagesResponse, the
server-sent events of a stream, OpenAI's error envelope and the SDK's exception classes;
plus what imagegen adds: the x-imagegen-* headers, identical to the gRPC trailers.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import grpc
import openai
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from openai.types import ImageGenCompletedEvent
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import DEFAULT_HTTP_PORT, ServerSettings, embedded_settings, parse_settings
from imagegen.errors import ConfigError, error_class_for_reason
from imagegen.server.app import RunningServer, start_server
from tests.conftest import TRAILER_KEYS, Served, ServeFactory
from tests.fakes.openai import OpenAIFake

ClientFactory = Callable[[Served], openai.AsyncOpenAI]


def openai_config(fake: OpenAIFake, **server_settings: Any) -> str:
    entries = [
        {
            "model_name": model,
            "litellm_params": {
                "model": f"openai/{model}",
                "api_key": fake.api_key,
                "api_base": f"{fake.base_url}/v1",
            },
            "model_info": {"id": f"oai-{model}"},
        }
        for model in ("gpt-image-1", "dall-e-3")
    ]
    document: dict[str, Any] = {"model_list": entries}
    if server_settings:
        document["server_settings"] = server_settings
    return yaml.safe_dump(document)


@pytest.fixture
async def sdk() -> AsyncIterator[ClientFactory]:
    """AsyncOpenAI clients pointed at a served gateway's /v1 (closed at teardown)."""
    made: list[openai.AsyncOpenAI] = []

    def factory(served: Served) -> openai.AsyncOpenAI:
        # max_retries=0: a test sees each answer as the server gave it, and never waits out
        # a Retry-After.
        client = openai.AsyncOpenAI(
            base_url=f"{served.http_base_url}/v1", api_key="sk-anything", max_retries=0, timeout=30
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def png_size(b64: str) -> tuple[int, int]:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    return image.size


def fact_headers(headers: Any) -> dict[str, str]:
    found = {key.lower(): value for key, value in headers.items()}
    return {key: value for key, value in found.items() if key.startswith("x-imagegen-")}


def error_of(caught: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    """The envelope's inner object, as the SDK parsed it, checked for OpenAI's four keys."""
    body = caught.value.body
    assert isinstance(body, dict)
    assert set(body) == {"message", "type", "param", "code"}
    return body


# ----------------------------------------------------------------------------- the SDK


async def test_openai_sdk_gets_images_and_the_cost_headers(
    serve: ServeFactory, sdk: ClientFactory
) -> None:
    served = await serve(embedded_settings())
    raw = await sdk(served).images.with_raw_response.generate(
        model="placeholder", prompt="a cute baby sea otter", size="64x48", n=2
    )
    headers = fact_headers(raw.headers)
    assert headers.keys() >= TRAILER_KEYS
    assert headers["x-imagegen-response-cost"] == "0"
    assert headers["x-imagegen-model-id"] == "local/placeholder"
    assert headers["x-imagegen-provider"] == "local"
    assert headers["x-imagegen-attempts"] == "1"
    assert float(headers["x-imagegen-overhead-ms"]) >= 0

    response = raw.parse()
    assert response.data is not None and len(response.data) == 2
    assert [png_size(image.b64_json or "") for image in response.data] == [(64, 48), (64, 48)]
    assert response.data[0].b64_json != response.data[1].b64_json
    assert response.data[0].url is None
    assert response.size == "64x48"
    assert response.output_format == "png"
    assert response._request_id == headers["x-imagegen-request-id"]


async def test_both_doors_share_one_gateway(serve: ServeFactory) -> None:
    served = await serve(embedded_settings())
    assert served.running.http is not None
    assert served.running.http.gateway is served.running.gateway
    assert served.running.http_port == served.running.http.port != served.running.port


async def test_gpt_image_usage_and_token_priced_cost(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    raw = await sdk(served).images.with_raw_response.generate(
        model="gpt-image-1", prompt="a red fox", size="1024x1024", quality="low"
    )
    response = raw.parse()
    assert response.usage is not None
    assert response.usage.output_tokens == 272
    assert response.usage.input_tokens_details.text_tokens == response.usage.input_tokens
    cost = Decimal(raw.headers["x-imagegen-response-cost"])
    expected = (
        Decimal(response.usage.input_tokens) * Decimal("5") + Decimal(272) * Decimal("40")
    ) / Decimal(1_000_000)
    assert cost == expected
    assert raw.headers["x-imagegen-model-id"] == "oai-gpt-image-1"
    assert raw.headers["x-imagegen-api-base"] == f"{openai_fake.base_url}/v1"
    assert response.quality == "low"
    # The upstream call is OpenAI's own request, with the configured key.
    upstream = openai_fake.last_request
    assert upstream.json == {
        "model": "gpt-image-1",
        "prompt": "a red fox",
        "size": "1024x1024",
        "quality": "low",
        "n": 1,
    }
    assert upstream.headers["authorization"] == f"Bearer {openai_fake.api_key}"


async def test_seed_curl_request_against_dall_e_3(
    serve: ServeFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    # Byte for byte what the seed's `curl -X POST ... -H 'Authorization: Bearer sk-1234' -d '...'`
    # sends: curl -d labels the body as a form, and the door reads it as JSON anyway.
    body = '{"model": "dall-e-3", "prompt": "A cute baby sea otter", "size": "1024x1024"}'
    async with http.post(
        f"{served.http_base_url}/v1/images/generations",
        data=body.encode(),
        headers={
            "Authorization": "Bearer sk-1234",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        document = await response.json()
        headers = fact_headers(response.headers)

    (image,) = document["data"]
    assert image["url"].startswith("https://")
    assert "b64_json" not in image
    assert image["revised_prompt"]
    assert isinstance(document["created"], int)
    assert headers["x-imagegen-response-cost"] == "0.04"
    assert headers["x-imagegen-provider"] == "openai"
    assert headers["x-imagegen-model-id"] == "oai-dall-e-3"
    # The caller's bearer key is ignored (no virtual keys yet) and never forwarded.
    upstream = openai_fake.last_request
    assert upstream.headers["authorization"] == f"Bearer {openai_fake.api_key}"
    assert upstream.json["prompt"] == "A cute baby sea otter"
    assert upstream.json["model"] == "dall-e-3"
    assert upstream.json["size"] == "1024x1024"


@pytest.mark.parametrize("authorization", [None, "Bearer sk-1234", "Basic Zm9vOmJhcg==", "junk"])
async def test_authorization_header_is_accepted_and_ignored(
    serve: ServeFactory, http: aiohttp.ClientSession, authorization: str | None
) -> None:
    served = await serve(embedded_settings())
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with http.post(
        f"{served.http_base_url}/v1/images/generations",
        json={"prompt": "otter", "size": "16x16"},
        headers=headers,
    ) as response:
        assert response.status == 200
        assert len((await response.json())["data"]) == 1


async def test_response_format_b64_json_and_url_are_both_honoured(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    client = sdk(served)
    as_b64 = await client.images.generate(
        model="dall-e-3", prompt="an otter", response_format="b64_json"
    )
    assert as_b64.data is not None
    assert as_b64.data[0].b64_json and as_b64.data[0].url is None
    assert png_size(as_b64.data[0].b64_json) == (1024, 1024)
    assert openai_fake.last_request.json["response_format"] == "b64_json"

    as_url = await client.images.generate(
        model="dall-e-3", prompt="an otter", response_format="url"
    )
    assert as_url.data is not None
    assert as_url.data[0].url and as_url.data[0].b64_json is None
    assert openai_fake.last_request.json["response_format"] == "url"


async def test_unknown_body_fields_are_provider_params(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    await sdk(served).images.generate(
        model="gpt-image-1",
        prompt="a fox",
        size="1024x1024",
        quality="low",
        output_format="webp",
        background="opaque",
        extra_body={"output_compression": 50},
    )
    sent = openai_fake.last_request.json
    assert sent["output_format"] == "webp"
    assert sent["background"] == "opaque"
    assert sent["output_compression"] == 50


async def test_seed_parameters_reach_the_gateway(
    serve: ServeFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    body = {
        "prompt": "a fox",
        "model": "dall-e-3",
        "n": 1,
        "quality": "hd",
        "response_format": "b64_json",
        "size": "1792x1024",
        "style": "natural",
        "user": "u-123",
        "timeout": 30,
        "request_id": "req-http-1",
    }
    async with http.post(f"{served.http_base_url}/v1/images/generations", json=body) as response:
        assert response.status == 200
        assert response.headers["x-imagegen-request-id"] == "req-http-1"
        assert response.headers["x-request-id"] == "req-http-1"
        assert response.headers["x-imagegen-response-cost"] == "0.12"
    sent = openai_fake.last_request.json
    assert {k: sent[k] for k in ("quality", "size", "style", "user", "response_format", "n")} == {
        "quality": "hd",
        "size": "1792x1024",
        "style": "natural",
        "user": "u-123",
        "response_format": "b64_json",
        "n": 1,
    }
    assert "timeout" not in sent and "request_id" not in sent


# ----------------------------------------------------------------------------- errors


async def test_unsupported_parameter_is_bad_request_naming_the_param(
    serve: ServeFactory, sdk: ClientFactory
) -> None:
    served = await serve(embedded_settings())
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(served).images.generate(model="placeholder", prompt="otter", quality="hd")
    error = error_of(caught)
    assert caught.value.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "unsupported_parameter"
    assert error["param"] == "quality"
    assert "quality" in error["message"]
    headers = fact_headers(caught.value.response.headers)
    assert headers.keys() >= TRAILER_KEYS
    assert headers["x-imagegen-response-cost"] == "0"
    assert headers["x-imagegen-model-id"] == "local/placeholder"


async def test_unsupported_provider_param_names_the_body_field(
    serve: ServeFactory, sdk: ClientFactory
) -> None:
    served = await serve(embedded_settings())
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(served).images.generate(model="placeholder", prompt="otter", background="opaque")
    error = error_of(caught)
    assert error["code"] == "unsupported_parameter"
    # A provider parameter is a top-level body field here, not "provider_params.background".
    assert error["param"] == "background"


async def test_content_policy_refusal_is_bad_request(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(served).images.generate(model="gpt-image-1", prompt="something forbidden")
    error = error_of(caught)
    assert error["code"] == "content_policy_violation"
    assert error["type"] == "invalid_request_error"
    assert caught.value.response.headers["x-imagegen-response-cost"] == "0"
    assert caught.value.response.headers["x-imagegen-provider"] == "openai"


async def test_unknown_model_is_not_found(serve: ServeFactory, sdk: ClientFactory) -> None:
    served = await serve(embedded_settings())
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk(served).images.generate(model="dall-e-3", prompt="otter")
    error = error_of(caught)
    assert error["code"] == "model_not_found"
    assert error["param"] is None
    assert "placeholder" in error["message"]


async def test_provider_rate_limit_is_rate_limit_error_with_retry_after(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk(served).images.generate(model="gpt-image-1", prompt="ratelimit please")
    error = error_of(caught)
    assert error["code"] == "provider_rate_limited"
    assert error["type"] == "rate_limit_error"
    headers = caught.value.response.headers
    assert headers["retry-after"] == "7"
    assert headers["retry-after-ms"] == "7000"
    assert "x-should-retry" not in headers
    assert headers["x-imagegen-response-cost"] == "0"


async def test_exhausted_quota_tells_the_sdk_not_to_retry(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    # The SDK's default: retry every 429. x-should-retry: false must stop it.
    async with openai.AsyncOpenAI(
        base_url=f"{served.http_base_url}/v1", api_key="sk-x", max_retries=2
    ) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.images.generate(model="gpt-image-1", prompt="insufficient_quota")
    error = error_of(caught)
    assert error["code"] == "provider_quota_exceeded"
    assert error["type"] == "insufficient_quota"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(openai_fake.requests) == 1


async def test_provider_outage_is_server_error_with_facts(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    with pytest.raises(openai.InternalServerError) as caught:
        await sdk(served).images.generate(model="gpt-image-1", prompt="servererror", n=1)
    assert caught.value.status_code == 503
    error = error_of(caught)
    assert error["code"] == "provider_unavailable"
    assert error["type"] == "server_error"
    headers = caught.value.response.headers
    assert headers["x-imagegen-attempts"] == "1"
    assert headers["x-imagegen-response-cost"] == "0"


async def test_request_credentials_are_refused_by_default(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await sdk(served).images.generate(
            model="gpt-image-1", prompt="a fox", extra_body={"api_base": "http://127.0.0.1:9/v1"}
        )
    error = error_of(caught)
    assert error["code"] == "request_credentials_not_allowed"
    assert error["param"] == "api_base"
    assert openai_fake.requests == []


async def test_unexpected_failure_is_a_fixed_500(
    serve: ServeFactory, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = await serve(embedded_settings())

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-leak-text")

    monkeypatch.setattr(served.running.gateway, "generate", broken)
    async with http.post(
        f"{served.http_base_url}/v1/images/generations", json={"prompt": "otter"}
    ) as response:
        assert response.status == 500
        text = await response.text()
        assert response.headers.keys() >= TRAILER_KEYS
    assert "secret-leak-text" not in text
    assert json.loads(text)["error"] == {
        "message": "internal error",
        "type": "server_error",
        "param": None,
        "code": "internal",
    }


MALFORMED = [
    pytest.param(b"{not json", None, id="not-json"),
    pytest.param(b"", None, id="empty"),
    pytest.param(b'["a", "list"]', None, id="array"),
    pytest.param(b'"a string"', None, id="string"),
    pytest.param(b"\xff\xfe{}", None, id="not-utf8"),
    pytest.param(b'{"prompt": "otter", "timeout": NaN}', None, id="nan"),
    pytest.param(b'{"prompt": "\\ud800 otter"}', None, id="lone-surrogate"),
    pytest.param(b'{"prompt": 42}', "prompt", id="prompt-number"),
    pytest.param(b'{"size": "16x16"}', "prompt", id="prompt-missing"),
    pytest.param(b'{"prompt": ""}', "prompt", id="prompt-empty"),
    pytest.param(b'{"prompt": "otter", "n": "2"}', "n", id="n-string"),
    pytest.param(b'{"prompt": "otter", "n": true}', "n", id="n-bool"),
    pytest.param(b'{"prompt": "otter", "n": 1.5}', "n", id="n-float"),
    pytest.param(b'{"prompt": "otter", "n": 0}', "n", id="n-zero"),
    pytest.param(b'{"prompt": "otter", "n": 11}', "n", id="n-eleven"),
    pytest.param(b'{"prompt": "otter", "stream": "yes"}', "stream", id="stream-string"),
    pytest.param(b'{"prompt": "otter", "timeout": "soon"}', "timeout", id="timeout-string"),
    pytest.param(b'{"prompt": "otter", "timeout": 0}', "timeout", id="timeout-zero"),
    pytest.param(b'{"prompt": "otter", "size": 1024}', "size", id="size-number"),
    pytest.param(b'{"prompt": "otter", "size": "huge"}', "size", id="size-huge"),
    pytest.param(
        b'{"prompt": "otter", "response_format": "png"}', "response_format", id="format-png"
    ),
    pytest.param(b'{"prompt": "otter", "tags": "a"}', "tags", id="tags-string"),
    pytest.param(b'{"prompt": "otter", "drop_params": "yes"}', "drop_params", id="drop-string"),
    pytest.param(b'{"prompt": "otter", "request_id": "a b"}', "request_id", id="request-id"),
    pytest.param(b'{"prompt": "otter", "seed": "abc"}', "seed", id="seed-string"),
]


@pytest.mark.parametrize(("body", "param"), MALFORMED)
async def test_malformed_body_is_400_in_the_envelope_never_500(
    serve: ServeFactory, http: aiohttp.ClientSession, body: bytes, param: str | None
) -> None:
    served = await serve(embedded_settings())
    async with http.post(
        f"{served.http_base_url}/v1/images/generations",
        data=body,
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400, await response.text()
        document = await response.json()
        assert response.headers.keys() >= TRAILER_KEYS
        assert response.headers["x-imagegen-response-cost"] == "0"
    error = document["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] in ("invalid_parameter", "unsupported_parameter")
    assert error["param"] == param


async def test_unknown_path_and_wrong_method_answer_in_the_envelope(
    serve: ServeFactory, http: aiohttp.ClientSession
) -> None:
    served = await serve(embedded_settings())
    # (/v1/images/edits was the example here until the door served it.)
    async with http.post(f"{served.http_base_url}/v1/audio/speech", json={}) as response:
        assert response.status == 404
        error = (await response.json())["error"]
        assert error["message"] == "Invalid URL (POST /v1/audio/speech)"
        assert error["type"] == "invalid_request_error"
    async with http.get(f"{served.http_base_url}/v1/images/generations") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert (await response.json())["error"]["code"] is None


async def test_oversized_body_is_413_in_the_envelope(
    serve: ServeFactory, http: aiohttp.ClientSession
) -> None:
    served = await serve(embedded_settings())
    body = json.dumps({"prompt": "otter", "padding": "x" * (2 * 1024 * 1024)}).encode()
    async with http.post(
        f"{served.http_base_url}/v1/images/generations", data=io.BytesIO(body)
    ) as response:
        assert response.status == 413
        assert set((await response.json())["error"]) == {"message", "type", "param", "code"}


# ----------------------------------------------------------------------------- both doors


async def _grpc_failure(
    served: Served, request: pb.GenerateImagesRequest
) -> tuple[grpc.aio.AioRpcError, error_details_pb2.ErrorInfo, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.GenerateImages(request, timeout=30)
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return caught.value, info, fields


PARITY = [
    pytest.param({"prompt": "something forbidden", "model": "gpt-image-1"}, id="safety"),
    pytest.param({"prompt": "ratelimit", "model": "gpt-image-1"}, id="rate-limit"),
    pytest.param({"prompt": "insufficient_quota", "model": "gpt-image-1"}, id="quota"),
    pytest.param({"prompt": "servererror", "model": "gpt-image-1"}, id="outage"),
    pytest.param({"prompt": "a fox", "model": "nope"}, id="unknown-model"),
    pytest.param({"prompt": "a fox", "model": "gpt-image-1", "quality": "ultra"}, id="quality"),
    pytest.param({"prompt": "a fox", "model": "gpt-image-1", "seed": 3}, id="provider-param"),
    pytest.param({"prompt": "", "model": "gpt-image-1"}, id="empty-prompt"),
    pytest.param({"prompt": "a fox", "model": "gpt-image-1", "api_key": "sk-x"}, id="api-key"),
]

_FORMATS = {"url": pb.RESPONSE_FORMAT_URL, "b64_json": pb.RESPONSE_FORMAT_B64_JSON}


def without_request_ids(message: str) -> str:
    return re.sub(r"req_[0-9a-f]+", "req_*", message)


def _proto_request(body: dict[str, Any]) -> pb.GenerateImagesRequest:
    fields = dict(body)
    known = {
        name: fields.pop(name)
        for name in list(fields)
        if name in pb.GenerateImagesRequest.DESCRIPTOR.fields_by_name
    }
    if "response_format" in known:
        known["response_format"] = _FORMATS[known["response_format"]]
    request = pb.GenerateImagesRequest(**known)
    if fields:
        request.provider_params.update(fields)
    return request


@pytest.mark.parametrize("body", PARITY)
async def test_grpc_and_http_agree_on_the_same_failure(
    serve: ServeFactory,
    http: aiohttp.ClientSession,
    openai_fake: OpenAIFake,
    body: dict[str, Any],
) -> None:
    served = await serve(openai_config(openai_fake))
    error, info, fields = await _grpc_failure(served, _proto_request(body))
    trailers = {k: v for k, v in error.trailing_metadata() or () if isinstance(v, str)}
    upstream_calls = len(openai_fake.requests)

    async with http.post(f"{served.http_base_url}/v1/images/generations", json=body) as response:
        envelope = (await response.json())["error"]
        headers = fact_headers(response.headers)
    cls = error_class_for_reason(info.reason)
    assert response.status == cls.http_status
    assert error.code().value[0] == int(cls.code)
    assert envelope["code"] == info.reason.lower()
    assert envelope["param"] == (fields[0].removeprefix("provider_params.") if fields else None)
    # The same message, but for the provider's own request id (one per upstream call).
    assert without_request_ids(envelope["message"]) == without_request_ids(error.details() or "")
    for key in TRAILER_KEYS - {"x-imagegen-overhead-ms", "x-imagegen-request-id"}:
        assert headers[key] == trailers[key], key
    # The same number of upstream calls for the second door as for the first.
    assert len(openai_fake.requests) == 2 * upstream_calls


async def test_grpc_and_http_make_the_same_upstream_call_at_the_same_cost(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    call = served.stub.GenerateImages(
        _proto_request(
            {"prompt": "a fox", "model": "gpt-image-1", "size": "1024x1536", "quality": "medium"}
        )
    )
    proto = await call
    trailers = {k: v for k, v in await call.trailing_metadata() or () if isinstance(v, str)}
    via_grpc = openai_fake.last_request

    raw = await sdk(served).images.with_raw_response.generate(
        model="gpt-image-1", prompt="a fox", size="1024x1536", quality="medium"
    )
    via_http = openai_fake.last_request
    assert via_http.json == via_grpc.json
    assert via_http.path == via_grpc.path
    assert via_http.headers["authorization"] == via_grpc.headers["authorization"]
    assert raw.headers["x-imagegen-response-cost"] == trailers["x-imagegen-response-cost"]
    assert raw.headers["x-imagegen-response-cost"] == proto.cost.response_cost
    assert Decimal(proto.cost.response_cost) > 0
    response = raw.parse()
    assert response.usage is not None
    assert response.usage.output_tokens == proto.usage.output_tokens


# ----------------------------------------------------------------------------- streaming


async def test_stream_sends_one_completed_event_per_image(
    serve: ServeFactory, sdk: ClientFactory
) -> None:
    served = await serve(embedded_settings())
    stream = await sdk(served).images.generate(
        model="placeholder", prompt="otter", size="32x16", n=3, stream=True
    )
    events = [event async for event in stream]
    assert all(isinstance(event, ImageGenCompletedEvent) for event in events)
    completed = [event for event in events if isinstance(event, ImageGenCompletedEvent)]
    assert len(completed) == 3
    assert all(png_size(event.b64_json) == (32, 16) for event in completed)
    assert len({event.b64_json for event in completed}) == 3
    assert all(event.size == "32x16" and event.output_format == "png" for event in completed)
    assert all(event.usage.total_tokens == 0 for event in completed)


async def test_stream_wire_format_headers_and_usage_on_the_last_event(
    serve: ServeFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    body = {"model": "gpt-image-1", "prompt": "a fox", "n": 2, "quality": "low", "stream": True}
    async with http.post(f"{served.http_base_url}/v1/images/generations", json=body) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        headers = fact_headers(response.headers)
        text = (await response.read()).decode()
    # Routing facts lead the stream; the cost is only known at its end.
    assert headers.keys() >= {
        "x-imagegen-model-id",
        "x-imagegen-provider",
        "x-imagegen-api-base",
        "x-imagegen-request-id",
    }
    assert "x-imagegen-response-cost" not in headers
    # Without partial_images the gateway asks the provider for the whole answer.
    assert "stream" not in openai_fake.last_request.json

    blocks = [block for block in text.split("\n\n") if block]
    assert len(blocks) == 2
    events = []
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert event_line == "event: image_generation.completed"
        assert data_line.startswith("data: ")
        events.append(json.loads(data_line.removeprefix("data: ")))
    fields = {"type", "b64_json", "background", "created_at", "output_format", "quality", "size"}
    assert set(events[0]) == {*fields, "usage"}
    # The last event also carries the call's cost facts, as the x-imagegen-* headers would.
    assert set(events[1]) == {*fields, "usage", "imagegen"}
    facts = events[1]["imagegen"]
    assert facts.keys() >= TRAILER_KEYS
    assert Decimal(facts["x-imagegen-response-cost"]) > 0
    assert facts["x-imagegen-attempts"] == "1"
    for event in events:
        assert event["quality"] == "low"
        assert event["background"] == "auto"
        assert png_size(event["b64_json"]) == (1024, 1024)
    first, last = (event["usage"] for event in events)
    assert first["total_tokens"] == 0
    assert last["output_tokens"] == 2 * 272
    assert last["input_tokens_details"]["text_tokens"] == last["input_tokens"] > 0


async def test_stream_errors_before_the_first_event_are_plain_error_responses(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    client = sdk(served)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(model="gpt-image-1", prompt="forbidden", stream=True)
    assert error_of(caught)["code"] == "content_policy_violation"

    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(
            model="dall-e-3", prompt="a fox", response_format="url", stream=True
        )
    assert error_of(caught)["param"] == "response_format"

    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(
            model="dall-e-3", prompt="a fox", stream=True, partial_images=2
        )
    error = error_of(caught)
    assert error["param"] == "partial_images"
    assert error["code"] == "unsupported_parameter"


async def test_stream_relays_partial_previews_then_the_image_with_its_cost(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    stream = await sdk(served).images.generate(
        model="gpt-image-1", prompt="a fox", quality="low", stream=True, partial_images=2
    )
    events = [event async for event in stream]

    sent = openai_fake.last_request.json
    assert (sent["stream"], sent["partial_images"]) == (True, 2)
    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]  # type: ignore[union-attr]
    completed = events[2]
    assert png_size(completed.b64_json) == (1024, 1024)
    assert completed.usage.output_tokens > 0  # type: ignore[union-attr]


async def test_stream_of_a_url_model_asks_the_provider_for_bytes(
    serve: ServeFactory, sdk: ClientFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    stream = await sdk(served).images.generate(
        model="dall-e-3", prompt="a fox", stream=True, partial_images=0
    )
    (event,) = [event async for event in stream]
    assert png_size(event.b64_json) == (1024, 1024)
    assert openai_fake.last_request.json["response_format"] == "b64_json"


# ----------------------------------------------------------------------------- models, health


async def test_models_list_in_openai_shape(
    serve: ServeFactory, sdk: ClientFactory, http: aiohttp.ClientSession, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    models = [model async for model in sdk(served).models.list()]
    assert [(m.id, m.object, m.owned_by) for m in models] == [
        ("gpt-image-1", "model", "openai"),
        ("dall-e-3", "model", "openai"),
    ]
    assert all(isinstance(m.created, int) and m.created > 0 for m in models)
    async with http.get(f"{served.http_base_url}/models") as response:
        document = await response.json()
    assert document["object"] == "list"
    assert [entry["id"] for entry in document["data"]] == ["gpt-image-1", "dall-e-3"]


async def test_unprefixed_generations_route_for_litellm_style_base_urls(
    serve: ServeFactory,
) -> None:
    served = await serve(embedded_settings())
    async with openai.AsyncOpenAI(base_url=served.http_base_url, api_key="sk-1234") as client:
        response = await client.images.generate(model="placeholder", prompt="otter", size="16x16")
    assert response.data is not None and len(response.data) == 1


async def test_health_endpoints(serve: ServeFactory, http: aiohttp.ClientSession) -> None:
    served = await serve(embedded_settings())
    for path in ("/health/liveliness", "/health/liveness"):
        async with http.get(f"{served.http_base_url}{path}") as response:
            assert response.status == 200
            assert await response.json() == {"status": "alive"}
    async with http.get(f"{served.http_base_url}/health/readiness") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ready"}


# ----------------------------------------------------------------------------- lifecycle


@pytest.fixture
async def started() -> AsyncIterator[Callable[[str], Awaitable[RunningServer]]]:
    """Servers a test stops itself (stop() is also called again at teardown: it must be safe)."""
    servers: list[RunningServer] = []

    async def factory(config_text: str) -> RunningServer:
        settings = parse_settings(config_text, source="test.yaml")
        running = await start_server(settings, host="127.0.0.1", port=0, http_port=0)
        servers.append(running)
        return running

    yield factory
    for running in servers:
        await running.stop(grace=0)


async def test_shutdown_turns_readiness_503_then_lets_in_flight_requests_finish(
    started: Callable[[str], Awaitable[RunningServer]],
    http: aiohttp.ClientSession,
    openai_fake: OpenAIFake,
) -> None:
    running = await started(openai_config(openai_fake))
    assert running.http is not None
    base = f"http://127.0.0.1:{running.http.port}"
    openai_fake.delay = 0.3
    in_flight = asyncio.ensure_future(
        http.post(
            f"{base}/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "a fox", "quality": "low"},
        )
    )
    await asyncio.wait_for(openai_fake.received.wait(), timeout=10)

    await running.begin_shutdown()
    async with http.get(f"{base}/health/readiness") as response:
        assert response.status == 503
        assert await response.json() == {"status": "shutting_down"}
    async with http.get(f"{base}/health/liveliness") as response:
        assert response.status == 200
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING

    await running.stop(grace=30)
    async with await in_flight as response:
        assert response.status == 200
        assert len((await response.json())["data"]) == 1
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{base}/health/liveliness"):
            pass


async def test_stop_without_grace_cancels_the_provider_call(
    started: Callable[[str], Awaitable[RunningServer]],
    http: aiohttp.ClientSession,
    openai_fake: OpenAIFake,
) -> None:
    running = await started(openai_config(openai_fake))
    assert running.http is not None
    in_flight = asyncio.ensure_future(
        http.post(
            f"http://127.0.0.1:{running.http.port}/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "hang"},
        )
    )
    await asyncio.wait_for(openai_fake.received.wait(), timeout=10)
    await asyncio.wait_for(running.stop(grace=0), timeout=10)
    await asyncio.wait_for(openai_fake.disconnected.wait(), timeout=10)
    with pytest.raises(aiohttp.ClientError):
        async with await in_flight:
            pass


async def test_client_hanging_up_cancels_the_provider_call(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(openai_config(openai_fake))
    async with aiohttp.ClientSession() as session:
        request = asyncio.ensure_future(
            session.post(
                f"{served.http_base_url}/v1/images/generations",
                json={"model": "gpt-image-1", "prompt": "hang"},
            )
        )
        await asyncio.wait_for(openai_fake.received.wait(), timeout=10)
        request.cancel()
    await asyncio.wait_for(openai_fake.disconnected.wait(), timeout=10)


async def test_http_door_can_be_turned_off() -> None:
    settings = parse_settings("server_settings:\n  http_port: null\n", source="test.yaml")
    running = await start_server(settings, host="127.0.0.1", port=0)
    try:
        assert running.http is None
        assert running.http_port is None
    finally:
        await running.stop(grace=0)


# ----------------------------------------------------------------------------- config


def test_http_port_defaults_to_4000() -> None:
    assert DEFAULT_HTTP_PORT == 4000
    assert ServerSettings().http_port == 4000
    assert parse_settings("model_list: []\n", source="t.yaml").server.http_port == 4000
    assert embedded_settings().server.http_port == 4000


@pytest.mark.parametrize(
    ("text", "port", "host"),
    [
        ("http_port: null", None, None),
        ("http_port: 0", 0, None),
        ("http_port: 8080\n  http_host: 127.0.0.1", 8080, "127.0.0.1"),
    ],
)
def test_http_settings_are_read(text: str, port: int | None, host: str | None) -> None:
    settings = parse_settings(f"server_settings:\n  {text}\n", source="t.yaml")
    assert settings.server.http_port == port
    assert settings.server.http_host == host


@pytest.mark.parametrize("value", ["70000", "-1", "four"])
def test_bad_http_port_fails_at_start(value: str) -> None:
    with pytest.raises(ConfigError, match="http_port"):
        parse_settings(f"server_settings:\n  http_port: {value}\n", source="t.yaml")


# ----------------------------------------------------------------------------- the process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _serving(grpc_port: int) -> None:
    """Wait (on the health service, no polling) until both doors are up."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=30)
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        async for status in watch:
            if status.status == health_pb2.HealthCheckResponse.SERVING:
                watch.cancel()
                return


async def test_imagegen_serve_process_serves_the_http_door(http: aiohttp.ClientSession) -> None:
    grpc_port, http_port = _free_port(), _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegen.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "OPENAI_API_KEY": ""},
    )
    try:
        await _serving(grpc_port)
        async with openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{http_port}/v1", api_key="sk-1234", max_retries=0
        ) as client:
            raw = await client.images.with_raw_response.generate(
                model="placeholder", prompt="a cute baby sea otter", size="32x32"
            )
        assert raw.headers["x-imagegen-response-cost"] == "0"
        response = raw.parse()
        assert response.data is not None
        assert png_size(response.data[0].b64_json or "") == (32, 32)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_imagegen_serve_no_http_serves_only_grpc(http: aiohttp.ClientSession) -> None:
    grpc_port, http_port = _free_port(), _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegen.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(grpc_port),
        "--no-http",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "OPENAI_API_KEY": ""},
    )
    try:
        await _serving(grpc_port)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(f"http://127.0.0.1:{http_port}/health/liveliness"):
                pass
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_http_port_in_use_fails_at_start_with_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "imagegen.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(_free_port()),
            "--http-port",
            str(http_port),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "OPENAI_API_KEY": ""},
        )
        assert process.stderr is not None
        stderr = (await asyncio.wait_for(process.stderr.read(), timeout=30)).decode()
        assert await process.wait() == 1
    assert "imagegen: cannot listen" in stderr
    assert str(http_port) in stderr
    assert "Traceback" not in stderr
