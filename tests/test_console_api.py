"""The web console's server side, over real HTTP to a running gateway: the page and its
assets (security headers, size budget), the setting that turns it off, and the JSON API
under /ui/api (who is signed in, the models, spend over time, live health) with a
virtual key seeing only its own rows."""

from __future__ import annotations

import gzip
import re
import time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from imagegen.config import embedded_settings
from imagegen.http.console.api import HEALTH_WINDOW_SECONDS
from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, OTHER_KEY, TEAM_KEY, access_config, client, openai_entry

# The first load: the page, its stylesheet, its icon and every module (all loaded at once).
FIRST_LOAD_BUDGET_BYTES = 300 * 1024


def console_config(fake: OpenAIFake, tmp_path: Path, **general: Any) -> str:
    return access_config(
        fake,
        general={
            "master_key": MASTER,
            "spend_log_path": str(tmp_path / "spend.sqlite3"),
            **general,
        },
        keys=[
            {"alias": "team", "key": TEAM_KEY, "max_budget": "5", "budget_period": "monthly"},
            {"alias": "other", "key": OTHER_KEY, "models": ["dall-e-2"]},
        ],
    )


def http(served: Served, key: str | None = MASTER) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=served.http_base_url, headers=headers, timeout=30)


async def generate(served: Served, key: str, model: str, prompt: str, n: int = 1) -> httpx.Response:
    async with http(served, key) as api:
        return await api.post(
            "/v1/images/generations",
            json={"model": model, "prompt": prompt, "n": n, "size": "1024x1024"},
        )


