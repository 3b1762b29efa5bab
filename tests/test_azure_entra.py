"""Azure OpenAI with Entra ID credentials as LiteLLM configures them: a service principal
(tenant_id, client_id, client_secret) and, with enable_azure_ad_token_refresh, the default
Azure credential (here AKS workload identity). azure-identity fetches the token from a fake
Entra authority over TLS on loopback; the Azure fake checks the bearer token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.deadline import Deadline
from imagegen.errors import ConfigError, ProviderAuthenticationError
from imagegen.providers.azure_auth import EntraSource, EntraTokenSource
from tests.certs import Certs, make_certs
from tests.conftest import ServeFactory
from tests.fakes.azure import AzureFake
from tests.fakes.entra import ASSERTION_TYPE, EntraFake

DATED = "2025-04-01-preview"


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "certs")


@pytest.fixture
async def entra(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EntraFake]:
    async with EntraFake(certs.server_cert, certs.server_key) as fake:
        # azure-identity's own settings: where the authority is, and which CA to trust.
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", fake.base_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
        for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME"):
            monkeypatch.delenv(name, raising=False)
        yield fake


def azure_entry(azure: AzureFake, **params: Any) -> dict[str, Any]:
    return {
        "model_name": "img",
        "litellm_params": {
            "model": "azure/gpt-image-1",
            "api_base": azure.base_url,
            "api_version": DATED,
            **params,
        },
    }


def sp(entra: EntraFake, **overrides: str) -> dict[str, str]:
    return {
        "tenant_id": entra.tenant,
        "client_id": entra.client_id,
        "client_secret": entra.client_secret,
        **overrides,
    }


async def generate(served: Any) -> tuple[pb.GenerateImagesResponse, dict[str, str]]:
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="an otter", model="img", size="1024x1024", quality="low")
    )
    response = await call
    trailers = {k: v for k, v in await call.trailing_metadata() if isinstance(v, str)}
    return response, trailers


async def test_a_service_principal_reaches_azure_with_an_entra_token(
    serve: ServeFactory, azure_fake: AzureFake, entra: EntraFake
) -> None:
    served = await serve(yaml.safe_dump({"model_list": [azure_entry(azure_fake, **sp(entra))]}))
    for _ in range(3):
        response, _trailers = await generate(served)
        assert len(response.images) == 1
    # One token for the three calls: cached, not fetched per request.
    token_calls = [r for r in entra.requests]
    assert len(token_calls) == 1
    form = token_calls[0].form
    assert form["client_id"] == entra.client_id
    assert form["scope"] == "https://cognitiveservices.azure.com/.default"
    assert [r.headers["authorization"] for r in azure_fake.requests] == [
        f"Bearer {entra.token}"
    ] * 3
    assert all("api-key" not in r.headers for r in azure_fake.requests)
    assert all(entra.client_secret not in str(r.json) for r in azure_fake.requests)


async def test_a_wrong_secret_is_an_operator_problem_that_names_no_secret(
    serve: ServeFactory,
    azure_fake: AzureFake,
    entra: EntraFake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-secret-0123456789"
    served = await serve(
        yaml.safe_dump({"model_list": [azure_entry(azure_fake, **sp(entra, client_secret=wrong))]})
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "Entra ID refused the service principal" in (caught.value.details() or "")
    assert wrong not in (caught.value.details() or "")
    assert wrong not in caplog.text
    assert azure_fake.requests == []  # nothing was sent to Azure


async def test_workload_identity_through_enable_azure_ad_token_refresh(
    serve: ServeFactory,
    azure_fake: AzureFake,
    entra: EntraFake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(entra.federated_token)
    monkeypatch.setenv("AZURE_TENANT_ID", entra.tenant)
    monkeypatch.setenv("AZURE_CLIENT_ID", entra.client_id)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    served = await serve(
        yaml.safe_dump(
            {
                "model_list": [azure_entry(azure_fake)],
                "litellm_settings": {"enable_azure_ad_token_refresh": True},
            }
        )
    )
    response, _trailers = await generate(served)
    assert len(response.images) == 1
    (token_call,) = entra.requests
    assert token_call.form["client_assertion_type"] == ASSERTION_TYPE
    assert azure_fake.requests[-1].headers["authorization"] == f"Bearer {entra.token}"


def test_an_incomplete_service_principal_is_refused_at_start(azure_fake: AzureFake) -> None:
    text = yaml.safe_dump({"model_list": [azure_entry(azure_fake, tenant_id="t", client_id="c")]})
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, source="litellm.yaml")
    assert "needs tenant_id, client_id and client_secret (missing: client_secret)" in str(
        caught.value
    )


def test_no_credential_at_all_names_every_way_to_give_one(azure_fake: AzureFake) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(yaml.safe_dump({"model_list": [azure_entry(azure_fake)]}))
    assert "tenant_id, client_id, client_secret" in str(caught.value)


async def test_tokens_refresh_before_expiry_with_one_fetch_for_concurrent_waiters(
    entra: EntraFake,
) -> None:
    source = EntraTokenSource(
        EntraSource(
            "client_secret",
            tenant_id=entra.tenant,
            client_id=entra.client_id,
            client_secret=entra.client_secret,
        ),
        provider="azure",
    )
    tokens = await asyncio.gather(*(source.token(Deadline.after(30)) for _ in range(5)))
    assert set(tokens) == {entra.token}
    assert source.fetches == 1
    assert await source.token(Deadline.after(30)) == entra.token
    assert source.fetches == 1  # cached
    # Within five minutes of expiry the next call asks azure-identity again.
    start = source.clock()
    source.clock = lambda: start + entra.expires_in - 200
    assert await source.token(Deadline.after(30)) == entra.token
    assert source.fetches == 2


async def test_an_unknown_tenant_is_an_authentication_failure(entra: EntraFake) -> None:
    source = EntraTokenSource(
        EntraSource("client_secret", tenant_id="nope", client_id="c", client_secret="s"),
        provider="azure",
    )
    with pytest.raises(ProviderAuthenticationError) as caught:
        await source.token(Deadline.after(30))
    assert caught.value.facts is None or caught.value.facts.attempts == 0
