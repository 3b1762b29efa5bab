"""SIGKILL of a real server mid-load, then a restart on the same spend log: no acknowledged row
is lost, and the key's budget is neither forgotten nor double-counted.

Acknowledged = committed to the spend log (QuerySpend answers only once the rows before it
are committed). Calls in flight at the kill never committed a row: their budget holds die
with the process, so the restarted server counts exactly the committed spend.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from imagegen.client import AsyncImageGenClient
from imagegen.errors import BudgetExceededError, ImageGenError
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config, sqlite_rows
from tests.test_process import _free_port

PRICE = Decimal("0.016")  # dall-e-2 at 256x256
BUDGET = Decimal("0.20")  # holds 12 calls (0.192); a 13th does not fit


async def start(config: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegen.cli",
        "serve",
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-http",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "OPENAI_API_KEY": ""},
    )
    target = f"127.0.0.1:{port}"
    async with AsyncImageGenClient(target, api_key=MASTER) as probe:
        for _ in range(150):
            try:
                await probe.list_models(timeout=1)
                break
            except ImageGenError:
                await asyncio.sleep(0.1)
    return process, target


async def generate(team: AsyncImageGenClient, request_id: str) -> None:
    await team.generate_images("a cat", model="dall-e-2", size="256x256", request_id=request_id)


async def test_sigkill_mid_load_loses_no_acknowledged_row_and_counts_the_budget_once(
    openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    db = tmp_path / "spend.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(
        access_config(
            openai_fake,
            general={"master_key": MASTER, "spend_log_path": str(db)},
            keys=[
                {
                    "alias": "team",
                    "key": TEAM_KEY,
                    "max_budget": str(BUDGET),
                    "budget_period": "daily",
                }
            ],
            models=("dall-e-2",),
        )
    )
    first, target = await start(config)
    try:
        async with AsyncImageGenClient(target, api_key=TEAM_KEY) as team:
            await asyncio.gather(*(generate(team, f"acked-{i}") for i in range(5)))
            (acknowledged,) = await team.query_spend("key")
            assert acknowledged.requests == 5
            # Load in flight when the process dies: the provider holds every call.
            openai_fake.delay = 30
            in_flight = [asyncio.ensure_future(generate(team, f"killed-{i}")) for i in range(6)]
            for _ in range(300):
                if len(openai_fake.requests) >= 11:
                    break
                await asyncio.sleep(0.02)
            assert len(openai_fake.requests) == 11
            first.send_signal(signal.SIGKILL)
            await first.wait()
            for call in in_flight:
                with pytest.raises(ImageGenError):
                    await call
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    assert first.returncode == -signal.SIGKILL
    rows = sqlite_rows(db)
    assert sorted(r["request_id"] for r in rows) == [f"acked-{i}" for i in range(5)]

    openai_fake.delay = 0
    second, target = await start(config)
    try:
        async with AsyncImageGenClient(target, api_key=TEAM_KEY) as team:
            served = 0
            for index in range(20):
                try:
                    await generate(team, f"after-{index}")
                except BudgetExceededError:
                    break
                served += 1
        # 5 committed before the kill + 7 now = 12 calls of 0.016 within 0.20: the committed
        # spend was counted once, and the killed calls' holds did not survive.
        assert served == int((BUDGET - 5 * PRICE) / PRICE)
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    rows = sqlite_rows(db)
    ok = [r for r in rows if r["status"] == "OK"]
    assert len(ok) == 12
    assert sum(r["charged"] for r in ok) == 12 * PRICE <= BUDGET
