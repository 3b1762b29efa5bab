"""Three `imagegen serve` replicas behind a real nginx, on one PostgreSQL and one Redis:
rolling restarts lose no call, a killed replica loses only its own calls, and a budget
spread over the fleet is exact."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imagegen.client import AsyncImageGenClient
from imagegen.errors import BudgetExceededError
from tests.fakes.openai import OpenAIFake
from tests.nginx import Balancer, nginx_in_front
from tests.spend_helpers import MASTER, TEAM_KEY, openai_entry
from tests.test_fleet_quota import DALLE2_256, charged_in
from tests.test_router_redis import redis_url
from tests.test_spend_budget import pg_database

__all__ = ["pg_database", "redis_url"]  # fixtures, imported to be used here


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One `imagegen serve` process on fixed ports (a restart comes back on the same ones)."""

    config: Path
    grpc_port: int = field(default_factory=_free_port)
    http_port: int = field(default_factory=_free_port)
    process: asyncio.subprocess.Process | None = None

    log: Path | None = None

    async def start(self, *, fixed_ports: bool = False) -> None:
        # A port picked free may be taken by another process before the replica binds it:
        # then the replica exits at once saying so, and only then are new ports picked
        # (never for a restart: nginx knows the replica by its ports).
        for _ in range(1 if fixed_ports else 3):
            if await self._start_once():
                return
            self.grpc_port, self.http_port = _free_port(), _free_port()
        raise AssertionError(f"the replica could not listen:\n{self._log_tail()}")

    async def _start_once(self) -> bool:
        self.log = self.config.with_name(f"replica-{self.grpc_port}.log")
        with self.log.open("wb") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "imagegen.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.grpc_port),
                "--http-port",
                str(self.http_port),
                "--config",
                str(self.config),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "OPENAI_API_KEY": ""},
            )
        process = self.process
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            ready = asyncio.ensure_future(channel.channel_ready())
            exited = asyncio.ensure_future(process.wait())
            # Generous: three replicas start at once on a 2-core machine that may be busy.
            done, _ = await asyncio.wait({ready, exited}, timeout=90, return_when="FIRST_COMPLETED")
            ready.cancel()
            if exited in done:
                self.process = None
                if "cannot listen" in self._log_tail():
                    return False
                raise AssertionError(f"the replica exited at start:\n{self._log_tail()}")
            exited.cancel()
            if ready not in done:
                raise AssertionError(f"the replica never answered:\n{self._log_tail()}")
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(300):
                status = await health.Check(health_pb2.HealthCheckRequest(service=""))
                if status.status == health_pb2.HealthCheckResponse.SERVING:
                    return True
                await asyncio.sleep(0.05)
        raise AssertionError(f"the replica never became SERVING:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-2000:]

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), timeout=60)
        self.process = None
        return code


@dataclass
class Fleet:
    replicas: list[Replica]
    balancer: Balancer
    fake: OpenAIFake
    database_url: str


@pytest.fixture
async def fleet(
    tmp_path: Path, pg_database: str, redis_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Fleet]:
    """Three replicas (key `team`; its budget a parameter, else 1000 USD) behind nginx."""
    budget = str(getattr(request, "param", "1000"))
    async with OpenAIFake() as fake:
        document: dict[str, Any] = {
            "model_list": [openai_entry(fake, "dall-e-2")],
            "general_settings": {
                "master_key": MASTER,
                "database_url": pg_database,
                "quota_redis_url": redis_url,
                "quota_redis_namespace": f"test:{uuid.uuid4().hex}",
                "quota_hold_seconds": 2,
            },
            "keys": [{"alias": "team", "key": TEAM_KEY, "max_budget": budget}],
            "server_settings": {"drain_seconds": 1, "grace_period_seconds": 20},
        }
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(document))
        replicas = [Replica(config) for _ in range(3)]
        try:
            # Inside the try: a replica that fails to start must not leave the others running.
            await asyncio.gather(*(r.start() for r in replicas))
            with nginx_in_front(
                tmp_path / "nginx", [(r.grpc_port, r.http_port) for r in replicas]
            ) as balancer:
                yield Fleet(replicas, balancer, fake, pg_database)
        finally:
            for replica in replicas:
                if replica.process is not None:
                    await replica.stop()


async def generate(team: AsyncImageGenClient) -> object:
    try:
        return await team.generate_images("a cat", model="dall-e-2", size="256x256", timeout=60)
    except Exception as exc:
        return exc


