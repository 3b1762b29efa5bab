"""LiteLLM's key-admin routes on the HTTP door, as an operator's LiteLLM script calls them:
real HTTP to the running server, the master key, LiteLLM's JSON shapes, OpenAI's error
envelope; a generated key then works (and a deleted one does not) on both doors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from imagegen.errors import KeyRateLimitedError, UnauthenticatedError
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config, client
from tests.test_http_openapi import packaged_document


@pytest.fixture
def config(openai_fake: OpenAIFake, tmp_path: Path) -> str:
    return access_config(
        openai_fake,
        general={"master_key": MASTER, "spend_log_path": str(tmp_path / "spend.sqlite3")},
        keys=[{"alias": "team", "key": TEAM_KEY, "models": ["dall-e-2"]}],
    )


def admin(served: Served, key: str = MASTER) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=served.http_base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


async def test_generate_info_list_delete_round_trip(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    async with admin(served) as http:
        made = await http.post(
            "/key/generate",
            json={
                "key_alias": "script-key",
                "models": ["dall-e-3"],
                "max_budget": 5.5,
                "budget_duration": "1mo",
                "rpm_limit": 10,
                "duration": None,
                "metadata": {},
            },
        )
        assert made.status_code == 200, made.text
        generated = made.json()
        secret, token = generated["key"], generated["token"]
        assert generated["key_alias"] == "script-key"
        assert generated["models"] == ["dall-e-3"]
        assert (generated["max_budget"], generated["budget_duration"]) == (5.5, "1mo")
        assert (generated["rpm_limit"], generated["spend"], generated["expires"]) == (10, 0.0, None)

        # LiteLLM's /key/info answers for the secret and for its token alike.
        for wanted in (secret, token):
            info = await http.get("/key/info", params={"key": wanted})
            assert info.status_code == 200, info.text
            assert info.json()["key"] == wanted
            assert info.json()["info"]["key_alias"] == "script-key"
            assert secret not in str(info.json()["info"])

        listed = (await http.get("/key/list")).json()
        assert token in listed["keys"]
        assert listed["total_count"] == 2 and listed["current_page"] == 1
        full = (
            await http.get("/key/list", params={"return_full_object": "true", "size": "1"})
        ).json()
        assert len(full["keys"]) == 1 and full["total_pages"] == 2
        assert isinstance(full["keys"][0], dict)

    async with client(served, secret) as new:
        done = await new.generate_images("a cat", model="dall-e-3")
        assert len(done.response.images) == 1

    async with admin(served) as http:
        deleted = await http.post("/key/delete", json={"keys": [secret]})
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"deleted_keys": [secret]}
        gone = await http.get("/key/info", params={"key": token})
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "not_found"
    async with client(served, secret) as new:
        with pytest.raises(UnauthenticatedError):
            await new.generate_images("a cat", model="dall-e-3")


async def test_delete_by_alias(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    async with admin(served) as http:
        await http.post("/key/generate", json={"key_alias": "temp"})
        deleted = await http.post("/key/delete", json={"key_aliases": ["temp"]})
        assert deleted.json() == {"deleted_keys": ["temp"]}
        listed = (await http.get("/key/list", params={"key_alias": "temp"})).json()
        assert listed["keys"] == []


async def test_a_generated_key_without_alias_gets_one(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    async with admin(served) as http:
        made = (await http.post("/key/generate", json={})).json()
    assert made["key_alias"].startswith("key-")
    assert made["key"].startswith("ig-")


async def test_litellms_own_header_carries_the_master_key(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    async with httpx.AsyncClient(base_url=served.http_base_url) as http:
        listed = await http.get("/key/list", headers={"x-litellm-api-key": MASTER})
    assert listed.status_code == 200


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"tpm_limit": 1000}, "tpm_limit", "not supported"),
        ({"duration": "30d"}, "duration", "not supported"),
        ({"team_id": "t1"}, "team_id", "not supported"),
        ({"budget_duration": "30d", "max_budget": 1}, "budget_duration", "1d (daily) or 1mo"),
        ({"max_budget": -1}, "max_budget", "non-negative"),
        ({"metadata": {"a": 1}}, "metadata", "use tags"),
        ({"models": "dall-e-3"}, "models", "list of strings"),
    ],
)
async def test_what_keys_cannot_honour_is_refused_naming_the_field(
    serve: ServeFactory, config: str, body: dict[str, object], param: str, words: str
) -> None:
    served = await serve(config)
    async with admin(served) as http:
        answer = await http.post("/key/generate", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert words in error["message"]


async def test_only_the_master_key_manages_keys(serve: ServeFactory, config: str) -> None:
    served = await serve(config)
    async with admin(served, TEAM_KEY) as http:
        answer = await http.post("/key/generate", json={"key_alias": "x"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "master_key_required"
    async with httpx.AsyncClient(base_url=served.http_base_url) as http:
        anonymous = await http.get("/key/list")
    assert anonymous.status_code == 401


async def test_duplicate_alias_and_config_keys_are_refused(
    serve: ServeFactory, config: str
) -> None:
    served = await serve(config)
    async with admin(served) as http:
        await http.post("/key/generate", json={"key_alias": "dup"})
        again = await http.post("/key/generate", json={"key_alias": "dup"})
        config_key = await http.post("/key/delete", json={"key_aliases": ["team"]})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"
    assert config_key.status_code == 400
    assert "config file" in config_key.json()["error"]["message"]


async def test_without_a_master_key_the_routes_say_what_is_missing(
    serve: ServeFactory, openai_fake: OpenAIFake
) -> None:
    served = await serve(access_config(openai_fake, general={}))
    async with admin(served, "anything") as http:
        answer = await http.get("/key/list")
    assert answer.status_code == 400
    assert "master_key" in answer.json()["error"]["message"]


async def test_answers_match_the_documented_schemas(serve: ServeFactory, config: str) -> None:
    document = packaged_document()
    registry: Registry[Any] = Registry().with_resource(
        "openapi.json", Resource.from_contents(document, default_specification=DRAFT202012)
    )

    def check(answer: httpx.Response, schema: str) -> None:
        assert answer.status_code == 200, answer.text
        ref = {"$ref": f"openapi.json#/components/schemas/{schema}"}
        Draft202012Validator(ref, registry=registry).validate(answer.json())

    served = await serve(config)
    async with admin(served) as http:
        made = await http.post("/key/generate", json={"key_alias": "doc", "max_budget": 2})
        check(made, "LiteLLMGeneratedKey")
        check(
            await http.get("/key/info", params={"key": made.json()["key"]}),
            "LiteLLMKeyInfoResponse",
        )
        check(await http.get("/key/list"), "LiteLLMKeyList")
        full = await http.get("/key/list", params={"return_full_object": "true"})
        check(full, "LiteLLMKeyList")
        check(await http.post("/key/delete", json={"key_aliases": ["doc"]}), "LiteLLMDeletedKeys")


async def test_a_generated_keys_max_parallel_requests_is_kept_and_enforced(
    serve: ServeFactory, config: str, openai_fake: OpenAIFake
) -> None:
    served = await serve(config)
    async with admin(served) as http:
        bad = await http.post("/key/generate", json={"max_parallel_requests": -1})
        assert bad.status_code == 400 and "max_parallel_requests" in bad.text
        made = await http.post(
            "/key/generate", json={"key_alias": "one-at-a-time", "max_parallel_requests": 1}
        )
        assert made.status_code == 200, made.text
        assert made.json()["max_parallel_requests"] == 1
    openai_fake.delay = 0.5
    async with client(served, made.json()["key"]) as new:
        outcomes = await asyncio.gather(
            *(new.generate_images("a cat", model="dall-e-2") for _ in range(3)),
            return_exceptions=True,
        )
    refused = [o for o in outcomes if isinstance(o, KeyRateLimitedError)]
    assert len(refused) == 2 and refused[0].subject == "key:one-at-a-time:max_parallel_requests"
