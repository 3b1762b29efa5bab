"""LiteLLM's /key/update on the HTTP door, as an operator's script calls it: the master key,
LiteLLM's body (null leaves a field as it is), the updated key in LiteLLM's shape; the new
settings take effect on calls at once, and the change is kept in the database."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagegen.errors import BudgetExceededError, PermissionDeniedError
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config, client
from tests.test_fleet_quota import fleet, fleet_config, pg_database, redis_url

__all__ = ["pg_database", "redis_url"]  # fixtures, imported to be used here


@pytest.fixture
def config(openai_fake: OpenAIFake, tmp_path: Path) -> str:
    return access_config(
        openai_fake,
        general={"master_key": MASTER, "spend_log_path": str(tmp_path / "spend.sqlite3")},
        keys=[{"alias": "team", "key": TEAM_KEY}],
    )


def admin(served: Served, key: str = MASTER) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=served.http_base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


async def generated(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    made = await http.post("/key/generate", json=body)
    assert made.status_code == 200, made.text
    return dict(made.json())


async def test_update_changes_models_budget_alias_and_calls_see_it(
    serve: ServeFactory, config: str
) -> None:
    served = await serve(config)
    async with admin(served) as http:
        made = await generated(http, key_alias="script", models=["dall-e-2"], rpm_limit=5)
        secret, token = made["key"], made["token"]
    async with client(served, secret) as caller:
        with pytest.raises(PermissionDeniedError):
            await caller.generate_images("a cat", model="dall-e-3")

    async with admin(served) as http:
        answer = await http.post(
            "/key/update",
            json={
                "key": token,
                "key_alias": "renamed",
                "models": ["dall-e-3"],
                "max_budget": 0.001,
                "budget_duration": "1d",
                "rpm_limit": None,  # LiteLLM: null leaves it as it is
                "metadata": {},
            },
        )
        assert answer.status_code == 200, answer.text
        updated = answer.json()
        assert updated["key"] == token and updated["token"] == token
        assert updated["key_alias"] == "renamed"
        assert updated["models"] == ["dall-e-3"]
        assert (updated["max_budget"], updated["budget_duration"]) == (0.001, "1d")
        assert updated["rpm_limit"] == 5
        info = (await http.get("/key/info", params={"key": secret})).json()["info"]
        assert info["key_alias"] == "renamed" and info["models"] == ["dall-e-3"]

    async with client(served, secret) as caller:
        # The new model list lets dall-e-3 through; its standard price (0.04) is over
        # the new 0.001 budget, so the call is refused before it is sent.
        with pytest.raises(BudgetExceededError):
            await caller.generate_images("a cat", model="dall-e-3")
        with pytest.raises(PermissionDeniedError):
            await caller.generate_images("a cat", model="dall-e-2")


async def test_update_by_secret_and_the_change_survives_a_restart(
    serve: ServeFactory, config: str
) -> None:
    served = await serve(config)
    async with admin(served) as http:
        made = await generated(http, key_alias="kept", tags=["a"])
        answer = await http.post("/key/update", json={"key": made["key"], "tags": ["b", "c"]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["key"] == made["key"]
        assert answer.json()["tags"] == ["b", "c"]
    await served.running.stop(grace=0)
    again = await serve(config)
    async with admin(again) as http:
        info = (await http.get("/key/info", params={"key": made["token"]})).json()["info"]
    assert info["tags"] == ["b", "c"] and info["key_alias"] == "kept"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"tpm_limit": 100}, 400, "tpm_limit"),
        ({"metadata": {"team": "x"}}, 400, "metadata"),
        ({"blocked": True}, 400, "blocked"),
        ({"budget_duration": "30d", "max_budget": 1}, 400, "budget_duration"),
        ({"budget_duration": "1d"}, 400, "budget_duration"),
        ({"rpm_limit": -1}, 400, "rpm_limit"),
        ({"key_alias": "team"}, 409, None),
    ],
)
async def test_what_imagegen_keys_cannot_hold_is_refused_naming_it(
    serve: ServeFactory, config: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    served = await serve(config)
    async with admin(served) as http:
        made = await generated(http, key_alias="victim", rpm_limit=3)
        answer = await http.post("/key/update", json={"key": made["token"], **body})
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        if field is not None:
            assert field in error["message"]
        info = (await http.get("/key/info", params={"key": made["token"]})).json()["info"]
    assert info["key_alias"] == "victim" and info["rpm_limit"] == 3  # nothing half-applied


async def test_config_keys_unknown_keys_and_non_master_callers_are_refused(
    serve: ServeFactory, config: str
) -> None:
    served = await serve(config)
    async with admin(served) as http:
        config_key = await http.post("/key/update", json={"key": TEAM_KEY, "rpm_limit": 1})
        assert config_key.status_code == 400
        assert "config file" in config_key.json()["error"]["message"]
        missing = await http.post("/key/update", json={"key": "ig-no-such-key", "rpm_limit": 1})
        assert missing.status_code == 404
        no_key = await http.post("/key/update", json={"rpm_limit": 1})
        assert no_key.status_code == 400 and "key" in no_key.json()["error"]["message"]
    async with admin(served, TEAM_KEY) as http:
        refused = await http.post("/key/update", json={"key": TEAM_KEY, "rpm_limit": 1})
        assert refused.status_code == 403
    async with httpx.AsyncClient(base_url=served.http_base_url) as http:
        anonymous = await http.post("/key/update", json={"key": TEAM_KEY})
        assert anonymous.status_code == 401


async def test_an_update_on_one_replica_is_honoured_by_another_within_a_second(
    serve: ServeFactory, openai_fake: OpenAIFake, pg_database: str, redis_url: str
) -> None:
    config = fleet_config(openai_fake, pg_database, redis_url, f"test:{uuid.uuid4().hex}")
    a, b = await fleet(serve, config)
    async with admin(a) as http:
        made = await generated(http, key_alias="moved", models=["dall-e-2"])
    async with client(b, made["key"]) as on_b:
        await on_b.generate_images("a cat", model="dall-e-2", size="256x256")
        async with admin(a) as http:
            answer = await http.post(
                "/key/update", json={"key": made["token"], "models": ["dall-e-3"]}
            )
            assert answer.status_code == 200, answer.text
        started = time.monotonic()
        while True:
            try:
                await on_b.generate_images("a cat", model="dall-e-2", size="256x256")
            except PermissionDeniedError:
                break
            assert time.monotonic() - started < 1.0, "the update did not reach replica b"
            await asyncio.sleep(0.01)
