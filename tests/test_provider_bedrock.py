"""The AWS Bedrock adapter (`bedrock/...`) against the Bedrock fake.

The fake verifies every SigV4 signature by recomputing it with botocore from its own copy of the
test credentials, so a request that reaches a handler was signed right: path encoding, signed
headers and the exact body bytes. Covered through the in-process Gateway and end to end through
the gRPC server: credentials (config, environment, shared files and profiles, credential
processes with refresh, Bedrock API keys), regions, body mapping per model family, sizes and
aspect ratios, every safety outcome, every error shape, n fan-out and the cost of each model.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import Settings, parse_settings
from imagegen.deadline import Deadline
from imagegen.deployment import Deployment
from imagegen.errors import (
    CallerCredentialRejectedError,
    Code,
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
    ProviderTimeoutError,
    ProviderUnavailableError,
    UnsupportedParameterError,
)
from imagegen.events import Generation
from imagegen.gateway import Gateway, RequestCredentials
from imagegen.pricing import load_price_table
from imagegen.providers.base import CallParams, Endpoint, ProviderCall, check_params
from imagegen.providers.bedrock import BedrockProvider
from imagegen.providers.bedrock_models import (
    FAMILIES,
    NOVA_CANVAS,
    SDXL,
    STABILITY_ASPECT_RATIOS,
    TITAN_SIZES,
    Shape,
    base_model_id,
)
from imagegen.providers.transport import HttpResponse
from imagegen.sizes import choose_aspect_ratio
from imagegen.types import GeneratedImage, ImageRequest, ResponseFormat
from tests.conftest import TRAILER_KEYS, GatewayFactory, ServeFactory
from tests.fakes.bedrock import (
    ACCESS_KEY_ID,
    ALL_BLOCKED,
    API_KEY,
    INPUT_BLOCKED,
    REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    TEMP_ACCESS_KEY_ID,
    TEMP_SECRET_ACCESS_KEY,
    BedrockFake,
    FakeModel,
)
from tests.fakes.images import png_bytes

# Public model name -> Bedrock model id, all served by the fake.
MODELS = {
    "sd35": "stability.sd3-5-large-v1:0",
    "sd3": "stability.sd3-large-v1:0",
    "ultra": "stability.stable-image-ultra-v1:1",
    "core": "stability.stable-image-core-v1:0",
    "sdxl": "stability.stable-diffusion-xl-v1",
    "titan1": "amazon.titan-image-generator-v1",
    "titan2": "amazon.titan-image-generator-v2:0",
    "nova": "amazon.nova-canvas-v1:0",
    "nova-us": "us.amazon.nova-canvas-v1:0",
}
# Every variable botocore's chain or the adapter reads: a developer's own AWS setup must not
# leak into a test.
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_BEDROCK_RUNTIME_ENDPOINT",
)


def provider(gateway: Gateway | None = None) -> BedrockProvider:
    """The gateway's own Bedrock adapter (its credential chain), or a fresh one."""
    adapter = gateway.providers["bedrock"] if gateway is not None else BedrockProvider()
    assert isinstance(adapter, BedrockProvider)
    return adapter


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield


@pytest.fixture
def env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's long-term keys and region in the environment (botocore's EnvProvider)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
async def bedrock_fake() -> AsyncIterator[BedrockFake]:
    async with BedrockFake() as fake:
        yield fake


def entry(name: str, model: str, api_base: str, **params: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "model_name": name,
        "litellm_params": {"model": f"bedrock/{model}", "api_base": api_base, **params},
    }
    return item


def config(api_base: str, models: dict[str, str] | None = None, **params: Any) -> str:
    chosen = MODELS if models is None else models
    return yaml.safe_dump(
        {"model_list": [entry(name, model, api_base, **params) for name, model in chosen.items()]}
    )


def with_options(api_base: str, models: dict[str, str], **options: Any) -> Settings:
    """Deployments whose endpoints carry `options`: what config.py makes of the aws_* keys of
    litellm_params once they are endpoint options (the adapter's ENDPOINT_OPTIONS)."""
    deployments = tuple(
        Deployment(
            model_name=name,
            model_id=name,
            provider="bedrock",
            provider_model=model,
            endpoint=Endpoint(api_base=api_base, options=options),
        )
        for name, model in models.items()
    )
    return Settings(deployments=deployments)


@pytest.fixture
async def gateway_of() -> AsyncIterator[Callable[..., Gateway]]:
    """Gateways from Settings (or YAML), closed at teardown."""
    made: list[Gateway] = []

    def factory(
        settings: Settings | str, credentials: RequestCredentials = RequestCredentials.TRUST
    ) -> Gateway:
        if isinstance(settings, str):
            settings = parse_settings(settings, source="test.yaml")
        gateway = Gateway(settings, request_credentials=credentials)
        made.append(gateway)
        return gateway

    yield factory
    for gateway in made:
        await gateway.aclose()


@pytest.fixture
def gateway(
    env_credentials: None, bedrock_fake: BedrockFake, gateway_for: GatewayFactory
) -> Gateway:
    return gateway_for(config(bedrock_fake.base_url))


async def generate(gateway: Gateway, **fields: Any) -> Generation:
    return await gateway.generate(ImageRequest.create(**fields))


async def rejected(gateway: Gateway, error: type[ImageGenError], **fields: Any) -> ImageGenError:
    """The error `gateway` raises for the request; its class must be exactly `error`."""
    with pytest.raises(ImageGenError) as info:
        await generate(gateway, **fields)
    assert type(info.value) is error, repr(info.value)
    return info.value


def pillow(image: GeneratedImage) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(image.data())) as decoded:
        return decoded.format, decoded.size


def cost_of(error: ImageGenError) -> Decimal | None:
    assert error.facts is not None
    return error.facts.response_cost