def static_files() -> dict[str, bytes]:
    root = resources.files("imagegen.http.console").joinpath("static")
    found: dict[str, bytes] = {}

    def walk(folder: Any, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                found[f"{prefix}{entry.name}"] = entry.read_bytes()

    walk(root, "")
    return found


# ------------------------------------------------------------------ the page and its assets


async def test_page_and_assets_carry_a_strict_content_security_policy(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    served = await serve(console_config(openai_fake, tmp_path))
    async with http(served, None) as browser:
        page = await browser.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy and "*" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        # No inline script or style in the page: only files the policy allows.
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
        assert "<style" not in page.text and "style=" not in page.text
        referenced = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', page.text)
        assert "/ui/static/js/main.js" in referenced
        for path in referenced:
            asset = await browser.get(path)
            assert asset.status_code == 200, path
            assert asset.headers["content-security-policy"] == policy

        api = await browser.get("/ui/api/session")
        assert api.headers["content-security-policy"] == policy
        for missing in ("/ui/static/nothing.js", "/ui/static/../__init__.py", "/ui/static/js"):
            assert (await browser.get(missing)).status_code == 404, missing
        # The door's root leads a person to the console.
        root = await browser.get("/", follow_redirects=False)
        assert (root.status_code, root.headers["location"]) == (302, "/ui")


async def test_assets_are_compressed_and_the_first_load_is_under_budget(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    files = static_files()
    # Every shipped file is part of the first load (the modules import one another).
    compressed = sum(len(gzip.compress(body, 9)) for body in files.values())
    assert compressed < FIRST_LOAD_BUDGET_BYTES, compressed
    assert all(not name.endswith(".map") for name in files)

    served = await serve(console_config(openai_fake, tmp_path))
    async with http(served, None) as browser:
        # httpx decodes gzip itself; the wire encoding is in the header.
        answer = await browser.get("/ui/static/js/views/playground.js")
        assert answer.headers["content-encoding"] in ("gzip", "deflate")
        assert answer.content == files["js/views/playground.js"]


async def test_the_console_setting_turns_it_off(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    document = yaml.safe_load(console_config(openai_fake, tmp_path))
    document["server_settings"] = {"console": False}
    served = await serve(yaml.safe_dump(document))
    assert served.running.gateway.settings.server.console is False
    async with http(served) as api:
        for path in ("/ui", "/ui/static/js/main.js", "/ui/api/session", "/"):
            answer = await api.get(path)
            assert answer.status_code == 404, path
            assert answer.json()["error"]["type"] == "invalid_request_error"
        # The API itself is still served.
        assert (await api.get("/v1/models")).status_code == 200


# ------------------------------------------------------------------ session and models


async def test_session_says_who_is_signed_in(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    served = await serve(console_config(openai_fake, tmp_path, log_prompts=True))
    async with http(served, None) as anonymous:
        assert (await anonymous.get("/ui/api/session")).json() == {
            "role": None,
            "keys_required": True,
        }
        # Every other route wants a key, as the API does.
        refused = await anonymous.get("/ui/api/models")
        assert refused.status_code == 401
        assert "error" in refused.json()
    async with http(served, "ig-not-a-key-0123456789") as wrong:
        assert (await wrong.get("/ui/api/session")).status_code == 401
    async with http(served) as master:
        answer = (await master.get("/ui/api/session")).json()
        assert answer["role"] == "master" and answer["manage_keys"] is True
        assert answer["spend_log"] is True and answer["log_prompts"] is True
    async with http(served, TEAM_KEY) as team:
        answer = (await team.get("/ui/api/session")).json()
        assert (answer["role"], answer["alias"], answer["manage_keys"]) == ("key", "team", False)


async def test_session_without_keys_is_open(serve: ServeFactory, openai_fake: OpenAIFake) -> None:
    served = await serve(yaml.safe_dump({"model_list": [openai_entry(openai_fake, "dall-e-3")]}))
    async with http(served, None) as anyone:
        answer = (await anyone.get("/ui/api/session")).json()
        assert answer["role"] == "open" and answer["spend_log"] is False
        spend = await anyone.get("/ui/api/spend")
        assert spend.status_code == 400
        assert "spend log" in spend.json()["error"]["message"]
        live = (await anyone.get("/ui/api/live")).json()
        assert live["spend_log"] is False and live["recent"] == []
        assert [d["model"] for d in live["deployments"]] == ["dall-e-3"]


async def test_models_carry_sizes_qualities_and_operations(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    served = await serve(console_config(openai_fake, tmp_path))
    async with http(served) as master:
        models = {m["name"]: m for m in (await master.get("/ui/api/models")).json()["models"]}
    assert set(models) == {"dall-e-2", "dall-e-3", "gpt-image-1"}
    dalle3 = models["dall-e-3"]
    assert {"1024x1024", "1792x1024"} <= set(dalle3["sizes"])
    assert set(dalle3["qualities"]) >= {"standard", "hd"}
    assert dalle3["operations"] == ["generate"] and dalle3["max_n"] == 1
    assert dalle3["price_basis"] != "unknown"
    assert "edit" in models["gpt-image-1"]["operations"]
    assert models["gpt-image-1"]["streams_partials"] is True
    # A virtual key is offered the models it may call, and no other.
    async with http(served, OTHER_KEY) as other:
        listed = (await other.get("/ui/api/models")).json()["models"]
    assert [m["name"] for m in listed] == ["dall-e-2"]


# ------------------------------------------------------------------ spend


async def test_spend_over_time_is_the_spend_query_and_a_key_sees_its_own(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    served = await serve(console_config(openai_fake, tmp_path))
    assert (await generate(served, TEAM_KEY, "dall-e-3", "a red fox")).status_code == 200
    assert (await generate(served, TEAM_KEY, "dall-e-2", "a blue fox")).status_code == 200
    assert (await generate(served, OTHER_KEY, "dall-e-2", "a green fox")).status_code == 200

    async with http(served) as master:
        answer = await master.get("/ui/api/spend", params={"group_by": "model", "days": "1"})
        assert answer.status_code == 200, answer.text
        spend = answer.json()
    assert spend["bucket_seconds"] == 3600
    assert spend["since"] <= time.time() - 86400 + 3600
    # The totals are QuerySpend's, to the row.
    async with client(served, MASTER) as grpc_client:
        expected = await grpc_client.query_spend("model", since=spend["since"])
    assert [
        (g["group"], g["requests"], g["images"], Decimal(g["cost"])) for g in spend["groups"]
    ] == [(g.group, g.requests, g.images, Decimal(g.cost)) for g in expected]
    # The timeline adds up to the same totals.
    for group in spend["groups"]:
        points = [p for p in spend["timeline"] if p["group"] == group["group"]]
        assert sum(Decimal(p["cost"]) for p in points) == Decimal(group["cost"])
        assert sum(p["images"] for p in points) == group["images"]
        assert all(p["start"] % 3600 == 0 and p["start"] >= spend["since"] for p in points)
    # The most expensive request first; every row without its prompt (log_prompts is off).
    costs = [Decimal(r["cost"]) for r in spend["top"]]
    assert costs == sorted(costs, reverse=True) and len(costs) == 3
    assert spend["top"][0]["model"] == "dall-e-3"
    assert all("prompt" not in r and "fox" not in str(r) for r in spend["top"])
    # Budget use of the current period, per key that has a budget.
    assert [b["alias"] for b in spend["budgets"]] == ["team"]
    team_cost = sum(Decimal(r["cost"]) for r in spend["top"] if r["key_alias"] == "team")
    assert Decimal(spend["budgets"][0]["spent"]) == team_cost
    assert (spend["budgets"][0]["max_budget"], spend["budgets"][0]["period"]) == ("5", "monthly")

    async with http(served, OTHER_KEY) as other:
        own = (await other.get("/ui/api/spend", params={"group_by": "key"})).json()
    assert [g["group"] for g in own["groups"]] == ["other"]
    assert {p["group"] for p in own["timeline"]} == {"other"}
    assert [r["key_alias"] for r in own["top"]] == ["other"]
    assert own["budgets"] == []  # its key has no budget; team's is not shown to it
    assert own["bucket_seconds"] == 86400  # seven days by default: daily buckets


@pytest.mark.parametrize(
    ("query", "field"),
    [({"group_by": "deployment"}, "group_by"), ({"days": "0"}, "days"), ({"days": "x"}, "days")],
)
async def test_spend_parameters_are_checked(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path, query: dict[str, str], field: str
) -> None:
    served = await serve(console_config(openai_fake, tmp_path))
    async with http(served) as master:
        answer = await master.get("/ui/api/spend", params=query)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == field


# ------------------------------------------------------------------ live


def two_deployment_config(fake: OpenAIFake, tmp_path: Path, log_prompts: bool) -> str:
    # Two deployments of one model (different addresses of the same fake): a rate-limited
    # deployment of a group is cooled down.
    entries = [openai_entry(fake, "dall-e-3"), openai_entry(fake, "dall-e-3")]
    entries[1]["litellm_params"]["api_base"] = (
        fake.base_url.replace("127.0.0.1", "localhost") + "/v1"
    )
    return yaml.safe_dump(
        {
            "model_list": entries,
            "general_settings": {
                "master_key": MASTER,
                "spend_log_path": str(tmp_path / "spend.sqlite3"),
                "log_prompts": log_prompts,
            },
            "keys": [{"alias": "team", "key": TEAM_KEY}],
            "router_settings": {"cooldown_time": 60, "num_retries": 0},
        }
    )


@pytest.mark.parametrize("log_prompts", [False, True])
async def test_live_lists_requests_and_deployment_health(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path, log_prompts: bool
) -> None:
    served = await serve(two_deployment_config(openai_fake, tmp_path, log_prompts))
    assert (await generate(served, TEAM_KEY, "dall-e-3", "a quiet harbour")).status_code == 200
    limited = await generate(served, TEAM_KEY, "dall-e-3", "ratelimit please")
    assert limited.status_code == 429

    async with http(served) as master:
        live = (await master.get("/ui/api/live")).json()
    assert live["window_seconds"] == HEALTH_WINDOW_SECONDS
    statuses = [r["status"] for r in live["recent"]]
    assert statuses[0] != "OK" and statuses[1:] == ["OK"]  # newest first
    assert all(r["attempts"] >= 1 and r["model"] == "dall-e-3" for r in live["recent"])
    assert live["recent"][1]["cost"] != "unknown"
    assert "b64_json" not in str(live)
    if log_prompts:
        assert [r["prompt"] for r in live["recent"]] == ["ratelimit please", "a quiet harbour"]
    else:
        assert all("prompt" not in r for r in live["recent"])
        assert "harbour" not in str(live)

    deployments = live["deployments"]
    assert len(deployments) == 2 and len({d["model_id"] for d in deployments}) == 2
    cooled = [d for d in deployments if d["cooling_down_until"] is not None]
    assert cooled, deployments
    assert all(d["cooling_down_until"] > time.time() + 30 for d in cooled)
    failed = live["recent"][0]["deployment"]
    by_id = {d["model_id"]: d for d in deployments}
    assert by_id[failed]["recent_errors"] == 1
    assert by_id[failed]["error_rate"] == 1 / by_id[failed]["recent_requests"]
    assert sum(d["recent_requests"] for d in deployments) == 2


async def test_the_console_is_on_by_default_with_make_runs_offline_config(
    serve: ServeFactory,
) -> None:
    # `make run` with no CONFIG: the embedded settings, the placeholder model, no keys.
    served = await serve(embedded_settings())
    async with http(served, None) as browser:
        assert (await browser.get("/ui")).status_code == 200
        assert (await browser.get("/ui/api/session")).json()["role"] == "open"
        models = (await browser.get("/ui/api/models")).json()
        assert models["default_model"] == "placeholder"
        assert models["models"][0]["name"] == "placeholder"


async def test_live_says_when_the_routers_shared_state_is_unreachable(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    document = yaml.safe_load(console_config(openai_fake, tmp_path))
    # Nothing listens on port 1: the router's Redis is down.
    document["router_settings"] = {"redis_url": "redis://127.0.0.1:1/0"}
    served = await serve(yaml.safe_dump(document))
    async with http(served) as master:
        answer = await master.get("/ui/api/live")
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert "Redis" in error["message"] and "Traceback" not in error["message"]
