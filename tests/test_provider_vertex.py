"""The Vertex AI adapter against the Vertex fake, in process and through the gRPC server.

The fake is also the OAuth2 token endpoint: the service-account key made here (an RSA pair from
`cryptography`) points its `token_uri` at the fake, google-auth signs the JWT grant with the
private key, and the fake verifies it with the public one before issuing a token that the
Vertex routes then require.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.deadline import Deadline
from imagegen.errors import (
    ConfigError,
    ContentPolicyViolationError,
    DeadlineExceededError,
    ImageGenError,
    InvalidRequestError,
    PermissionDeniedError,
    ProviderAuthenticationError,
    ProviderBadResponseError,
    ProviderInvalidRequestError,
    ProviderModelNotFoundError,
    ProviderNotConfiguredError,
    ProviderPermissionDeniedError,
    ProviderQuotaExceededError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    UnsupportedParameterError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway, RequestCredentials
from imagegen.pricing import load_price_table
from imagegen.providers.base import CallParams, Endpoint, ProviderCall
from imagegen.providers.google_auth import GoogleTokenSource
from imagegen.providers.vertex import VERTEX_MODELS, VertexProvider, vertex_model
from imagegen.types import GeneratedImage, ImageRequest, ResponseFormat
from tests.conftest import TRAILER_KEYS, GatewayFactory, ServeFactory
from tests.fakes.vertex import VertexFake, service_account_info

PROJECT = "imagegen-test"
EMAIL = f"gateway@{PROJECT}.iam.gserviceaccount.com"
KEY_ID = "5f1c0ffee0ddba11"
MILLION = Decimal(1_000_000)
IMAGEN = "imagen-4.0-generate-001"
GEMINI_PRO = "gemini-3-pro-image-preview"
GEMINI_FLASH = "gemini-2.5-flash-image"
IMAGEN_RATIOS = "1:1, 3:4, 4:3, 9:16, 16:9"
VERTEX_ENV = (
    "VERTEXAI_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "VERTEXAI_LOCATION",
    "VERTEX_LOCATION",
    "GOOGLE_CLOUD_LOCATION",
    "VERTEXAI_CREDENTIALS",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
IMAGE_SAFETY_ANSWER = {
    "candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}],
    "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
}


@cache
def rsa_key(label: str) -> rsa.RSAPrivateKey:
    """One RSA key pair per label for the whole run (generating one takes ~50 ms)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_info(fake: VertexFake, key: rsa.RSAPrivateKey, project: str = PROJECT) -> dict[str, str]:
    return service_account_info(
        pem(key), email=EMAIL, key_id=KEY_ID, project=project, token_uri=fake.token_uri
    )


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The adapter and google-auth read these; a developer's real setup must not leak in.
    for name in VERTEX_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


@pytest.fixture
async def vertex_fake() -> AsyncIterator[VertexFake]:
    async with VertexFake(projects=(PROJECT,)) as fake:
        fake.add_service_account(EMAIL, KEY_ID, rsa_key("gateway").public_key())
        yield fake


@pytest.fixture
def key_file(vertex_fake: VertexFake, tmp_path: Path) -> Path:
    path = tmp_path / "vertex-key.json"
    path.write_text(json.dumps(key_info(vertex_fake, rsa_key("gateway"))))
    return path


def entry(
    name: str, model: str, fake: VertexFake, credentials: Any, **params: Any
) -> dict[str, Any]:
    """One model_list entry; a None value leaves the setting out."""
    litellm_params: dict[str, Any] = {
        "model": f"vertex_ai/{model}",
        "api_base": fake.base_url,
        "vertex_project": PROJECT,
        "vertex_credentials": str(credentials) if isinstance(credentials, Path) else credentials,
    }
    litellm_params.update(params)
    return {
        "model_name": name,
        "litellm_params": {k: v for k, v in litellm_params.items() if v is not None},
    }


def config(entries: Iterable[dict[str, Any]], **sections: Any) -> str:
    return yaml.safe_dump({"model_list": list(entries), **sections})


@pytest.fixture
def gateway(vertex_fake: VertexFake, key_file: Path, gateway_for: GatewayFactory) -> Gateway:
    """Imagen 4, Imagen 4 Ultra, Gemini 2.5 Flash Image and Gemini 3 Pro Image (global)."""
    return gateway_for(
        config(
            [
                entry("imagen", IMAGEN, vertex_fake, key_file),
                entry("ultra", "imagen-4.0-ultra-generate-001", vertex_fake, key_file),
                entry("flash", GEMINI_FLASH, vertex_fake, key_file),
                entry("pro", GEMINI_PRO, vertex_fake, key_file, vertex_location="global"),
            ]
        )
    )


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(**fields))


async def rejected(gateway: Gateway, error: type[ImageGenError], **fields: Any) -> ImageGenError:
    """The error `gateway` raises for the request; its class must be exactly `error`."""
    with pytest.raises(ImageGenError) as info:
        await generate(gateway, **fields)
    assert type(info.value) is error, repr(info.value)
    return info.value


def decoded(image: GeneratedImage) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(image.data())) as picture:
        picture.load()
        return picture.format, picture.size


def vertex_provider(gateway: Gateway | None = None) -> VertexProvider:
    """The gateway's own Vertex adapter (its token sources), or a fresh one."""
    provider = gateway.providers["vertex_ai"] if gateway is not None else VertexProvider()
    assert isinstance(provider, VertexProvider)
    return provider


