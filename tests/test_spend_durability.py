"""What the spend log guarantees: acknowledged (committed) rows survive SIGKILL of the
process; a database that refuses writes for a while loses no row."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from imagegen.client import AsyncImageGenClient
from imagegen.errors import GatewayUnavailableError
from imagegen.spend.hook import access_of
from tests.conftest import ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, access_config, client, sqlite_rows
from tests.test_process import _free_port


def keyed_config(fake: OpenAIFake, path: Path) -> str:
    return access_config(
        fake,
        general={"master_key": MASTER, "spend_log_path": str(path)},
        keys=[{"alias": "team", "key": TEAM_KEY}],
        models=("dall-e-2",),
    )


async def test_acknowledged_rows_survive_sigkill(openai_fake: OpenAIFake, tmp_path: Path) -> None:
    db = tmp_path / "spend.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(keyed_config(openai_fake, db))
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
    try:
        async with AsyncImageGenClient(f"127.0.0.1:{port}", api_key=TEAM_KEY) as team:
            # A server process imports the whole gateway before it listens: under a loaded
            # machine that takes well over ten seconds, so wait on a deadline, not a count.
            ready_by = time.monotonic() + 60
            while True:
                assert process.returncode is None, "the server process exited at start"
                try:
                    await team.list_models(timeout=1)
                    break
                except GatewayUnavailableError:
                    if time.monotonic() > ready_by:
                        raise
                    await asyncio.sleep(0.1)
            for index in range(5):
                await team.generate_images("a cat", model="dall-e-2", request_id=f"r{index}")
            (totals,) = await team.query_spend("key")  # returns once the rows are committed
        assert totals.requests == 5
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    rows = sqlite_rows(db)
    assert sorted(r["request_id"] for r in rows) == [f"r{i}" for i in range(5)]
    assert all(r["status"] == "OK" and r["cost"] is not None for r in rows)


async def test_a_locked_database_delays_rows_but_loses_none(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path
) -> None:
    db = tmp_path / "spend.sqlite3"
    served = await serve(keyed_config(openai_fake, db))
    access = access_of(served.running.gateway.hooks)
    assert access is not None
    blocker = sqlite3.connect(db, timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # every insert of the writer now fails after 5 s
    try:
        async with client(served, TEAM_KEY) as team:
            done = await asyncio.wait_for(
                asyncio.gather(
                    *(team.generate_images("a cat", model="dall-e-2") for _ in range(4))
                ),
                timeout=4,  # the calls do not wait for the database
            )
        assert len(done) == 4
        assert await access.writer.flush(timeout=0.5) is False
        assert access.writer.pending == 4
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await access.writer.flush(timeout=30) is True
    assert len(sqlite_rows(db)) == 4


@pytest.mark.parametrize("log_prompts", [False, True])
async def test_prompts_are_logged_only_when_configured(
    serve: ServeFactory, openai_fake: OpenAIFake, tmp_path: Path, log_prompts: bool
) -> None:
    db = tmp_path / "spend.sqlite3"
    config = access_config(
        openai_fake,
        general={"spend_log_path": str(db), "log_prompts": log_prompts},
        models=("dall-e-2",),
    )
    served = await serve(config)
    # No keys configured: calls need none, and every one is still logged.
    async with client(served, None) as anyone:
        await anyone.generate_images("a secret lighthouse", model="dall-e-2", tags=["x"])
        (group,) = await anyone.query_spend("tag")
    assert group.group == "x"
    (row,) = sqlite_rows(db)
    assert row["prompt"] == ("a secret lighthouse" if log_prompts else None)
    assert row["key_alias"] == "" and row["door"] == "grpc"
    files = [db, db.with_name(db.name + "-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert (b"lighthouse" in raw) is log_prompts