def aws_error(error_type: str, message: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A Bedrock error body and headers, for fake.fail_next."""
    return {"message": message}, {
        "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    }


# --------------------------------------------------------------------------- transport and auth


async def test_sigv4_signed_request_to_the_encoded_model_path(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="sd35",
        prompt="a red fox in snow",
        size="16:9",
        provider_params={"seed": 7, "negative_prompt": "blurry"},
    )

    (sent,) = bedrock_fake.requests
    invocation = bedrock_fake.last_invocation
    assert sent.method == "POST"
    # botocore's encoding: the ':' of the version travels as %3A.
    assert invocation.raw_path == "/model/stability.sd3-5-large-v1%3A0/invoke"
    assert invocation.model_id == "stability.sd3-5-large-v1:0"
    assert (invocation.auth, invocation.access_key_id, invocation.region) == (
        "sigv4",
        ACCESS_KEY_ID,
        REGION,
    )
    assert set(invocation.signed_headers) >= {"host", "x-amz-date", "content-type", "accept"}
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    assert sent.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{today}/{REGION}/bedrock/aws4_request, "
    )
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert "x-amz-security-token" not in sent.headers
    assert sent.json == {
        "prompt": "a red fox in snow",
        "aspect_ratio": "16:9",
        "seed": 7,
        "negative_prompt": "blurry",
    }
    (image,) = generation.result.images
    assert pillow(image) == ("PNG", (1344, 768))
    assert (image.mime_type, image.width, image.height) == ("image/png", 1344, 768)
    assert generation.facts.provider == "bedrock"
    assert generation.facts.api_base == bedrock_fake.base_url
    assert generation.result.headers["x-amzn-requestid"]


async def test_static_keys_with_a_session_token_from_the_deployment(
    bedrock_fake: BedrockFake, gateway_of: Callable[..., Gateway]
) -> None:
    settings = with_options(
        bedrock_fake.base_url,
        {"nova": MODELS["nova"]},
        aws_access_key_id=TEMP_ACCESS_KEY_ID,
        aws_secret_access_key=TEMP_SECRET_ACCESS_KEY,
        aws_session_token=SESSION_TOKEN,
        aws_region_name=REGION,
    )
    generation = await generate(gateway_of(settings), model="nova", prompt="a lighthouse")

    sent = bedrock_fake.last_request
    assert sent.headers["x-amz-security-token"] == SESSION_TOKEN
    assert "x-amz-security-token" in bedrock_fake.last_invocation.signed_headers
    assert bedrock_fake.last_invocation.access_key_id == TEMP_ACCESS_KEY_ID
    assert len(generation.result.images) == 1


async def test_deployment_region_wins_over_the_environment(
    env_credentials: None, gateway_of: Callable[..., Gateway]
) -> None:
    async with BedrockFake(region="eu-central-1") as fake:
        settings = with_options(
            fake.base_url, {"core": MODELS["core"]}, aws_region_name="eu-central-1"
        )
        gateway = gateway_of(settings)
        await generate(gateway, model="core", prompt="a fox")
        assert fake.last_invocation.region == "eu-central-1"


@pytest.mark.parametrize(
    ("options", "upstream_code"),
    [
        ({"aws_secret_access_key": "not-the-secret"}, "InvalidSignatureException"),
        ({"aws_access_key_id": "AKIAUNKNOWNKEYEXAMPLE"}, "UnrecognizedClientException"),
        ({"aws_region_name": "eu-west-1"}, "InvalidSignatureException"),
    ],
)
async def test_rejected_signature_is_an_operator_authentication_failure(
    bedrock_fake: BedrockFake,
    gateway_of: Callable[..., Gateway],
    options: dict[str, str],
    upstream_code: str,
) -> None:
    base = {
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "aws_region_name": REGION,
    }
    settings = with_options(bedrock_fake.base_url, {"core": MODELS["core"]}, **base | options)
    gateway = gateway_of(settings)
    error = await rejected(gateway, ProviderAuthenticationError, model="core", prompt="a fox")
    assert error.code is Code.FAILED_PRECONDITION
    assert error.metadata["upstream_code"] == upstream_code
    assert error.metadata["upstream_status"] == "403"
    assert error.metadata["upstream_request_id"]
    assert "not-the-secret" not in str(error)
    assert cost_of(error) == 0
    assert bedrock_fake.invocations == []


async def test_expired_signature_is_rejected(bedrock_fake: BedrockFake, gateway: Gateway) -> None:
    # A gateway host whose clock is 10 minutes behind AWS's.
    bedrock_fake.now = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    error = await rejected(gateway, ProviderAuthenticationError, model="core", prompt="x")
    assert error.metadata["upstream_code"] == "InvalidSignatureException"


async def test_bedrock_api_key_from_config_is_a_bearer_token(
    bedrock_fake: BedrockFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(bedrock_fake.base_url, {"titan": MODELS["titan2"]}, api_key=API_KEY)
    )
    generation = await generate(gateway, model="titan", prompt="a fox")

    sent = bedrock_fake.last_request
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in sent.headers
    assert bedrock_fake.last_invocation.auth == "bearer"
    assert len(generation.result.images) == 1


async def test_bedrock_api_key_from_the_environment(
    bedrock_fake: BedrockFake, gateway_for: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
    # With an explicit api_base, a bearer key needs no region at all.
    gateway = gateway_for(config(bedrock_fake.base_url, {"nova": MODELS["nova"]}))
    await generate(gateway, model="nova", prompt="a fox")
    assert bedrock_fake.last_request.headers["authorization"] == f"Bearer {API_KEY}"


async def test_wrong_configured_api_key_is_an_authentication_failure(
    bedrock_fake: BedrockFake, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(bedrock_fake.base_url, {"nova": MODELS["nova"]}, api_key="ABSKwrong-key-value")
    )
    error = await rejected(gateway, ProviderAuthenticationError, model="nova", prompt="x")
    assert "ABSKwrong-key-value" not in str(error)


async def test_callers_own_wrong_api_key_is_unauthenticated(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    error = await rejected(
        gateway, CallerCredentialRejectedError, model="nova", prompt="x", api_key="ABSKcaller-key"
    )
    assert error.code is Code.UNAUTHENTICATED
    assert bedrock_fake.last_request.headers["authorization"] == "Bearer ABSKcaller-key"


async def test_operator_credentials_never_sign_for_a_caller_chosen_host(
    env_credentials: None, bedrock_fake: BedrockFake, gateway_of: Callable[..., Gateway]
) -> None:
    gateway = gateway_of(config(bedrock_fake.base_url), RequestCredentials.ACCEPT)
    async with BedrockFake() as elsewhere:
        error = await rejected(
            gateway, PermissionDeniedError, model="core", prompt="x", api_base=elsewhere.base_url
        )
        assert elsewhere.requests == []
        # With their own Bedrock API key the caller may go there.
        await generate(
            gateway, model="core", prompt="x", api_base=elsewhere.base_url, api_key=API_KEY
        )
        assert elsewhere.last_invocation.auth == "bearer"
    assert cost_of(error) == 0


async def test_shared_credentials_file_profile_and_its_region(
    bedrock_fake: BedrockFake,
    gateway_of: Callable[..., Gateway],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    (tmp_path / "aws-credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULTEXAMPLE00\naws_secret_access_key = nope\n"
        f"[imagegen]\naws_access_key_id = {ACCESS_KEY_ID}\n"
        f"aws_secret_access_key = {SECRET_ACCESS_KEY}\n"
    )
    (tmp_path / "aws-config").write_text(f"[profile imagegen]\nregion = {REGION}\n")
    endpoint = Endpoint(api_base=bedrock_fake.base_url, options={"aws_profile_name": "imagegen"})
    # The region comes from the profile: config load needs nothing else.
    provider().check_endpoint(endpoint, MODELS["core"])
    assert provider().region(endpoint) == REGION

    settings = with_options(
        bedrock_fake.base_url, {"core": MODELS["core"]}, aws_profile_name="imagegen"
    )
    gateway = gateway_of(settings)
    await generate(gateway, model="core", prompt="a fox")
    assert bedrock_fake.last_invocation.access_key_id == ACCESS_KEY_ID
    assert bedrock_fake.last_invocation.region == REGION


PROCESS_SCRIPT = """
import datetime as dt, json, sys
from pathlib import Path
counter, minutes = Path(sys.argv[1]), float(sys.argv[2])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
print(json.dumps({
    "Version": 1,
    "AccessKeyId": f"ASIAPROC{n:04d}EXAMPLE",
    "SecretAccessKey": f"process-secret-{n}",
    "SessionToken": f"process-token-{n}",
    "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
}))
"""


def credential_process(tmp_path: Path, minutes: float) -> Path:
    """A credential_process profile whose keys rotate on every run; returns the run counter."""
    script = tmp_path / "credentials.py"
    script.write_text(PROCESS_SCRIPT)
    counter = tmp_path / "runs"
    (tmp_path / "aws-config").write_text(
        f"[default]\nregion = {REGION}\n"
        f"credential_process = {sys.executable} {script} {counter} {minutes}\n"
    )
    return counter


def process_fake() -> BedrockFake:
    return BedrockFake(
        credentials={
            f"ASIAPROC{n:04d}EXAMPLE": (f"process-secret-{n}", f"process-token-{n}")
            for n in range(1, 6)
        }
    )


async def test_credential_chain_is_resolved_once_not_per_request(
    gateway_for: GatewayFactory, tmp_path: Path
) -> None:
    counter = credential_process(tmp_path, minutes=60)
    async with process_fake() as fake:
        gateway = gateway_for(config(fake.base_url, {"core": MODELS["core"]}))
        await asyncio.gather(*(generate(gateway, model="core", prompt="x") for _ in range(3)))
        await generate(gateway, model="core", prompt="x")
        assert {i.access_key_id for i in fake.invocations} == {"ASIAPROC0001EXAMPLE"}
    assert counter.read_text() == "1"
    assert provider(gateway).credential_chain.resolutions == 1


async def test_refreshable_credentials_near_expiry_are_refreshed_and_used(
    gateway_for: GatewayFactory, tmp_path: Path
) -> None:
    # 12 minutes is inside botocore's 15-minute advisory window: every use refreshes.
    counter = credential_process(tmp_path, minutes=12)
    async with process_fake() as fake:
        gateway = gateway_for(config(fake.base_url, {"core": MODELS["core"]}))
        await generate(gateway, model="core", prompt="x")
        first = fake.last_invocation.access_key_id
        await generate(gateway, model="core", prompt="x")
        second = fake.last_invocation.access_key_id
    assert first != second
    assert {first, second} <= {f"ASIAPROC{n:04d}EXAMPLE" for n in range(2, 5)}
    assert int(counter.read_text()) >= 3
    assert provider(gateway).credential_chain.resolutions == 1


async def test_no_credentials_anywhere_is_not_configured_and_nothing_is_sent(
    bedrock_fake: BedrockFake, gateway_for: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    gateway = gateway_for(config(bedrock_fake.base_url, {"core": MODELS["core"]}))
    error = await rejected(gateway, ProviderNotConfiguredError, model="core", prompt="x")
    assert error.code is Code.FAILED_PRECONDITION
    assert "AWS_ACCESS_KEY_ID" in error.message
    assert cost_of(error) == 0
    await rejected(gateway, ProviderNotConfiguredError, model="core", prompt="x")
    # An empty chain is not walked again on every request.
    assert provider(gateway).credential_chain.resolutions == 1
    assert bedrock_fake.requests == []


async def test_missing_profile_is_not_configured(
    bedrock_fake: BedrockFake, gateway_of: Callable[..., Gateway]
) -> None:
    settings = with_options(
        bedrock_fake.base_url,
        {"core": MODELS["core"]},
        aws_profile_name="nosuchprofile",
        aws_region_name=REGION,
    )
    error = await rejected(
        gateway_of(settings), ProviderNotConfiguredError, model="core", prompt="x"
    )
    assert "ProfileNotFound" in error.message
    assert bedrock_fake.requests == []


def test_a_region_is_required_at_config_load() -> None:
    text = config("http://127.0.0.1:9", {"core": MODELS["core"]})
    # A signed request without a region cannot be made.
    with pytest.raises(ConfigError, match="needs a region"):
        parse_settings(text)


def test_endpoint_checks() -> None:
    adapter = provider()
    with pytest.raises(ProviderNotConfiguredError, match="together"):
        adapter.check_endpoint(
            Endpoint(options={"aws_access_key_id": ACCESS_KEY_ID, "aws_region_name": REGION}),
            "m",
        )
    with pytest.raises(ProviderNotConfiguredError, match="string"):
        adapter.check_endpoint(Endpoint(options={"aws_region_name": 7}), "m")
    aws_host = Endpoint(api_base="https://bedrock-runtime.eu-central-1.amazonaws.com/")
    adapter.check_endpoint(aws_host, "m")
    assert adapter.region(aws_host) == "eu-central-1"
    assert adapter.api_base(aws_host) == "https://bedrock-runtime.eu-central-1.amazonaws.com"
    regional = Endpoint(options={"aws_region_name": "ap-northeast-1"})
    assert adapter.api_base(regional) == "https://bedrock-runtime.ap-northeast-1.amazonaws.com"


# --------------------------------------------------------------------------- model ids


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1"),
        ("us.amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1"),
        ("global.stability.stable-image-ultra-v1:1", "stability.stable-image-ultra-v1"),
        (
            "arn:aws:bedrock:us-west-2::foundation-model/stability.sd3-5-large-v1:0",
            "stability.sd3-5-large-v1",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-canvas-v1:0",
            "amazon.nova-canvas-v1",
        ),
        ("stability.stable-diffusion-xl-v1", "stability.stable-diffusion-xl-v1"),
    ],
)
def test_model_ids_resolve_to_their_family(model: str, base: str) -> None:
    assert base_model_id(model) == base
    spec = provider().spec_for(model)
    assert spec.known
    assert spec.family == base


async def test_inference_profile_and_arn_ids_are_encoded_into_one_segment(
    bedrock_fake: BedrockFake, env_credentials: None, gateway_for: GatewayFactory
) -> None:
    arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.amazon.nova-canvas-v1:0"
    gateway = gateway_for(config(bedrock_fake.base_url, {"profile": MODELS["nova-us"], "arn": arn}))
    await generate(gateway, model="profile", prompt="x", size="1280x720")
    assert bedrock_fake.last_invocation.raw_path == "/model/us.amazon.nova-canvas-v1%3A0/invoke"
    await generate(gateway, model="arn", prompt="x")
    assert bedrock_fake.last_invocation.raw_path == (
        "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2F"
        "us.amazon.nova-canvas-v1%3A0/invoke"
    )
    assert bedrock_fake.last_invocation.model_id == arn


async def test_application_profile_needs_a_base_model(
    bedrock_fake: BedrockFake, env_credentials: None, gateway_for: GatewayFactory
) -> None:
    arn = "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3"
    bedrock_fake.application_profiles["a1b2c3"] = MODELS["titan2"]
    bare = gateway_for(config(bedrock_fake.base_url, {"app": arn}))
    error = await rejected(bare, ProviderNotConfiguredError, model="app", prompt="x")
    assert "base_model" in error.message
    assert cost_of(error) == 0
    assert bedrock_fake.requests == []

    document = yaml.safe_load(config(bedrock_fake.base_url, {"app": arn}))
    document["model_list"][0]["model_info"] = {"base_model": MODELS["titan2"]}
    generation = await generate(gateway_for(yaml.safe_dump(document)), model="app", prompt="x", n=2)
    assert bedrock_fake.last_request.json["taskType"] == "TEXT_IMAGE"
    assert generation.facts.response_cost == Decimal("0.020")


# --------------------------------------------------------------------------- Stability 3.x


async def test_stability_output_format_jpeg_and_extras(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="ultra",
        prompt="a fox",
        size="1080x1920",
        provider_params={"output_format": "jpeg", "seed": 4294967295},
    )
    assert bedrock_fake.last_request.json == {
        "prompt": "a fox",
        "aspect_ratio": "9:16",
        "output_format": "jpeg",
        "seed": 4294967295,
    }
    (image,) = generation.result.images
    assert image.mime_type == "image/jpeg"
    assert pillow(image) == ("JPEG", (768, 1344))


async def test_stability_without_size_sends_no_ratio(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="core", prompt="a fox")
    assert bedrock_fake.last_request.json == {"prompt": "a fox"}
    assert pillow(generation.result.images[0]) == ("PNG", (1024, 1024))


@pytest.mark.parametrize("size", ["21:9", "1792x768", "3584x1536"])
async def test_stability_21_9_is_sent_as_the_model_spells_it(
    bedrock_fake: BedrockFake, gateway: Gateway, size: str
) -> None:
    await generate(gateway, model="sd35", prompt="a fox", size=size)
    assert bedrock_fake.last_request.json["aspect_ratio"] == "21:9"


def test_the_shared_normalizer_keeps_the_models_ratio_spelling() -> None:
    exact = choose_aspect_ratio("1792x768", STABILITY_ASPECT_RATIOS, coerce=False)
    assert str(exact.aspect_ratio) == "21:9"
    coerced = choose_aspect_ratio("2400x1000", STABILITY_ASPECT_RATIOS, coerce=True)
    assert str(coerced.aspect_ratio) == "21:9"
    assert coerced.actual == "21:9"


async def test_stability_unsupported_ratio_fails_listing_ratios(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    error = await rejected(gateway, InvalidRequestError, model="sd35", prompt="x", size="1792x1024")
    (violation,) = error.field_violations
    assert violation.field == "size"
    for ratio in STABILITY_ASPECT_RATIOS:
        assert ratio in violation.description
    assert bedrock_fake.requests == []


async def test_stability_coerce_size_picks_the_nearest_ratio_and_reports_it(
    bedrock_fake: BedrockFake, env_credentials: None, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(config(bedrock_fake.base_url, {"sd35": MODELS["sd35"]}, coerce_size=True))
    generation = await generate(gateway, model="sd35", prompt="x", size="1792x1024")
    assert bedrock_fake.last_request.json["aspect_ratio"] == "16:9"
    assert (generation.facts.size_requested, generation.facts.size_actual) == (
        "1792x1024",
        "16:9",
    )


async def test_cfg_scale_is_an_sd35_parameter_not_a_core_one(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    await generate(gateway, model="sd35", prompt="x", provider_params={"cfg_scale": 5})
    assert bedrock_fake.last_request.json["cfg_scale"] == 5
    error = await rejected(
        gateway,
        UnsupportedParameterError,
        model="core",
        prompt="x",
        provider_params={"cfg_scale": 5},
    )
    assert error.field_violations[0].field == "provider_params.cfg_scale"
    assert len(bedrock_fake.requests) == 1


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"quality": "hd"}, UnsupportedParameterError, "quality"),
        ({"style": "vivid"}, UnsupportedParameterError, "style"),
        ({"response_format": "url"}, UnsupportedParameterError, "response_format"),
        ({"provider_params": {"seed": 4294967296}}, InvalidRequestError, "provider_params.seed"),
        (
            {"provider_params": {"output_format": "webp"}},
            InvalidRequestError,
            "provider_params.output_format",
        ),
        ({"prompt": "x" * 10_001}, InvalidRequestError, "prompt"),
    ],
)
async def test_stability_rejects_what_it_does_not_take_before_sending(
    bedrock_fake: BedrockFake,
    gateway: Gateway,
    fields: dict[str, Any],
    error: type[ImageGenError],
    field: str,
) -> None:
    request = {"prompt": "x", **fields}
    raised = await rejected(gateway, error, model="sd35", **request)
    assert raised.field_violations[0].field == field
    assert bedrock_fake.requests == []


async def test_stability_prompt_filter_is_a_content_policy_violation(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    error = await rejected(gateway, ContentPolicyViolationError, model="sd35", prompt="forbidden")
    assert error.code is Code.INVALID_ARGUMENT
    assert error.reason == "CONTENT_POLICY_VIOLATION"
    assert "Filter reason: prompt" in error.message
    assert error.metadata["provider"] == "bedrock"
    assert error.metadata["upstream_status"] == "200"
    assert cost_of(error) == 0


async def test_stability_output_filter_withholds_the_blank_image(gateway: Gateway) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="ultra", prompt="blockedoutput"
    )
    assert "output image" in error.message


async def test_stability_inference_error_is_a_bad_response_of_unknown_cost(
    gateway: Gateway,
) -> None:
    error = await rejected(gateway, ProviderBadResponseError, model="core", prompt="inferenceerror")
    assert "Inference error" in error.message
    assert cost_of(error) is None


# --------------------------------------------------------------------------- SDXL


async def test_sdxl_text_prompts_negative_weight_and_options(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="sdxl",
        prompt="a fox",
        size="1344x768",
        provider_params={
            "negative_prompt": "blurry",
            "cfg_scale": 9,
            "steps": 40,
            "seed": 5,
            "sampler": "K_EULER",
            "clip_guidance_preset": "FAST_BLUE",
            "style_preset": "photographic",
        },
    )
    assert bedrock_fake.last_request.json == {
        "text_prompts": [{"text": "a fox", "weight": 1.0}, {"text": "blurry", "weight": -1.0}],
        "width": 1344,
        "height": 768,
        "cfg_scale": 9,
        "steps": 40,
        "seed": 5,
        "sampler": "K_EULER",
        "clip_guidance_preset": "FAST_BLUE",
        "style_preset": "photographic",
    }
    (image,) = generation.result.images
    assert pillow(image) == ("PNG", (1344, 768))
    assert (image.width, image.height) == (1344, 768)
    assert generation.result.size == "1344x768"


async def test_sdxl_default_size_is_sent(bedrock_fake: BedrockFake, gateway: Gateway) -> None:
    await generate(gateway, model="sdxl", prompt="a fox")
    sent = bedrock_fake.last_request.json
    assert (sent["width"], sent["height"]) == (1024, 1024)
    assert "samples" not in sent


async def test_sdxl_sizes_are_listed_and_coerced(
    bedrock_fake: BedrockFake, env_credentials: None, gateway_for: GatewayFactory
) -> None:
    strict = gateway_for(config(bedrock_fake.base_url, {"sdxl": MODELS["sdxl"]}))
    with pytest.raises(InvalidRequestError) as caught:
        await generate(strict, model="sdxl", prompt="x", size="1024x768")
    assert "1152x896" in caught.value.field_violations[0].description
    assert bedrock_fake.requests == []

    loose = gateway_for(config(bedrock_fake.base_url, {"sdxl": MODELS["sdxl"]}, coerce_size=True))
    generation = await generate(loose, model="sdxl", prompt="x", size="1024x768")
    sent = bedrock_fake.last_request.json
    assert (sent["width"], sent["height"]) == (1152, 896)
    assert generation.facts.size_actual == "1152x896"


async def test_sdxl_steps_beyond_50_are_invalid(gateway: Gateway) -> None:
    error = await rejected(
        gateway, InvalidRequestError, model="sdxl", prompt="x", provider_params={"steps": 60}
    )
    assert "at most 50" in error.message


async def test_sdxl_content_filtered_artifact_is_a_refusal(gateway: Gateway) -> None:
    error = await rejected(gateway, ContentPolicyViolationError, model="sdxl", prompt="forbidden")
    assert "CONTENT_FILTERED" in error.message


async def test_sdxl_error_artifact_is_a_bad_response(gateway: Gateway) -> None:
    error = await rejected(gateway, ProviderBadResponseError, model="sdxl", prompt="inferenceerror")
    assert "ERROR" in error.message


# --------------------------------------------------------------------------- Titan and Nova


async def test_titan_body_defaults_and_options(bedrock_fake: BedrockFake, gateway: Gateway) -> None:
    generation = await generate(gateway, model="titan1", prompt="a fox", n=2)
    assert bedrock_fake.last_request.json == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a fox"},
        "imageGenerationConfig": {
            "numberOfImages": 2,
            "quality": "standard",
            "width": 1024,
            "height": 1024,
        },
    }
    assert [pillow(image) for image in generation.result.images] == [("PNG", (1024, 1024))] * 2
    assert generation.result.images[0].data() != generation.result.images[1].data()

    await generate(
        gateway,
        model="titan2",
        prompt="a fox",
        size="1173x640",
        quality="premium",
        provider_params={"negativeText": "blurry", "cfgScale": 7.5, "seed": 2147483646},
    )
    assert bedrock_fake.last_request.json == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a fox", "negativeText": "blurry"},
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "quality": "premium",
            "width": 1173,
            "height": 640,
            "cfgScale": 7.5,
            "seed": 2147483646,
        },
    }


@pytest.mark.parametrize(
    ("fields", "error", "field", "listed"),
    [
        ({"size": "1000x1000"}, InvalidRequestError, "size", "1173x640"),
        ({"quality": "hd"}, InvalidRequestError, "quality", "premium"),
        ({"style": "PHOTOREALISM"}, UnsupportedParameterError, "style", "titan"),
        ({"prompt": "x" * 513}, InvalidRequestError, "prompt", "512"),
        (
            {"provider_params": {"cfgScale": 11}},
            InvalidRequestError,
            "provider_params.cfgScale",
            "10",
        ),
    ],
)
async def test_titan_rejects_what_it_does_not_take(
    bedrock_fake: BedrockFake,
    gateway: Gateway,
    fields: dict[str, Any],
    error: type[ImageGenError],
    field: str,
    listed: str,
) -> None:
    request = {"prompt": "x", **fields}
    raised = await rejected(gateway, error, model="titan2", **request)
    assert raised.field_violations[0].field == field
    assert listed in raised.message
    assert bedrock_fake.requests == []


async def test_nova_style_quality_and_free_form_size(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    generation = await generate(
        gateway,
        model="nova",
        prompt="a fox",
        size="1280x720",
        quality="premium",
        style="PHOTOREALISM",
        n=2,
        provider_params={"negativeText": "text", "cfgScale": 6.5, "seed": 858993459},
    )
    assert bedrock_fake.last_request.json == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a fox", "negativeText": "text", "style": "PHOTOREALISM"},
        "imageGenerationConfig": {
            "numberOfImages": 2,
            "quality": "premium",
            "width": 1280,
            "height": 720,
            "cfgScale": 6.5,
            "seed": 858993459,
        },
    }
    assert [pillow(image) for image in generation.result.images] == [("PNG", (1280, 720))] * 2
    assert (generation.result.quality, generation.result.size) == ("premium", "1280x720")


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        ("1000x1000", "multiples of 16"),
        ("256x256", "320..4096"),
        ("4096x512", "4:1"),
        ("2064x2064", "4194304"),
    ],
)
async def test_nova_size_rule_is_checked_before_sending(
    bedrock_fake: BedrockFake, gateway: Gateway, size: str, reason: str
) -> None:
    error = await rejected(gateway, InvalidRequestError, model="nova", prompt="x", size=size)
    assert reason in error.field_violations[0].description
    assert bedrock_fake.requests == []


async def test_nova_unknown_style_lists_the_styles(gateway: Gateway) -> None:
    error = await rejected(gateway, InvalidRequestError, model="nova", prompt="x", style="vivid")
    assert "SOFT_DIGITAL_PAINTING" in error.message


async def test_titan_input_filter_is_a_400_content_policy_violation(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    error = await rejected(gateway, ContentPolicyViolationError, model="titan2", prompt="forbidden")
    assert error.message == INPUT_BLOCKED
    assert error.metadata["upstream_status"] == "400"
    assert error.metadata["upstream_code"] == "ValidationException"
    assert error.metadata["upstream_request_id"]
    assert cost_of(error) == 0


@pytest.mark.parametrize("model", ["titan1", "nova"])
async def test_output_filter_blocking_every_image_is_a_content_policy_violation(
    gateway: Gateway, model: str
) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model=model, prompt="blockedoutput", n=3
    )
    assert error.message == ALL_BLOCKED
    assert error.metadata["upstream_status"] == "200"


async def test_some_images_blocked_are_reported_as_filtered_and_not_billed(
    gateway: Gateway,
) -> None:
    generation = await generate(gateway, model="nova", prompt="partlyblocked", n=3)
    assert len(generation.result.images) == 2
    assert generation.result.filtered == 1
    assert generation.facts.filtered == 1
    assert generation.facts.response_cost == Decimal("0.08")


async def test_fewer_images_without_a_note_count_as_filtered(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    png = base64.b64encode(png_bytes(1024, 1024)).decode()
    bedrock_fake.fail_next(200, {"images": [png], "error": None})
    generation = await generate(gateway, model="titan2", prompt="x", n=3)
    assert len(generation.result.images) == 1
    assert generation.facts.filtered == 2
    assert generation.facts.response_cost == Decimal("0.010")


async def test_nova_input_filter_on_a_profile_id(gateway: Gateway) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="nova-us", prompt="forbidden"
    )
    assert "content filters" in error.message


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("prompt", "error", "code", "upstream_code", "status"),
    [
        ("ratelimit", ProviderRateLimitedError, Code.UNAVAILABLE, "ThrottlingException", 429),
        ("notready", ProviderUnavailableError, Code.UNAVAILABLE, "ModelNotReadyException", 429),
        ("servererror", ProviderUnavailableError, Code.UNAVAILABLE, "InternalServerException", 500),
        (
            "unavailable",
            ProviderUnavailableError,
            Code.UNAVAILABLE,
            "ServiceUnavailableException",
            503,
        ),
        (
            "modeltimeout",
            ProviderTimeoutError,
            Code.DEADLINE_EXCEEDED,
            "ModelTimeoutException",
            408,
        ),
        ("modelerror", ProviderUnavailableError, Code.UNAVAILABLE, "ModelErrorException", 424),
        (
            "quotaexceeded",
            ProviderQuotaExceededError,
            Code.RESOURCE_EXHAUSTED,
            "ServiceQuotaExceededException",
            400,
        ),
    ],
)
async def test_error_types_map_to_the_error_tree(
    gateway: Gateway,
    prompt: str,
    error: type[ImageGenError],
    code: Code,
    upstream_code: str,
    status: int,
) -> None:
    raised = await rejected(gateway, error, model="titan2", prompt=prompt)
    assert raised.code is code
    assert raised.metadata["upstream_code"] == upstream_code
    assert raised.metadata["upstream_status"] == str(status)
    assert len(raised.metadata["upstream_request_id"]) == 36
    assert cost_of(raised) == 0


async def test_model_access_denied_retired_and_unknown(
    bedrock_fake: BedrockFake, env_credentials: None, gateway_for: GatewayFactory
) -> None:
    gateway = gateway_for(
        config(
            bedrock_fake.base_url,
            {
                "nova": MODELS["nova"],
                "sd3": MODELS["sd3"],
                "v9": "stability.stable-image-core-v9:0",
            },
        )
    )
    bedrock_fake.denied_models.add(MODELS["nova"])
    denied = await rejected(gateway, ProviderPermissionDeniedError, model="nova", prompt="x")
    assert denied.code is Code.PERMISSION_DENIED
    assert denied.metadata["upstream_code"] == "AccessDeniedException"
    assert "access to the model" in denied.message

    bedrock_fake.retired_models.add(MODELS["sd3"])
    retired = await rejected(gateway, ProviderModelNotFoundError, model="sd3", prompt="x")
    assert retired.metadata["upstream_code"] == "ResourceNotFoundException"

    # A Stability model of an unknown version is sent with Stability's shape; Bedrock does not
    # know it.
    unknown = await rejected(gateway, ProviderModelNotFoundError, model="v9", prompt="x")
    assert unknown.code is Code.NOT_FOUND
    assert "stability.stable-image-core-v9:0" in unknown.message
    assert bedrock_fake.last_request.json == {"prompt": "x"}


async def test_malformed_input_is_a_provider_invalid_request(
    bedrock_fake: BedrockFake, env_credentials: None, gateway_for: GatewayFactory
) -> None:
    # A newer model version than the gateway knows: its provider params pass through unchecked.
    bedrock_fake.models["stability.stable-image-core-v2:0"] = FakeModel(
        "stability", image_to_image=False
    )
    gateway = gateway_for(
        config(bedrock_fake.base_url, {"core2": "stability.stable-image-core-v2:0"})
    )
    generation = await generate(gateway, model="core2", prompt="x", provider_params={"seed": 3})
    assert generation.facts.response_cost is None  # no price for an unknown version

    error = await rejected(
        gateway, ProviderInvalidRequestError, model="core2", prompt="x", provider_params={"foo": 1}
    )
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        "Malformed input request: #: extraneous key [foo] is not permitted, please reformat "
        "your input and try again."
    )


async def test_error_type_from_the_body_when_the_header_is_missing(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    bedrock_fake.fail_next(
        400,
        {
            "__type": "com.amazon.coral.service#ExpiredTokenException",
            "message": "The security token included in the request is expired",
        },
    )
    error = await rejected(gateway, ProviderAuthenticationError, model="core", prompt="x")
    assert error.metadata["upstream_code"] == "ExpiredTokenException"


async def test_unreadable_error_body_still_maps_by_status(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    bedrock_fake.fail_next(502, "<html>Bad Gateway</html>", content_type="text/html")
    error = await rejected(gateway, ProviderUnavailableError, model="core", prompt="x")
    assert "html" not in error.message


@pytest.mark.parametrize(
    "body",
    [
        {"images": ["!!!"], "error": None},
        {"images": "nope"},
        {"images": [], "error": "Something odd happened"},
        ["not", "an", "object"],
    ],
)
async def test_unusable_200_answers_are_bad_responses_of_unknown_cost(
    bedrock_fake: BedrockFake, gateway: Gateway, body: Any
) -> None:
    bedrock_fake.fail_next(200, body if isinstance(body, dict) else json.dumps(body))
    error = await rejected(gateway, ProviderBadResponseError, model="titan2", prompt="x")
    assert cost_of(error) is None


async def test_deadline_while_the_model_works_drops_the_connection(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    with pytest.raises((DeadlineExceededError, ProviderTimeoutError)):
        await generate(gateway, model="nova", prompt="hang", timeout=0.3)
    await asyncio.wait_for(bedrock_fake.disconnected.wait(), 5)


def test_parse_error_reads_the_header_type_and_request_id() -> None:
    call = ProviderCall(
        provider_model=MODELS["core"],
        spec=FAMILIES["stability.stable-image-core-v1"].spec,
        params=CallParams(1, None, None, None, None, ResponseFormat.B64_JSON, {}),
        prompt="x",
        endpoint=Endpoint(api_key="k", caller_credentials=True),
        deadline=Deadline.after(10),
    )
    response = HttpResponse(
        403,
        {
            "x-amzn-ErrorType": "InvalidSignatureException:http://internal.amazon.com/coral/x/",
            "x-amzn-RequestId": "req-1",
        },
        b'{"message": "signature mismatch"}',
    )
    error = provider().parse_error(call, response)
    assert type(error) is CallerCredentialRejectedError
    assert error.metadata["upstream_code"] == "InvalidSignatureException"
    assert error.metadata["upstream_request_id"] == "req-1"


# --------------------------------------------------------------------------- n fan-out


async def test_stability_n_is_served_by_parallel_single_image_calls(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="sd35", prompt="a fox", n=3, size="1:1")
    assert len(bedrock_fake.requests) == 3
    assert all(r.json == {"prompt": "a fox", "aspect_ratio": "1:1"} for r in bedrock_fake.requests)
    assert len(generation.result.images) == 3
    assert generation.facts.attempts == 3
    assert generation.facts.response_cost == Decimal("0.24")


async def test_fan_out_with_one_failing_sub_call_reports_what_was_billed(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    body, headers = aws_error("ThrottlingException", "Too many requests, please wait.")
    bedrock_fake.fail_next(429, body, headers)
    error = await rejected(gateway, ProviderRateLimitedError, model="ultra", prompt="x", n=3)
    assert len(bedrock_fake.requests) == 3
    # Two images were made (and billed) before the third call failed.
    assert cost_of(error) == Decimal("0.28")


async def test_fan_out_with_one_safety_filtered_sub_call_reports_filtered_count(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    bedrock_fake.fail_next(200, {"finish_reasons": ["Filter reason: output image"]})
    generation = await generate(gateway, model="core", prompt="x", n=3)
    assert len(generation.result.images) == 2
    assert generation.facts.filtered == 1
    assert generation.facts.response_cost == Decimal("0.08")


async def test_fan_out_where_every_sub_call_is_refused_is_a_refusal(gateway: Gateway) -> None:
    error = await rejected(
        gateway, ContentPolicyViolationError, model="sdxl", prompt="forbidden", n=2
    )
    assert cost_of(error) == 0


async def test_titan_n_above_five_is_split_into_calls_of_five(
    bedrock_fake: BedrockFake, gateway: Gateway
) -> None:
    generation = await generate(gateway, model="titan2", prompt="x", n=7, size="512x512")
    counts = sorted(
        r.json["imageGenerationConfig"]["numberOfImages"] for r in bedrock_fake.requests
    )
    assert counts == [2, 5]
    assert len(generation.result.images) == 7
    assert generation.facts.response_cost == Decimal("0.056")


# --------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    ("model", "fields", "cost"),
    [
        ("sd35", {"n": 2}, "0.16"),
        ("sd3", {}, "0.08"),
        ("ultra", {"size": "3:2"}, "0.14"),
        ("core", {}, "0.04"),
        ("sdxl", {"size": "1536x640"}, "0.04"),
        ("titan1", {"size": "512x512"}, "0.008"),
        ("titan1", {"size": "1408x768", "n": 2}, "0.020"),
        ("titan2", {"size": "384x576", "quality": "premium"}, "0.010"),
        ("titan2", {"quality": "premium"}, "0.012"),
        ("nova", {}, "0.04"),
        ("nova", {"size": "2048x512", "quality": "premium"}, "0.06"),
        ("nova-us", {"size": "2048x2048", "quality": "premium"}, "0.08"),
        ("nova", {"size": "4096x1024"}, "0.06"),
    ],
)
async def test_cost_of_each_model(
    gateway: Gateway, model: str, fields: dict[str, Any], cost: str
) -> None:
    generation = await generate(gateway, model=model, prompt="x", **fields)
    assert generation.facts.response_cost == Decimal(cost)


async def test_nova_size_without_a_price_row_costs_unknown(gateway: Gateway) -> None:
    # A valid Nova size the price table does not list: never a guessed price.
    generation = await generate(gateway, model="nova", prompt="x", size="1024x768")
    assert len(generation.result.images) == 1
    assert generation.facts.response_cost is None


def test_every_priced_size_is_one_the_model_accepts() -> None:
    table = load_price_table()
    for family, spec in (
        ("amazon.titan-image-generator-v1", FAMILIES["amazon.titan-image-generator-v1"].spec),
        ("amazon.nova-canvas-v1", NOVA_CANVAS),
    ):
        price = table.lookup("bedrock", family)
        assert price is not None
        for key in price.per_image:
            quality, _, size = key.partition("/")
            request = ImageRequest.create(prompt="x", quality=quality, size=size)
            params = check_params(spec, request, drop=False)
            assert params.size == size
    titan = table.lookup("bedrock", "amazon.titan-image-generator-v2")
    assert titan is not None
    assert {key.partition("/")[2] for key in titan.per_image} == set(TITAN_SIZES) - {"768x768"}
    for family, kind in FAMILIES.items():
        # The Stability image services have no first-party price at hand: unknown by design.
        if kind.shape is not Shape.STABILITY_EDIT:
            assert table.lookup("bedrock", family) is not None, family
    assert SDXL.max_images_per_call == 1


# --------------------------------------------------------------------------- through the server


async def test_generate_images_end_to_end_with_cost_trailers_and_filtered_count(
    env_credentials: None, bedrock_fake: BedrockFake, serve: ServeFactory
) -> None:
    served = await serve(config(bedrock_fake.base_url))
    bedrock_fake.fail_next(200, {"finish_reasons": ["Filter reason: output image"]})
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a red fox", model="sd35", n=3, size="1920x1080")
    )
    response = await call
    trailers = dict(await call.trailing_metadata())

    assert len(response.images) == 2
    for image in response.images:
        assert image.mime_type == "image/png"
        assert (image.width, image.height) == (1344, 768)
        assert Image.open(io.BytesIO(image.data)).size == (1344, 768)
    assert response.filtered_count == 1
    assert response.cost.response_cost == "0.16"
    assert response.cost.provider == "bedrock"
    assert trailers.keys() >= TRAILER_KEYS
    assert trailers["x-imagegen-response-cost"] == "0.16"
    assert trailers["x-imagegen-provider"] == "bedrock"
    assert trailers["x-imagegen-api-base"] == bedrock_fake.base_url
    assert trailers["x-imagegen-attempts"] == "3"
    assert trailers["x-imagegen-filtered-count"] == "1"
    assert all(i.auth == "sigv4" for i in bedrock_fake.invocations)


async def test_generate_images_end_to_end_refusal_is_invalid_argument_with_zero_cost(
    env_credentials: None, bedrock_fake: BedrockFake, serve: ServeFactory
) -> None:
    served = await serve(config(bedrock_fake.base_url))
    request = pb.GenerateImagesRequest(prompt="forbidden", model="titan2", size="768x1280")
    request.provider_params.update({"seed": 7.0})
    call = served.stub.GenerateImages(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
    (info,) = infos
    assert info.reason == "CONTENT_POLICY_VIOLATION"
    trailers = dict(caught.value.trailing_metadata() or ())
    assert trailers["x-imagegen-response-cost"] == "0"
    # The Struct's 7.0 went out as an integer seed.
    assert bedrock_fake.last_request.json["imageGenerationConfig"]["seed"] == 7


async def test_list_models_describes_each_family(
    env_credentials: None, bedrock_fake: BedrockFake, serve: ServeFactory
) -> None:
    served = await serve(config(bedrock_fake.base_url))
    listed = {m.name: m for m in (await served.stub.ListModels(pb.ListModelsRequest())).models}
    assert list(listed) == list(MODELS)

    sd35 = listed["sd35"]
    assert (sd35.provider, sd35.provider_model) == ("bedrock", MODELS["sd35"])
    assert list(sd35.aspect_ratios) == list(STABILITY_ASPECT_RATIOS)
    assert list(sd35.sizes) == []
    assert (sd35.max_n, sd35.fan_out, sd35.price_basis) == (10, True, "per_image")
    assert {"provider_params.seed", "provider_params.cfg_scale"} <= set(sd35.supported_params)
    assert "provider_params.cfg_scale" not in listed["core"].supported_params

    sdxl = listed["sdxl"]
    assert len(sdxl.sizes) == 9
    assert sdxl.fan_out
    assert "provider_params.steps" in sdxl.supported_params

    titan = listed["titan2"]
    assert list(titan.qualities) == ["standard", "premium"]
    assert "1173x640" in titan.sizes
    assert (titan.max_n, titan.fan_out) == (10, True)
    assert "provider_params.cfgScale" in titan.supported_params

    nova = listed["nova-us"]
    assert nova.free_form_sizes
    assert nova.size_rule == (
        "edges 320..4096 px, multiples of 16, aspect ratio at most 4:1, at most 4194304 pixels"
    )
    assert "PHOTOREALISM" in nova.styles
    assert list(nova.qualities) == ["standard", "premium"]
    assert "style" in nova.supported_params
    assert nova.price_basis == "per_image"