def token_source(gateway: Gateway, model_name: str) -> GoogleTokenSource:
    deployment = gateway.settings.deployment(model_name)
    assert deployment is not None
    return vertex_provider(gateway).token_source(deployment.endpoint)


def bearer(fake: VertexFake, index: int = -1) -> str:
    scheme, _, token = fake.requests[index].headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def gemini_cost(
    prompt_tokens: int, image_tokens: int, thinking: int, rates: tuple[str, ...]
) -> Decimal:
    text_in, image_out, text_out = (Decimal(r) for r in rates)
    return (prompt_tokens * text_in + image_tokens * image_out + thinking * text_out) / MILLION


PRO_RATES = ("2.00", "120.00", "12.00")
FLASH_RATES = ("0.30", "30.00", "2.50")


# ----------------------------------------------------------------- Imagen: URL, auth, body


async def test_imagen_predict_url_token_body_images_and_cost(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="imagen",
        prompt="a red fox in snow",
        n=2,
        size="1280x720",
        provider_params={
            "negative_prompt": "blurry, text",
            "seed": 42,
            "add_watermark": False,
            "output_mime_type": "image/jpeg",
            "output_compression_quality": 80,
            "person_generation": "allow_adult",
            "safety_filter_level": "block_only_high",
        },
    )

    (sent,) = vertex_fake.requests
    assert sent.path == (
        f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/{IMAGEN}:predict"
    )
    assert bearer(vertex_fake) in vertex_fake.tokens
    assert sent.json == {
        "instances": [{"prompt": "a red fox in snow"}],
        "parameters": {
            "sampleCount": 2,
            "aspectRatio": "16:9",
            "sampleImageSize": "1K",
            "negativePrompt": "blurry, text",
            "seed": 42,
            "addWatermark": False,
            "personGeneration": "allow_adult",
            "safetySetting": "block_only_high",
            "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
            "includeRaiReason": True,
        },
    }
    images = generation.result.images
    assert [decoded(image) for image in images] == [("JPEG", (1408, 768))] * 2
    assert [(i.mime_type, i.width, i.height) for i in images] == [("image/jpeg", 1408, 768)] * 2
    assert generation.result.filtered == 0
    assert generation.facts.response_cost == Decimal("0.08")
    assert generation.facts.provider == "vertex_ai"
    assert generation.facts.api_base == vertex_fake.base_url


async def test_imagen_2k_tier_from_a_large_size_or_named_explicitly(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    by_size = await generate(gateway, model="imagen", prompt="a lighthouse", size="2048x2048")
    named = await generate(
        gateway, model="imagen", prompt="a lighthouse", provider_params={"image_size": "2K"}
    )

    first, second = vertex_fake.requests
    assert first.json["parameters"]["sampleImageSize"] == "2K"
    assert first.json["parameters"]["aspectRatio"] == "1:1"
    assert second.json["parameters"]["sampleImageSize"] == "2K"
    assert "aspectRatio" not in second.json["parameters"]
    assert decoded(by_size.result.images[0]) == ("PNG", (2048, 2048))
    assert decoded(named.result.images[0]) == ("PNG", (2048, 2048))


async def test_enhance_prompt_comes_back_as_revised_prompt(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway, model="imagen", prompt="a tiny robot", provider_params={"enhance_prompt": True}
    )

    assert vertex_fake.last_request.json["parameters"]["enhancePrompt"] is True
    revised = generation.result.images[0].revised_prompt
    assert revised is not None and revised.startswith("a tiny robot, ")


async def test_output_gcs_uri_returns_gs_urls_for_response_format_url(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="imagen",
        prompt="a harbour",
        n=2,
        response_format="url",
        provider_params={"output_gcs_uri": "gs://imagegen-out/run-1/"},
    )

    assert vertex_fake.last_request.json["parameters"]["storageUri"] == "gs://imagegen-out/run-1/"
    urls = [image.url for image in generation.result.images]
    assert all(not image.has_content for image in generation.result.images)
    assert [url.rsplit("/", 1)[1] for url in urls if url] == ["sample_0.png", "sample_1.png"]
    assert all(url and url.startswith("gs://imagegen-out/run-1/") for url in urls)
    assert generation.facts.response_cost == Decimal("0.08")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"response_format": "url"}, "response_format"),
        (
            {
                "response_format": "b64_json",
                "provider_params": {"output_gcs_uri": "gs://imagegen-out/"},
            },
            "response_format",
        ),
        (
            {"provider_params": {"output_gcs_uri": "https://example.com/"}},
            "provider_params.output_gcs_uri",
        ),
    ],
)
async def test_url_output_and_gcs_uri_must_agree_before_anything_is_sent(
    vertex_fake: VertexFake, gateway: Gateway, fields: dict[str, Any], field: str
) -> None:
    error = await rejected(gateway, InvalidRequestError, model="imagen", prompt="x", **fields)

    assert error.metadata["field"] == field
    assert error.metadata["request_sent"] == "false"
    assert error.facts is not None and error.facts.response_cost == Decimal(0)
    assert vertex_fake.requests == [] and vertex_fake.token_requests == []


# ----------------------------------------------------------------- Gemini: body, usage, cost


