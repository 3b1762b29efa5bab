"""LiteLLM's own SDK as a client of the HTTP door: `litellm.image_generation` with an
api_base (its OpenAI provider) and with the `litellm_proxy/` provider, run in LiteLLM's venv
(bench/.venv-litellm, from the locked bench/litellm-requirements.txt, made by
`make litellm-venv`). Asserts the images come back, a bad key is LiteLLM's
AuthenticationError (401), and the cost the door charged is the cost LiteLLM reports."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config

ROOT = Path(__file__).resolve().parent.parent
LITELLM_PYTHON = ROOT / "bench" / ".venv-litellm" / "bin" / "python"
PEER = Path(__file__).resolve().parent / "litellm_peer" / "calls.py"
DALLE2_256 = 0.016


@pytest.fixture(scope="module")
def litellm_python() -> Path:
    """LiteLLM's venv, made (or found up to date) by the Makefile step CI runs too."""
    made = subprocess.run(
        ["make", "--no-print-directory", "litellm-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert LITELLM_PYTHON.exists()
    return LITELLM_PYTHON


async def run_peer(python: Path, args: dict[str, Any]) -> dict[str, Any]:
    # A subprocess, awaited: the gateway it calls runs on this event loop.
    process = await asyncio.create_subprocess_exec(
        str(python),
        str(PEER),
        json.dumps(args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, err.decode()[-4000:]
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_litellm_sdk_gets_images_errors_and_cost_from_the_door(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path, litellm_python: Path
) -> None:
    served = await serve(
        access_config(
            openai_fake,
            general={"master_key": MASTER, "spend_log_path": str(tmp_path / "spend.sqlite3")},
            keys=[{"alias": "team", "key": TEAM_KEY}],
        )
    )
    results = await run_peer(
        litellm_python,
        {
            "base_url": served.http_base_url,
            "key": TEAM_KEY,
            "bad_key": "sk-not-a-key-of-this-gateway",
            "model": "dall-e-2",
        },
    )

    answer = results["openai_api_base"]
    assert answer["ok"], answer
    assert len(answer["images"]) == 1 and answer["images"][0]["b64_len"] > 100, answer
    answer = results["litellm_proxy"]
    assert answer["ok"], answer
    assert len(answer["images"]) == 1 and answer["images"][0]["url"].startswith("https://")

    bad = results["bad_key"]
    assert not bad["ok"] and bad["is_auth_error"] and bad["status_code"] == 401, bad
    unknown = results["unknown_model"]
    assert (unknown["ok"], unknown["type"], unknown["status_code"]) == (False, "NotFoundError", 404)

    # The same calls, as the door's own spend log saw them: two images, by the key.
    async with httpx.AsyncClient(
        base_url=served.http_base_url, headers={"Authorization": f"Bearer {MASTER}"}
    ) as admin:
        rows = (await admin.get("/spend/logs", params={"api_key": TEAM_KEY})).json()
        # What a LiteLLM proxy caller reads off the response: the same cost.
        direct = await admin.post(
            "/v1/images/generations",
            json={"model": "dall-e-2", "prompt": "a cat", "size": "256x256"},
        )
    assert float(direct.headers["x-litellm-response-cost"]) == pytest.approx(DALLE2_256)
    ok = [row for row in rows if row["status"] == "success"]
    assert len(ok) == 2 and all(r["spend"] == pytest.approx(DALLE2_256) for r in ok)
    # LiteLLM's SDK prices image calls itself (response._hidden_params["response_cost"], from
    # its own price map; LiteLLM 1.80 does not read response headers on image calls): the
    # door's cost and LiteLLM's agree to a hundredth of a percent.
    for name in ("openai_api_base", "litellm_proxy"):
        assert results[name]["response_cost"] == pytest.approx(ok[0]["spend"], rel=1e-4), name