@pytest.mark.parametrize("fleet", [12 * DALLE2_256], indirect=True)
async def test_a_budget_spread_over_three_replicas_serves_exactly_twelve(fleet: Fleet) -> None:
    fleet.fake.delay = 0.3
    async with AsyncImageGenClient(fleet.balancer.grpc_address, api_key=TEAM_KEY) as team:
        outcomes = await asyncio.gather(*(generate(team) for _ in range(30)))
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert (len(served), len(refused)) == (12, 18), outcomes
    assert len(fleet.fake.requests) == 12
    async with AsyncImageGenClient(fleet.balancer.grpc_address, api_key=MASTER) as admin:
        for _ in range(3):  # each answer flushes that replica's writer
            await admin.query_spend("key")
    assert charged_in(fleet.database_url) == (12, 12 * DALLE2_256)


async def test_rolling_sigterm_restarts_under_steady_load_fail_no_call(fleet: Fleet) -> None:
    fleet.fake.delay = 0.2
    outcomes: list[object] = []
    http_statuses: list[int] = []
    done = asyncio.Event()

    async def grpc_caller() -> None:
        async with AsyncImageGenClient(fleet.balancer.grpc_address, api_key=TEAM_KEY) as team:
            while not done.is_set():
                outcomes.append(await generate(team))

    async def http_caller() -> None:
        headers = {"authorization": f"Bearer {TEAM_KEY}"}
        body = {"prompt": "a cat", "model": "dall-e-2", "size": "256x256"}
        async with aiohttp.ClientSession() as session:
            while not done.is_set():
                url = f"{fleet.balancer.http_base_url}/v1/images/generations"
                async with session.post(url, json=body, headers=headers) as response:
                    await response.read()
                    http_statuses.append(response.status)

    async def restart_each() -> None:
        await asyncio.sleep(0.5)
        for replica in fleet.replicas:
            assert await replica.stop(signal.SIGTERM) == 0
            await replica.start(fixed_ports=True)
            await asyncio.sleep(0.5)
        done.set()

    await asyncio.gather(*(grpc_caller() for _ in range(6)), http_caller(), restart_each())
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert failed == []
    assert len(outcomes) > 30
    assert http_statuses and set(http_statuses) == {200}


@pytest.mark.parametrize("fleet", [40 * DALLE2_256], indirect=True)
async def test_sigkill_of_one_replica_fails_only_its_calls_and_the_budget_stays_exact(
    fleet: Fleet,
) -> None:
    fleet.fake.delay = 0.5
    outcomes: list[tuple[float, object]] = []
    killed_at = 0.0

    async def caller() -> None:
        async with AsyncImageGenClient(fleet.balancer.grpc_address, api_key=TEAM_KEY) as team:
            for _ in range(100):
                outcome = await generate(team)
                outcomes.append((time.monotonic(), outcome))
                if isinstance(outcome, BudgetExceededError):
                    return

    async def kill_one() -> None:
        nonlocal killed_at
        await asyncio.sleep(1.2)  # calls are in flight on every replica
        victim = fleet.replicas[0]
        assert victim.process is not None
        killed_at = time.monotonic()
        assert await victim.stop(signal.SIGKILL) == -signal.SIGKILL

    await asyncio.gather(*(caller() for _ in range(6)), kill_one())
    failed = [(t, o) for t, o in outcomes if isinstance(o, BaseException)]
    unexpected = [o for _, o in failed if not isinstance(o, BudgetExceededError)]
    # Only the calls the killed replica had in flight: at most one per caller, all at once.
    assert len(unexpected) <= 6
    assert all(
        abs(t - killed_at) < 1.0 for t, o in failed if not isinstance(o, BudgetExceededError)
    ), (killed_at, failed)
    served = [o for _, o in outcomes if not isinstance(o, BaseException)]
    # Once the dead replica's holds expired, the budget is exact against the spend log: the
    # acknowledged rows are all there and total exactly the budget.
    await asyncio.sleep(2.5)
    async with AsyncImageGenClient(fleet.balancer.grpc_address, api_key=TEAM_KEY) as team:
        for _ in range(60):
            outcome = await generate(team)
            if isinstance(outcome, BudgetExceededError):
                break
            served.append(outcome)
    async with AsyncImageGenClient(fleet.balancer.grpc_address, api_key=MASTER) as admin:
        for _ in range(4):
            await admin.query_spend("key")
    rows, charged = charged_in(fleet.database_url)
    assert (rows, charged) == (40, 40 * DALLE2_256)
    # Served answers without a row: only those the killed replica gave before its rows were
    # committed (its last batch interval).
    assert 40 <= len(served) <= 40 + len(unexpected) + 6
    assert Decimal(charged) == 40 * DALLE2_256