async def test_gemini_generate_content_body_skips_thoughts_and_prices_tokens(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="pro",
        prompt="a fox in the snow",
        size="2048x2048",
        provider_params={
            "person_generation": "ALLOW_ADULT",
            "output_mime_type": "image/jpeg",
            "seed": 7,
        },
    )

    (sent,) = vertex_fake.requests
    assert sent.path == (
        f"/v1/projects/{PROJECT}/locations/global/publishers/google/models/"
        f"{GEMINI_PRO}:generateContent"
    )
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "a fox in the snow"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "seed": 7,
            "imageConfig": {
                "aspectRatio": "1:1",
                "imageSize": "2K",
                "personGeneration": "ALLOW_ADULT",
                "imageOutputOptions": {"mimeType": "image/jpeg"},
            },
        },
    }
    # The fake sends a thought text and a 64x64 thought image before the real one.
    (image,) = generation.result.images
    assert decoded(image) == ("JPEG", (2048, 2048))
    usage = generation.result.usage
    assert usage is not None and usage.output_tokens_details is not None
    assert (usage.input_tokens, usage.output_tokens) == (5, 1120 + 250)
    assert usage.output_tokens_details.image_tokens == 1120
    assert usage.output_tokens_details.text_tokens == 250
    assert generation.facts.response_cost == gemini_cost(5, 1120, 250, PRO_RATES)


async def test_gemini_flash_ratio_from_size_and_per_token_cost(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="flash", prompt="a kite", size="1248x832")

    config_sent = vertex_fake.last_request.json["generationConfig"]
    # 2.5 Flash Image makes one tier: no imageSize is sent.
    assert config_sent == {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "3:2"}}
    assert decoded(generation.result.images[0]) == ("PNG", (1248, 832))
    assert generation.facts.response_cost == gemini_cost(2, 1290, 0, FLASH_RATES)


# ----------------------------------------------------------------- hosts, project, location


def call_for(endpoint: Endpoint, model: str) -> ProviderCall:
    spec = vertex_model(model).spec
    return ProviderCall(
        provider_model=model,
        spec=spec,
        params=CallParams(
            n=1, quality=None, size=None, style=None, user=None, response_format=None, extra={}
        ),
        prompt="p",
        endpoint=endpoint,
        deadline=Deadline.after(5),
    )


@pytest.mark.parametrize(
    ("options", "api_base", "api_version", "url"),
    [
        (
            {"vertex_project": "p1", "vertex_location": "europe-west4"},
            None,
            None,
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/"
            "europe-west4/publishers/google/models/M",
        ),
        (
            {"vertex_project": "p1", "vertex_location": "global"},
            None,
            None,
            "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/"
            "google/models/M",
        ),
        (
            {"vertex_ai_project": "p1", "vertex_ai_location": "eu"},
            None,
            "v1beta1",
            "https://aiplatform.eu.rep.googleapis.com/v1beta1/projects/p1/locations/eu/"
            "publishers/google/models/M",
        ),
        (
            {"vertex_project": "example.com:p1"},
            "http://127.0.0.1:9/v1beta1/",
            None,
            "http://127.0.0.1:9/v1beta1/projects/example.com:p1/locations/us-central1/"
            "publishers/google/models/M",
        ),
    ],
)
@pytest.mark.parametrize(
    ("model", "method"), [("imagegeneration@006", "predict"), (GEMINI_FLASH, "generateContent")]
)
def test_hosts_versions_and_routes(
    options: dict[str, str],
    api_base: str | None,
    api_version: str | None,
    url: str,
    model: str,
    method: str,
) -> None:
    endpoint = Endpoint(api_base=api_base, api_version=api_version, options=options)
    request = vertex_provider().build_request(call_for(endpoint, model))

    assert request.url == url.replace("/M", f"/{model}:{method}")
    assert request.headers == {}
    assert vertex_provider().api_base(endpoint) == url.split("/v1")[0]


def test_project_and_location_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTEXAI_PROJECT", "env-project")
    monkeypatch.setenv("VERTEXAI_LOCATION", "asia-northeast1")
    request = vertex_provider().build_request(call_for(Endpoint(), IMAGEN))

    assert request.url == (
        "https://asia-northeast1-aiplatform.googleapis.com/v1/projects/env-project/locations/"
        f"asia-northeast1/publishers/google/models/{IMAGEN}:predict"
    )


