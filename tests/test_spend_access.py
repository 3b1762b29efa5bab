"""Virtual keys through the running server: authentication on both doors, allowed models,
rate limits, per-key request credentials, and key management (KeyAdmin, CLI)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from imagegen.cli import main
from imagegen.errors import (
    Code,
    ImageGenError,
    KeyMissingError,
    KeyRateLimitedError,
    MasterKeyRequiredError,
    ModelNotAllowedError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, OTHER_KEY, TEAM_KEY, access_config, client


@pytest.fixture
def config(openai_fake: OpenAIFake, tmp_path: Path) -> str:
    return access_config(
        openai_fake,
        general={"master_key": MASTER, "spend_log_path": str(tmp_path / "spend.sqlite3")},
        keys=[
            {"alias": "team", "key": TEAM_KEY, "models": ["dall-e-2"], "rpm": 3},
            {"alias": "other", "key": OTHER_KEY, "ipm": 4, "allow_request_credentials": True},
        ],
    )


async def test_calls_without_a_valid_key_are_refused_on_both_doors(
    serve: ServeFactory, config: str
) -> None:
    served = await serve(config)
    async with client(served, None) as anonymous:
        with pytest.raises(KeyMissingError) as missing:
            await anonymous.generate_images("a cat", model="dall-e-2")
    assert missing.value.code is Code.UNAUTHENTICATED
    async with client(served, "ig-not-a-key-at-all-000000") as wrong:
        with pytest.raises(UnauthenticatedError) as unknown:
            await wrong.generate_images("a cat", model="dall-e-2")
    assert unknown.value.reason == "KEY_INVALID"
    assert unknown.value.facts is not None and unknown.value.facts.attempts == 0

    async with httpx.AsyncClient(base_url=served.http_base_url) as http:
        body = {"model": "dall-e-2", "prompt": "a cat"}
        refused = await http.post("/v1/images/generations", json=body)
        accepted = await http.post(
            "/v1/images/generations", json=body, headers={"authorization": f"Bearer {TEAM_KEY}"}
        )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "key_missing"
    assert accepted.status_code == 200, accepted.text


async def test_a_key_calls_only_its_models(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    async with client(served, TEAM_KEY) as team:
        ok = await team.generate_images("a cat", model="dall-e-2")
        with pytest.raises(ModelNotAllowedError) as denied:
            await team.generate_images("a cat", model="dall-e-3")
    assert len(ok.response.images) == 1
    assert denied.value.code is Code.PERMISSION_DENIED
    assert denied.value.metadata["model"] == "dall-e-3"


async def test_rpm_and_ipm_limits_answer_with_quota_failure_and_retry_info(
    serve: ServeFactory, config: str
) -> None:
    served = await serve(config)
    async with client(served, TEAM_KEY) as team:
        for _ in range(3):
            await team.generate_images("a cat", model="dall-e-2")
        with pytest.raises(KeyRateLimitedError) as limited:
            await team.generate_images("a cat", model="dall-e-2")
    assert limited.value.code is Code.RESOURCE_EXHAUSTED
    assert limited.value.subject == "key:team:rpm"
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 60

    async with client(served, OTHER_KEY) as other:
        await other.generate_images("a cat", model="dall-e-2", n=3)
        with pytest.raises(KeyRateLimitedError) as images:
            await other.generate_images("a cat", model="dall-e-2", n=2)
        await other.generate_images("a cat", model="dall-e-2", n=1)  # 4 images: still fits
    assert images.value.subject == "key:other:ipm"


async def test_request_credentials_are_per_key(
    serve: ServeFactory, config: str, openai_fake: OpenAIFake
) -> None:
    served = await serve(config)
    elsewhere = openai_fake.base_url + "/v1"
    async with client(served, TEAM_KEY) as team:
        with pytest.raises(PermissionDeniedError) as refused:
            await team.generate_images("a cat", model="dall-e-2", api_base="http://10.0.0.1/v1")
    assert type(refused.value) is PermissionDeniedError
    assert refused.value.reason == "REQUEST_CREDENTIALS_NOT_ALLOWED"
    assert [v.field for v in refused.value.field_violations] == ["api_base"]
    openai_fake.clear()
    async with client(served, OTHER_KEY) as other:
        done = await other.generate_images(
            "a cat", model="dall-e-2", api_base=elsewhere, api_key="sk-test-openai"
        )
    assert len(done.response.images) == 1
    assert openai_fake.last_request.headers["authorization"] == "Bearer sk-test-openai"


async def test_master_key_manages_keys_and_revocation_takes_effect(
    serve: ServeFactory, config: str
) -> None:
    served = await serve(config)
    async with client(served, MASTER) as admin:
        created = await admin.create_key("new", models=["dall-e-3"], tags=["research"])
        with pytest.raises(ImageGenError) as duplicate:
            await admin.create_key("new")
        listed = {k.alias: k for k in await admin.list_keys()}
    assert created.key.startswith("ig-") and len(created.info.key_id) == 16
    assert duplicate.value.code is Code.ALREADY_EXISTS
    assert set(listed) == {"team", "other", "new"}
    assert listed["new"].source == "database" and listed["team"].source == "config"
    assert all(created.key not in str(k) for k in listed.values())

    async with client(served, created.key) as new:
        done = await new.generate_images("a cat", model="dall-e-3")
        assert len(done.response.images) == 1
        async with client(served, TEAM_KEY) as team:
            with pytest.raises(MasterKeyRequiredError):
                await team.list_keys()
        async with client(served, MASTER) as admin:
            revoked = await admin.revoke_key("new")
        assert revoked.revoked
        with pytest.raises(UnauthenticatedError):
            await new.generate_images("a cat", model="dall-e-3")


async def test_keys_cli_creates_lists_and_revokes(
    serve: ServeFactory, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    served = await serve(config)
    target = ["--target", served.address, "--master-key", MASTER]

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().out

    code, out = await asyncio.to_thread(
        run, "keys", "create", "--alias", "cli", "--max-budget", "5", "--budget-period",
        "daily", "--rpm", "10", *target,
    )  # fmt: skip
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("ig-")
    code, out = await asyncio.to_thread(run, "keys", "list", *target)
    assert code == 0
    line = next(li for li in out.splitlines() if li.startswith("cli "))
    assert "5" in line.split() and "active" in line.split() and secret not in out
    code, out = await asyncio.to_thread(run, "keys", "revoke", "cli", *target)
    assert code == 0 and "revoked key cli" in out
    async with client(served, secret) as revoked:
        with pytest.raises(UnauthenticatedError):
            await revoked.generate_images("a cat", model="dall-e-2")
    code = await asyncio.to_thread(
        main, ["keys", "list", "--target", served.address, "--master-key", TEAM_KEY]
    )
    assert code == 1
    assert "MASTER_KEY_REQUIRED" in capsys.readouterr().err
