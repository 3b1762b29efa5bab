"""Bedrock's remaining LiteLLM credential shape: `aws_profile_name` as the base credentials of
an assumed role (`aws_role_name`), the profile read from a shared credentials file by
botocore's chain; STS (a fake, via aws_sts_endpoint) verifies the SigV4 signature was made
with the profile's key, and Bedrock (a fake) sees only the role's temporary key."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import yaml

from tests.conftest import ServeFactory
from tests.fakes.bedrock import ACCESS_KEY_ID, SECRET_ACCESS_KEY, BedrockFake
from tests.fakes.sts import StsFake
from tests.test_bedrock_assume_role import ROLE, bedrock, entry, generate, sts

__all__ = ["bedrock", "sts"]  # the fixtures, shared with the assume-role tests


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[team]\naws_access_key_id = {ACCESS_KEY_ID}\n"
        f"aws_secret_access_key = {SECRET_ACCESS_KEY}\n"
        "[other]\naws_access_key_id = AKIAOTHEROTHEROTHER1\n"
        "aws_secret_access_key = not-the-key-sts-knows\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return "team"


async def test_the_profile_signs_the_assume_role_and_the_role_signs_bedrock(
    serve: ServeFactory, bedrock: BedrockFake, sts: StsFake, profile: str
) -> None:
    params = {
        "aws_profile_name": profile,
        "aws_role_name": ROLE,
        "aws_external_id": "ext-42",
        "aws_sts_endpoint": sts.base_url,
    }
    served = await serve(yaml.safe_dump({"model_list": [entry(bedrock, **params)]}))
    response, _trailers = await generate(served)
    assert len(response.images) == 1
    (issued,) = sts.issued
    assert (issued.action, issued.signed_with) == ("AssumeRole", ACCESS_KEY_ID)
    assert [i.access_key_id for i in bedrock.invocations] == [issued.access_key_id]


async def test_a_profile_sts_does_not_trust_fails_before_bedrock(
    serve: ServeFactory, bedrock: BedrockFake, sts: StsFake, profile: str
) -> None:
    params = {
        "aws_profile_name": "other",
        "aws_role_name": ROLE,
        "aws_external_id": "ext-42",
        "aws_sts_endpoint": sts.base_url,
    }
    served = await serve(yaml.safe_dump({"model_list": [entry(bedrock, **params)]}))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(served)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
    assert "not-the-key-sts-knows" not in str(caught.value)
    assert sts.issued == [] and bedrock.invocations == []