async def test_project_defaults_to_the_keys_project_id(
    vertex_fake: VertexFake, key_file: Path, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("imagen", IMAGEN, vertex_fake, key_file, vertex_project=None)])
    )
    await generate(gateway, model="imagen", prompt="a bridge")

    assert vertex_fake.last_request.path.startswith(f"/v1/projects/{PROJECT}/locations/")


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"vertex_location": "Europe West"}, "is not a location"),
        ({"vertex_project": "bad/project"}, "is not a project id"),
        ({"api_version": "v2"}, "api_version must be one of v1, v1beta1"),
        ({"vertex_credentials": 42}, "vertex_credentials must be"),
    ],
)
def test_bad_endpoint_settings_fail_at_config_load(
    vertex_fake: VertexFake, setting: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_settings(config([entry("imagen", IMAGEN, vertex_fake, "/k.json", **setting)]))


# ----------------------------------------------------------------- credentials


async def test_key_as_inline_json_and_as_a_yaml_mapping(
    vertex_fake: VertexFake, gateway_for: GatewayFactory
) -> None:
    info = key_info(vertex_fake, rsa_key("gateway"))
    gateway = gateway_for(
        config(
            [
                entry("as-text", IMAGEN, vertex_fake, json.dumps(info)),
                entry("as-mapping", IMAGEN, vertex_fake, info),
            ]
        )
    )
    await generate(gateway, model="as-text", prompt="a")
    await generate(gateway, model="as-mapping", prompt="b")

    # The same key either way: one credential, one token.
    assert len(vertex_fake.token_requests) == 1
    assert bearer(vertex_fake, 0) == bearer(vertex_fake, 1)


async def test_application_default_credentials_from_the_environment(
    vertex_fake: VertexFake,
    key_file: Path,
    gateway_for: GatewayFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    gateway = gateway_for(config([entry("imagen", IMAGEN, vertex_fake, None, vertex_project=None)]))
    await generate(gateway, model="imagen", prompt="a meadow")

    assert len(vertex_fake.token_requests) == 1
    assert vertex_fake.last_request.path.startswith(f"/v1/projects/{PROJECT}/")


async def test_token_request_is_googles_jwt_bearer_grant(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    await generate(gateway, model="imagen", prompt="a cat")

    (grant,) = vertex_fake.token_requests
    assert grant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in grant.body
    issued = vertex_fake.tokens[bearer(vertex_fake)]
    assert issued.email == EMAIL
    assert issued.scopes == {"https://www.googleapis.com/auth/cloud-platform"}


async def test_key_the_token_endpoint_does_not_trust_is_an_operator_auth_failure(
    vertex_fake: VertexFake, tmp_path: Path, gateway_for: GatewayFactory
) -> None:
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(key_info(vertex_fake, rsa_key("forger"))))
    gateway = gateway_for(config([entry("imagen", IMAGEN, vertex_fake, forged)]))

    error = await rejected(gateway, ProviderAuthenticationError, model="imagen", prompt="x")

    assert "Invalid JWT Signature" in error.message
    assert "BEGIN PRIVATE KEY" not in error.message and str(forged) not in error.message
    assert error.metadata["request_sent"] == "false"
    assert error.facts is not None and error.facts.response_cost == Decimal(0)
    assert len(vertex_fake.token_requests) == 1
    assert vertex_fake.requests == []


@pytest.mark.parametrize("where", ["config", "adc"])
async def test_missing_key_file_is_provider_not_configured_without_the_path(
    vertex_fake: VertexFake,
    tmp_path: Path,
    gateway_for: GatewayFactory,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    missing = tmp_path / "nowhere" / "key.json"
    if where == "adc":
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))
        gateway = gateway_for(config([entry("imagen", IMAGEN, vertex_fake, None)]))
    else:
        gateway = gateway_for(config([entry("imagen", IMAGEN, vertex_fake, missing)]))

    error = await rejected(gateway, ProviderNotConfiguredError, model="imagen", prompt="x")

    assert str(tmp_path) not in error.message
    assert "could not be loaded" in error.message
    assert vertex_fake.requests == [] and vertex_fake.token_requests == []


async def test_token_endpoint_answer_without_a_token_is_an_auth_failure(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    vertex_fake.fail_token_next(200, {"token_type": "Bearer", "expires_in": 3599})
    error = await rejected(gateway, ProviderAuthenticationError, model="imagen", prompt="x")

    assert "No access token" in error.message
    assert error.metadata["request_sent"] == "false"
    assert vertex_fake.requests == []


async def test_unreachable_token_endpoint_is_provider_unavailable(
    vertex_fake: VertexFake, tmp_path: Path, gateway_for: GatewayFactory
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    info = {
        **key_info(vertex_fake, rsa_key("gateway")),
        "token_uri": f"http://127.0.0.1:{closed}/t",
    }
    gateway = gateway_for(config([entry("imagen", IMAGEN, vertex_fake, info)]))

    error = await rejected(gateway, ProviderUnavailableError, model="imagen", prompt="x")

    assert error.message == "could not reach the Google token endpoint"
    assert error.facts is not None and error.facts.response_cost == Decimal(0)
    assert vertex_fake.requests == []


# ----------------------------------------------------------------- token cache and refresh


async def test_one_token_serves_many_requests_and_concurrent_ones_share_the_fetch(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    await asyncio.gather(*(generate(gateway, model="flash", prompt=f"scene {i}") for i in range(8)))
    for i in range(3):
        await generate(gateway, model="imagen", prompt=f"later {i}")

    assert len(vertex_fake.token_requests) == 1
    assert token_source(gateway, "flash").fetches == 1
    assert len({bearer(vertex_fake, i) for i in range(11)}) == 1


async def test_token_is_refreshed_before_it_expires_once_for_concurrent_requests(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    await generate(gateway, model="flash", prompt="first")
    first = bearer(vertex_fake)
    source = token_source(gateway, "flash")
    now = source.clock()
    # 59 minutes on: the 3599 s token has a minute left, inside the refresh margin.
    source.clock = lambda: now + timedelta(minutes=59)

    await asyncio.gather(*(generate(gateway, model="flash", prompt=f"p{i}") for i in range(4)))

    assert len(vertex_fake.token_requests) == 2
    assert source.fetches == 2
    later = {bearer(vertex_fake, i) for i in range(1, 5)}
    assert len(later) == 1 and first not in later
    source.clock = lambda: now
    await generate(gateway, model="flash", prompt="after")
    assert len(vertex_fake.token_requests) == 2


async def test_token_the_provider_rejects_is_replaced_and_the_call_retried_once(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    await generate(gateway, model="imagen", prompt="first")
    vertex_fake.expire_tokens()

    generation = await generate(gateway, model="imagen", prompt="second")

    assert len(generation.result.images) == 1
    assert len(vertex_fake.token_requests) == 2
    assert [bearer(vertex_fake, i) == bearer(vertex_fake, 0) for i in range(3)] == [
        True,
        True,
        False,
    ]


async def test_a_persistent_401_is_an_operator_auth_failure(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    body = {
        "error": {
            "code": 401,
            "status": "UNAUTHENTICATED",
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
        }
    }
    vertex_fake.fail_next(401, body)
    vertex_fake.fail_next(401, body)

    error = await rejected(gateway, ProviderAuthenticationError, model="imagen", prompt="x")

    assert error.code.name == "FAILED_PRECONDITION"
    assert error.metadata["upstream_status"] == "401"
    assert len(vertex_fake.requests) == 2
    assert len(vertex_fake.token_requests) == 2
    assert bearer(vertex_fake, 0) not in error.message


async def test_token_fetch_within_the_callers_deadline_goes_on_for_the_next_caller(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    vertex_fake.token_gate = gate = asyncio.Event()
    error = await rejected(gateway, DeadlineExceededError, model="imagen", prompt="x", timeout=0.2)

    assert "access token" in error.message
    assert error.facts is not None and error.facts.response_cost == Decimal(0)
    assert vertex_fake.requests == []
    # The refresh the first caller gave up on is still running; the next caller joins it.
    gate.set()
    await generate(gateway, model="imagen", prompt="y")
    assert len(vertex_fake.token_requests) == 1
    assert token_source(gateway, "imagen").fetches == 1


async def test_fake_accepts_only_tokens_it_issued_and_not_after_expiry(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    await generate(gateway, model="imagen", prompt="warm up")
    token = bearer(vertex_fake)
    url = (
        f"{vertex_fake.base_url}/v1/projects/{PROJECT}/locations/us-central1/publishers/"
        f"google/models/{IMAGEN}:predict"
    )
    body = {"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 1}}
    async with httpx.AsyncClient() as client:
        ok = await client.post(url, json=body, headers={"authorization": f"Bearer {token}"})
        forged = await client.post(url, json=body, headers={"authorization": "Bearer ya29.x"})
        missing = await client.post(url, json=body)
        vertex_fake.expire_tokens()
        expired = await client.post(url, json=body, headers={"authorization": f"Bearer {token}"})

    assert ok.status_code == 200
    for answer, reason in (
        (forged, "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
        (missing, "CREDENTIALS_MISSING"),
        (expired, "ACCESS_TOKEN_EXPIRED"),
    ):
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["status"] == "UNAUTHENTICATED"
        assert error["details"][0]["reason"] == reason


async def test_fake_rejects_gemini_on_predict_as_vertex_does(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    await generate(gateway, model="flash", prompt="warm up")
    url = (
        f"{vertex_fake.base_url}/v1/projects/{PROJECT}/locations/us-central1/publishers/"
        f"google/models/{GEMINI_FLASH}:predict"
    )
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            url,
            json={"instances": [{"prompt": "p"}]},
            headers={"authorization": f"Bearer {bearer(vertex_fake)}"},
        )

    assert answer.status_code == 400
    assert "Predict/RawPredict" in answer.json()["error"]["message"]


# ----------------------------------------------------------------- express mode, security


async def test_express_mode_api_key_on_the_global_publisher_path(
    vertex_fake: VertexFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            [
                entry("good", GEMINI_FLASH, vertex_fake, None, api_key=vertex_fake.api_key),
                entry("bad", GEMINI_FLASH, vertex_fake, None, api_key="AIza-wrong"),
            ]
        )
    )
    await generate(gateway, model="good", prompt="a dune")

    sent = vertex_fake.last_request
    assert sent.path == f"/v1/publishers/google/models/{GEMINI_FLASH}:generateContent"
    assert sent.headers["x-goog-api-key"] == vertex_fake.api_key
    assert "authorization" not in sent.headers
    assert vertex_fake.token_requests == []

    error = await rejected(gateway, ProviderAuthenticationError, model="bad", prompt="x")
    assert error.metadata["upstream_status"] == "400"
    assert error.metadata["upstream_code"] == "API_KEY_INVALID"


async def test_google_credentials_never_go_to_a_caller_chosen_api_base(
    vertex_fake: VertexFake, key_file: Path
) -> None:
    settings = parse_settings(config([entry("imagen", IMAGEN, vertex_fake, key_file)]))
    gateway = Gateway(settings, request_credentials=RequestCredentials.ACCEPT)
    try:
        error = await rejected(
            gateway,
            PermissionDeniedError,
            model="imagen",
            prompt="x",
            api_base="http://127.0.0.1:9/steal",
        )
    finally:
        await gateway.aclose()

    # The gateway refuses a caller-chosen host without the caller's own key, before any
    # token is minted.
    assert error.metadata["field"] == "api_key"
    assert vertex_fake.token_requests == [] and vertex_fake.requests == []


# ----------------------------------------------------------------- sizes


async def test_ratio_text_maps_directly_and_sends_no_tier(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen", prompt="a dock", size="9:16")

    parameters = vertex_fake.last_request.json["parameters"]
    assert parameters["aspectRatio"] == "9:16"
    assert "sampleImageSize" not in parameters
    assert decoded(generation.result.images[0]) == ("PNG", (768, 1408))


@pytest.mark.parametrize(
    ("model", "accepts"),
    [("imagen", IMAGEN_RATIOS), ("flash", "1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9")],
)
async def test_unsupported_ratio_is_rejected_listing_what_the_model_takes(
    vertex_fake: VertexFake, gateway: Gateway, model: str, accepts: str
) -> None:
    error = await rejected(gateway, InvalidRequestError, model=model, prompt="x", size="1000x100")

    (violation,) = error.field_violations
    assert violation.field == "size"
    assert accepts in violation.description
    assert vertex_fake.requests == [] and vertex_fake.token_requests == []


async def test_size_larger_than_the_largest_tier_is_rejected_before_a_token_is_fetched(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, InvalidRequestError, model="imagen", prompt="x", size="4096x4096"
    )

    assert "1K, 2K" in error.message
    assert error.metadata["request_sent"] == "false"
    assert vertex_fake.requests == [] and vertex_fake.token_requests == []


async def test_coerce_size_picks_the_nearest_ratio_and_reports_it(
    vertex_fake: VertexFake, key_file: Path, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("imagen", IMAGEN, vertex_fake, key_file, coerce_size=True)])
    )
    generation = await generate(gateway, model="imagen", prompt="a plain", size="1792x1024")

    assert vertex_fake.last_request.json["parameters"]["aspectRatio"] == "16:9"
    assert generation.facts.size_requested == "1792x1024"
    assert generation.facts.size_actual == "16:9"


async def test_parameters_a_model_does_not_take_are_refused_or_dropped(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    quality = await rejected(
        gateway, UnsupportedParameterError, model="imagen", prompt="x", quality="hd"
    )
    negative = await rejected(
        gateway,
        UnsupportedParameterError,
        model="flash",
        prompt="x",
        provider_params={"negative_prompt": "no"},
    )
    tier = await rejected(
        gateway,
        UnsupportedParameterError,
        model="flash",
        prompt="x",
        provider_params={"image_size": "2K"},
    )
    url = await rejected(
        gateway, UnsupportedParameterError, model="flash", prompt="x", response_format="url"
    )
    dropped = await generate(
        gateway, model="imagen", prompt="x", quality="hd", user="u1", drop_params=True
    )

    assert quality.metadata["field"] == "quality"
    assert negative.metadata["field"] == "provider_params.negative_prompt"
    assert tier.metadata["field"] == "provider_params.image_size"
    assert url.metadata["field"] == "response_format"
    assert set(dropped.state.dropped_params) == {"quality", "user"}
    assert len(vertex_fake.requests) == 1


# ----------------------------------------------------------------- safety


async def test_imagen_prompt_refusal_is_a_free_content_policy_violation(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="imagen", prompt="something forbidden"
    )

    assert "Support codes" in error.message
    assert error.metadata["upstream_status"] == "400"
    assert error.facts is not None and error.facts.response_cost == Decimal(0)


@pytest.mark.parametrize(("rai", "says"), [(None, "Support codes"), (False, "every generated")])
async def test_imagen_every_image_filtered_is_a_free_content_policy_violation(
    vertex_fake: VertexFake, gateway: Gateway, rai: bool | None, says: str
) -> None:
    params = {} if rai is None else {"include_rai_reason": rai}
    error = await rejected(
        gateway,
        ContentPolicyViolationError,
        model="imagen",
        prompt="an unsafeimage",
        n=3,
        provider_params=params,
    )

    assert says in error.message
    assert error.facts is not None and error.facts.response_cost == Decimal(0)


async def test_imagen_some_images_filtered_are_reported_and_not_billed(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen", prompt="partlyunsafe", n=4)

    assert len(generation.result.images) == 2
    assert generation.result.filtered == 2
    assert generation.facts.filtered == 2
    assert generation.facts.response_cost == Decimal("0.08")


@pytest.mark.parametrize(
    ("prompt", "code"),
    [
        ("a forbidden scene", "PROHIBITED_CONTENT"),
        ("an unsafeimage", "IMAGE_SAFETY"),
        ("noimage please", "NO_IMAGE"),
    ],
)
async def test_gemini_safety_outcomes_are_content_policy_violations_of_unknown_cost(
    vertex_fake: VertexFake, gateway: Gateway, prompt: str, code: str
) -> None:
    error = await rejected(gateway, ContentPolicyViolationError, model="flash", prompt=prompt)

    assert error.metadata["upstream_code"] == code
    # Prompt tokens may have been billed and an error carries no usage.
    assert error.facts is not None and error.facts.response_cost is None


async def test_gemini_answer_without_an_image_is_a_bad_response(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    error = await rejected(gateway, ProviderBadResponseError, model="flash", prompt="textonly")

    assert error.metadata["upstream_code"] == "STOP"
    assert "could not draw it" in error.message


# ----------------------------------------------------------------- errors


async def test_rate_limit_with_and_without_retry_info(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    plain = await rejected(gateway, ProviderRateLimitedError, model="imagen", prompt="ratelimit")
    vertex_fake.retry_delay = "37s"
    timed = await rejected(gateway, ProviderRateLimitedError, model="flash", prompt="ratelimit")

    assert plain.retry_after is None
    assert timed.retry_after == 37
    assert timed.metadata["upstream_code"] == "RESOURCE_EXHAUSTED"


async def test_daily_quota_in_a_list_shaped_error_body(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    vertex_fake.fail_next(
        429,
        [  # type: ignore[arg-type]
            {
                "error": {
                    "code": 429,
                    "status": "RESOURCE_EXHAUSTED",
                    "message": "Quota exceeded for aiplatform.googleapis.com/generate_content.",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}],
                        },
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3.5s"},
                    ],
                }
            }
        ],
    )
    error = await rejected(gateway, ProviderQuotaExceededError, model="flash", prompt="x")

    assert error.retry_after == 3.5
    assert "Quota exceeded" in error.message


@pytest.mark.parametrize(("prompt", "status"), [("servererror", "500"), ("unavailable", "503")])
async def test_server_errors_are_provider_unavailable(
    vertex_fake: VertexFake, gateway: Gateway, prompt: str, status: str
) -> None:
    error = await rejected(gateway, ProviderUnavailableError, model="imagen", prompt=prompt)

    assert error.metadata["upstream_status"] == status
    assert error.facts is not None and error.facts.response_cost == Decimal(0)


async def test_project_without_permission_is_permission_denied(
    vertex_fake: VertexFake, key_file: Path, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config([entry("imagen", IMAGEN, vertex_fake, key_file, vertex_project="someone-else")])
    )
    error = await rejected(gateway, ProviderPermissionDeniedError, model="imagen", prompt="x")

    assert "aiplatform.endpoints.predict" in error.message
    assert error.metadata["upstream_code"] == "IAM_PERMISSION_DENIED"


@pytest.mark.parametrize("retired", [True, False])
async def test_unknown_or_retired_model_is_provider_model_not_found(
    vertex_fake: VertexFake, key_file: Path, gateway_for: GatewayFactory, retired: bool
) -> None:
    model = IMAGEN if retired else "imagen-9.0-generate-001"
    if retired:
        vertex_fake.retired.add(IMAGEN)
    gateway = gateway_for(config([entry("m", model, vertex_fake, key_file)]))

    error = await rejected(gateway, ProviderModelNotFoundError, model="m", prompt="x")

    assert f"models/{model}" in error.message
    assert vertex_fake.last_request.path.endswith(f"/{model}:predict")


async def test_provider_side_validation_error_names_the_field(
    vertex_fake: VertexFake, key_file: Path, gateway_for: GatewayFactory
) -> None:
    # An unknown Gemini model passes parameters through unchecked: Vertex judges them.
    gateway = gateway_for(config([entry("g", "gemini-9-image", vertex_fake, key_file)]))
    vertex_fake.fail_next(
        400,
        {
            "error": {
                "code": 400,
                "status": "INVALID_ARGUMENT",
                "message": 'Invalid JSON payload received. Unknown name "topQ"',
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": "generation_config", "description": "x"}],
                    }
                ],
            }
        },
    )
    error = await rejected(
        gateway, ProviderInvalidRequestError, model="g", prompt="x", provider_params={"topQ": 1}
    )

    assert vertex_fake.last_request.json["generationConfig"]["topQ"] == 1
    assert error.metadata["field"] == "generation_config"


async def test_fake_validates_the_body_as_vertex_does(
    vertex_fake: VertexFake, key_file: Path, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config([entry("g", GEMINI_FLASH, vertex_fake, key_file)]))
    await generate(gateway, model="g", prompt="warm up")
    url = (
        f"{vertex_fake.base_url}/v1/projects/{PROJECT}/locations/us-central1/publishers/"
        f"google/models/{GEMINI_FLASH}:generateContent"
    )
    contents = [{"parts": [{"text": "p"}]}]
    headers = {"authorization": f"Bearer {bearer(vertex_fake)}"}
    async with httpx.AsyncClient() as client:
        snake = await client.post(
            url,
            headers=headers,
            json={
                "contents": contents,
                "generation_config": {
                    "response_modalities": ["IMAGE"],
                    "image_config": {"aspect_ratio": "4:5"},
                },
            },
        )
        unknown = await client.post(
            url, headers=headers, json={"contents": contents, "generationConfig": {"topQ": 1}}
        )
        tier = await client.post(
            url,
            headers=headers,
            json={"contents": contents, "generationConfig": {"imageConfig": {"imageSize": "4K"}}},
        )

    assert snake.status_code == 200
    assert unknown.status_code == 400
    assert (
        unknown.json()["error"]["details"][0]["fieldViolations"][0]["field"] == "generation_config"
    )
    assert tier.status_code == 400


# ----------------------------------------------------------------- n fan-out


async def test_imagen_n_above_four_is_split_into_parallel_calls(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="imagen", prompt="a field", n=6)

    counts = sorted(r.json["parameters"]["sampleCount"] for r in vertex_fake.requests)
    assert counts == [2, 4]
    assert len(generation.result.images) == 6
    assert generation.facts.attempts == 2
    assert generation.facts.response_cost == Decimal("0.24")


async def test_imagen_ultra_makes_one_image_per_call(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="ultra", prompt="a valley", n=2)

    assert [r.json["parameters"]["sampleCount"] for r in vertex_fake.requests] == [1, 1]
    assert generation.facts.response_cost == Decimal("0.12")


async def test_gemini_fan_out_with_one_failing_sub_call_reports_what_was_billed(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    vertex_fake.fail_next(500, {"error": {"code": 500, "status": "INTERNAL", "message": "boom"}})

    error = await rejected(gateway, ProviderUnavailableError, model="flash", prompt="a b", n=3)

    assert len(vertex_fake.requests) == 3
    assert len(vertex_fake.token_requests) == 1
    assert error.facts is not None
    assert error.facts.response_cost == 2 * gemini_cost(2, 1290, 0, FLASH_RATES)


async def test_gemini_fan_out_with_one_safety_filtered_sub_call(
    vertex_fake: VertexFake, gateway: Gateway
) -> None:
    vertex_fake.fail_next(200, IMAGE_SAFETY_ANSWER)

    generation = await generate(gateway, model="flash", prompt="a b", n=3)

    assert len(generation.result.images) == 2
    assert generation.facts.filtered == 1
    assert generation.facts.response_cost == 2 * gemini_cost(2, 1290, 0, FLASH_RATES)


# ----------------------------------------------------------------- gRPC end to end


def text_trailers(metadata: Any) -> dict[str, str]:
    return {key: value for key, value in metadata or () if isinstance(value, str)}


async def test_generate_images_through_the_grpc_server(
    serve: ServeFactory, vertex_fake: VertexFake, key_file: Path
) -> None:
    served = await serve(
        config(
            [
                entry("imagen", IMAGEN, vertex_fake, key_file),
                entry("pro", GEMINI_PRO, vertex_fake, key_file, vertex_location="global"),
            ]
        )
    )

    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a red fox", model="imagen", n=2, size="16:9")
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())
    assert [(i.mime_type, i.width, i.height) for i in response.images] == [
        ("image/png", 1408, 768)
    ] * 2
    assert Image.open(io.BytesIO(response.images[0].data)).size == (1408, 768)
    assert response.cost.response_cost == "0.08"
    assert response.cost.provider == "vertex_ai"
    assert trailers.keys() >= TRAILER_KEYS
    assert trailers["x-imagegen-response-cost"] == "0.08"
    assert trailers["x-imagegen-provider"] == "vertex_ai"
    assert trailers["x-imagegen-api-base"] == vertex_fake.base_url

    vertex_fake.fail_next(200, IMAGE_SAFETY_ANSWER)
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a red fox", model="pro", n=2, size="1024x1024")
    )
    response = await call
    trailers = text_trailers(await call.trailing_metadata())
    one_image = gemini_cost(3, 1120, 250, PRO_RATES)
    assert len(response.images) == 1
    assert response.filtered_count == 1
    assert trailers["x-imagegen-filtered-count"] == "1"
    assert Decimal(response.cost.response_cost) == one_image
    assert Decimal(trailers["x-imagegen-response-cost"]) == one_image
    assert response.usage.output_tokens_details.image_tokens == 1120
    assert len(vertex_fake.token_requests) == 1


async def test_refusal_through_the_grpc_server_is_invalid_argument_with_its_reason(
    serve: ServeFactory, vertex_fake: VertexFake, key_file: Path
) -> None:
    served = await serve(config([entry("imagen", IMAGEN, vertex_fake, key_file)]))

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await served.stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="forbidden", model="imagen")
        )

    error = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    reasons = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            unpacked = error_details_pb2.ErrorInfo()
            detail.Unpack(unpacked)
            reasons.append(unpacked.reason)
    assert reasons == ["CONTENT_POLICY_VIOLATION"]
    assert text_trailers(error.trailing_metadata())["x-imagegen-response-cost"] == "0"


async def test_list_models_describes_the_vertex_models(
    serve: ServeFactory, vertex_fake: VertexFake, key_file: Path
) -> None:
    served = await serve(
        config(
            [
                entry("imagen", IMAGEN, vertex_fake, key_file),
                entry("pro", GEMINI_PRO, vertex_fake, key_file),
                entry("other", "imagen-5.0-preview", vertex_fake, key_file),
            ]
        )
    )
    models = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}

    imagen, pro, other = models["imagen"], models["pro"], models["other"]
    assert (imagen.provider, imagen.provider_model) == ("vertex_ai", IMAGEN)
    assert list(imagen.aspect_ratios) == IMAGEN_RATIOS.split(", ")
    assert (imagen.max_n, imagen.fan_out, imagen.price_basis) == (10, True, "per_image")
    assert {
        "n",
        "size",
        "response_format",
        "provider_params.negative_prompt",
        "provider_params.seed",
        "provider_params.add_watermark",
        "provider_params.output_gcs_uri",
        "provider_params.output_mime_type",
        "provider_params.image_size",
    } <= set(imagen.supported_params)
    assert list(pro.aspect_ratios)[-1] == "21:9"
    assert (pro.fan_out, pro.price_basis) == (True, "per_token")
    assert "provider_params.negative_prompt" not in pro.supported_params
    assert "provider_params.person_generation" in pro.supported_params
    assert other.price_basis == "unknown"
    assert list(pro.sizes) == [] and list(pro.qualities) == []


# ----------------------------------------------------------------- model table


@pytest.mark.parametrize(
    ("model", "family", "route"),
    [
        ("imagen-4.0-generate-001", "imagen-4.0-generate", "predict"),
        ("imagen-4.0-generate-preview-06-06", "imagen-4.0-generate", "predict"),
        ("imagen-4.0-ultra-generate-001", "imagen-4.0-ultra-generate", "predict"),
        ("imagen-3.0-generate-002", "imagen-3.0-generate", "predict"),
        ("imagegeneration@006", "imagegeneration", "predict"),
        ("gemini-3-pro-image-preview", "gemini-3-pro-image", "generateContent"),
        ("gemini-3.1-flash-image-preview", "gemini-3.1-flash-image", "generateContent"),
        ("gemini-2.5-flash-image", "gemini-2.5-flash-image", "generateContent"),
        ("gemini-4-image-experimental", "gemini-image", "generateContent"),
        ("some-publisher-model", "imagen", "predict"),
    ],
)
def test_model_families_and_routes(model: str, family: str, route: str) -> None:
    found = vertex_model(model)
    assert (found.spec.family, found.route.value) == (family, route)
    assert found.spec.known == (family not in ("imagen", "gemini-image"))


def test_every_known_model_is_priced() -> None:
    prices = load_price_table()
    for model in VERTEX_MODELS:
        family = vertex_model(model).spec.family
        assert prices.lookup("vertex_ai", family) is not None, model


def test_response_formats_follow_the_family() -> None:
    assert vertex_model(IMAGEN).spec.response_formats == (
        ResponseFormat.B64_JSON,
        ResponseFormat.URL,
    )
    assert vertex_model(GEMINI_PRO).spec.response_formats == (ResponseFormat.B64_JSON,)
