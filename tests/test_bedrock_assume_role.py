"""Bedrock as LiteLLM configures it for assumed roles and VPC endpoints: aws_role_name /
aws_session_name / aws_external_id through a fake STS (aws_sts_endpoint), web identity, and
aws_bedrock_runtime_endpoint; through the running server, with SigV4 verified by both fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import yaml

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import parse_settings
from imagegen.errors import ConfigError
from tests.conftest import Served, ServeFactory
from tests.fakes.bedrock import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, BedrockFake
from tests.fakes.sts import Issued, StsFake

ROLE = "arn:aws:iam::123456789012:role/imagegen-bedrock"
MODEL = "stability.sd3-5-large-v1:0"


@pytest.fixture
async def bedrock() -> AsyncIterator[BedrockFake]:
    # Only the base user's keys at first: the role's keys become valid when STS issues them.
    async with BedrockFake(credentials={}) as fake:
        yield fake


@pytest.fixture
async def sts(bedrock: BedrockFake) -> AsyncIterator[StsFake]:
    def trust(issued: Issued) -> None:
        bedrock.credentials[issued.access_key_id] = (
            issued.secret_access_key,
            issued.session_token,
        )

    async with StsFake(
        base_credentials={ACCESS_KEY_ID: SECRET_ACCESS_KEY},
        roles={ROLE},
        region=REGION,
        external_ids={ROLE: "ext-42"},
        on_issue=trust,
    ) as fake:
        yield fake


def entry(bedrock: BedrockFake, **params: Any) -> dict[str, Any]:
    return {
        "model_name": "img",
        "litellm_params": {
            "model": f"bedrock/{MODEL}",
            "aws_region_name": REGION,
            "aws_bedrock_runtime_endpoint": bedrock.base_url,
            **params,
        },
    }


def role_params(sts: StsFake, **extra: str) -> dict[str, str]:
    return {
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "aws_role_name": ROLE,
        "aws_session_name": "litellm-session",
        "aws_external_id": "ext-42",
        "aws_sts_endpoint": sts.base_url,
        **extra,
    }


async def generate(served: Served) -> tuple[pb.GenerateImagesResponse, dict[str, str]]:
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a lighthouse", model="img", size="1024x1024")
    )
    response = await call
    trailers = {k: v for k, v in await call.trailing_metadata() if isinstance(v, str)}
    return response, trailers


async def test_an_assumed_role_signs_calls_to_a_vpc_endpoint(
    serve: ServeFactory, bedrock: BedrockFake, sts: StsFake
) -> None:
    served = await serve(yaml.safe_dump({"model_list": [entry(bedrock, **role_params(sts))]}))
    for _ in range(2):
        response, trailers = await generate(served)
        assert len(response.images) == 1
    assert trailers["x-imagegen-api-base"] == bedrock.base_url
    # One STS session for both calls, signed with the base user's key.
    (issued,) = sts.issued
    assert (issued.action, issued.session_name, issued.signed_with) == (
        "AssumeRole",
        "litellm-session",
        ACCESS_KEY_ID,
    )
    # Bedrock saw the role's temporary key (with its session token), never the base key.
    assert [i.access_key_id for i in bedrock.invocations] == [issued.access_key_id] * 2
    assert all(i.auth == "sigv4" and i.region == REGION for i in bedrock.invocations)


async def test_a_refused_role_is_an_operator_problem_without_secrets(
    serve: ServeFactory, bedrock: BedrockFake, sts: StsFake
) -> None:
    served = await serve(
        yaml.safe_dump(
            {"model_list": [entry(bedrock, **role_params(sts, aws_external_id="wrong"))]}
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    details = caught.value.details() or ""
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "AWS STS refused" in details and "AccessDenied" in details
    assert SECRET_ACCESS_KEY not in details
    assert bedrock.invocations == []


async def test_web_identity_assumes_the_role_without_base_keys(
    serve: ServeFactory, bedrock: BedrockFake, sts: StsFake
) -> None:
    params = {
        "aws_role_name": ROLE,
        "aws_web_identity_token": sts.web_identity_token,
        "aws_sts_endpoint": sts.base_url,
    }
    served = await serve(yaml.safe_dump({"model_list": [entry(bedrock, **params)]}))
    response, _ = await generate(served)
    assert len(response.images) == 1
    (issued,) = sts.issued
    assert issued.action == "AssumeRoleWithWebIdentity" and issued.signed_with is None
    assert bedrock.invocations[-1].access_key_id == issued.access_key_id


async def test_an_unreachable_sts_is_unavailable(serve: ServeFactory, bedrock: BedrockFake) -> None:
    params = {
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "aws_role_name": ROLE,
        "aws_sts_endpoint": "http://127.0.0.1:9",
    }
    served = await serve(yaml.safe_dump({"model_list": [entry(bedrock, **params)]}))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "could not assume the role" in (caught.value.details() or "")


def test_role_settings_without_a_role_are_refused_at_start(bedrock: BedrockFake) -> None:
    text = yaml.safe_dump({"model_list": [entry(bedrock, aws_session_name="s")]})
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, source="litellm.yaml")
    assert "needs aws_role_name with aws_session_name" in str(caught.value)


async def test_the_runtime_endpoint_with_plain_keys(
    serve: ServeFactory, bedrock: BedrockFake
) -> None:
    bedrock.credentials[ACCESS_KEY_ID] = (SECRET_ACCESS_KEY, None)
    params = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}
    served = await serve(yaml.safe_dump({"model_list": [entry(bedrock, **params)]}))
    response, trailers = await generate(served)
    assert len(response.images) == 1
    assert trailers["x-imagegen-api-base"] == bedrock.base_url
    assert bedrock.invocations[-1].access_key_id == ACCESS_KEY_ID
