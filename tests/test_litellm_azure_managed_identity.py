"""Azure OpenAI through a managed identity, as LiteLLM configures it
(`litellm_settings.enable_azure_ad_token_refresh: true`, no key): azure-identity's
DefaultAzureCredential reaches a fake App Service identity endpoint on loopback, the
system-assigned identity or, with `client_id` alone, a user-assigned one; the Azure fake
sees the token it issued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import ServeFactory
from tests.fakes.azure import AzureFake
from tests.fakes.managed_identity import ManagedIdentityFake

DATED = "2025-04-01-preview"


@pytest.fixture
async def identity(
    monkeypatch: pytest.MonkeyPatch, azure_fake: AzureFake
) -> AsyncIterator[ManagedIdentityFake]:
    # The host's identity issues the token the Azure fake accepts as an Entra token.
    async with ManagedIdentityFake(token=azure_fake.entra_token) as fake:
        for name in (
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_USERNAME",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "MSI_ENDPOINT",
            "IMDS_ENDPOINT",
            "IDENTITY_SERVER_THUMBPRINT",
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("IDENTITY_ENDPOINT", fake.endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", fake.header_secret)
        yield fake


def config(azure: AzureFake, **params: Any) -> str:
    entry = {
        "model_name": "img",
        "litellm_params": {
            "model": "azure/gpt-image-1",
            "api_base": azure.base_url,
            "api_version": DATED,
            **params,
        },
    }
    return yaml.safe_dump(
        {"model_list": [entry], "litellm_settings": {"enable_azure_ad_token_refresh": True}}
    )


async def generate(served: Any) -> pb.GenerateImagesResponse:
    request = pb.GenerateImagesRequest(prompt="an otter", model="img", quality="low")
    response: pb.GenerateImagesResponse = await served.stub.GenerateImages(request)
    return response


async def test_the_system_assigned_identity_authenticates_calls(
    serve: ServeFactory, azure_fake: AzureFake, identity: ManagedIdentityFake
) -> None:
    served = await serve(config(azure_fake))
    for _ in range(2):
        assert len((await generate(served)).images) == 1
    (asked,) = identity.requests  # one token, cached for the second call
    assert asked.query["resource"] == "https://cognitiveservices.azure.com"
    assert "client_id" not in asked.query
    assert {r.headers["authorization"] for r in azure_fake.requests} == {f"Bearer {identity.token}"}


async def test_client_id_alone_names_a_user_assigned_identity(
    serve: ServeFactory, azure_fake: AzureFake, identity: ManagedIdentityFake
) -> None:
    served = await serve(config(azure_fake, client_id="user-assigned-1"))
    assert len((await generate(served)).images) == 1
    assert identity.requests[-1].query["client_id"] == "user-assigned-1"
    assert azure_fake.requests[-1].headers["authorization"] == f"Bearer {identity.token}"


async def test_an_identity_the_host_does_not_have_is_an_operator_problem(
    serve: ServeFactory, azure_fake: AzureFake, identity: ManagedIdentityFake
) -> None:
    served = await serve(config(azure_fake, client_id="not-on-this-host"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    # The operator's problem, not the caller's: FAILED_PRECONDITION naming the identity.
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "the managed identity 'not-on-this-host'" in (caught.value.details() or "")
    assert identity.header_secret not in (caught.value.details() or "")
    assert azure_fake.requests == []  # nothing was sent to Azure
