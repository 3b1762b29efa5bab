"""Shared fixtures: a real grpc.aio server on 127.0.0.1:0 and the fake providers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest

from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.config import Settings, parse_settings
from imagegen.gateway import Gateway
from imagegen.paths import DATA_DIR_ENV
from imagegen.providers.registry import Providers
from imagegen.server.app import RunningServer, start_server
from tests.fakes.azure import AzureFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.xinference import XinferenceFake
from tests.postgres import postgres_cluster

pytest_plugins = ["tests.leak_scan"]


def pytest_configure(config: pytest.Config) -> None:
    # Default data files (the spend log without spend_log_path) go to a throwaway directory,
    # never the developer's ~/.local/state; servers the tests start as processes inherit it.
    os.environ[DATA_DIR_ENV] = tempfile.mkdtemp(prefix="imagegen-test-data-")


@dataclass
class Served:
    """A running gateway and a channel to it."""

    running: RunningServer
    channel: grpc.aio.Channel
    stub: pb_grpc.ImageGenerationAsyncStub

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    @property
    def http_base_url(self) -> str:
        """The HTTP door's root, e.g. http://127.0.0.1:PORT (append /v1 for OpenAI SDKs)."""
        assert self.running.http is not None, "the HTTP door is turned off"
        return f"http://127.0.0.1:{self.running.http.port}"


# The trailers every call carries, success or failure: spelled out here as the contract, not
# imported from the implementation, so that renaming one breaks the tests.
TRAILER_KEYS = frozenset(
    {
        "x-imagegen-response-cost",
        "x-imagegen-model-id",
        "x-imagegen-provider",
        "x-imagegen-api-base",
        "x-imagegen-attempts",
        "x-imagegen-overhead-ms",
        "x-imagegen-request-id",
    }
)

ServeFactory = Callable[[Settings | str], Awaitable[Served]]
GatewayFactory = Callable[[str], Gateway]

# Every environment variable a provider reads its endpoint from.
PROVIDER_ENV = sorted(
    {
        name
        for provider in Providers.discover().values()
        for name in (*provider.env_api_key, *provider.env_api_base, *provider.env_api_version)
    }
)


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Endpoints fall back to these variables; a developer's real key must not leak into a test.
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def gateway_for() -> AsyncIterator[GatewayFactory]:
    """Build in-process Gateways from YAML config text; all are closed at teardown."""
    made: list[Gateway] = []

    def factory(config_text: str) -> Gateway:
        gateway = Gateway(parse_settings(config_text, source="test.yaml"))
        made.append(gateway)
        return gateway

    yield factory
    for gateway in made:
        await gateway.aclose()


@pytest.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    """Start gateways on 127.0.0.1:0 from Settings or a YAML string; all stop at teardown."""
    started: list[Served] = []

    async def factory(settings: Settings | str) -> Served:
        if isinstance(settings, str):
            settings = parse_settings(settings, source="test-config.yaml")
        # Port 0 for both doors: tests must not collide with each other or with `make run`.
        running = await start_server(settings, host="127.0.0.1", port=0, http_port=0)
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{running.port}",
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        stub = pb_grpc.ImageGenerationStub(channel)
        served = Served(running, channel, stub)
        started.append(served)
        return served

    yield factory
    for served in started:
        await served.channel.close()
        await served.running.stop(grace=0)


@pytest.fixture
async def openai_fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as fake:
        yield fake


@pytest.fixture
async def azure_fake() -> AsyncIterator[AzureFake]:
    async with AzureFake() as fake:
        yield fake


@pytest.fixture
async def xinference_fake() -> AsyncIterator[XinferenceFake]:
    async with XinferenceFake() as fake:
        yield fake


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the session (fails, never skips, when it is missing)."""
    with postgres_cluster() as url:
        yield url
