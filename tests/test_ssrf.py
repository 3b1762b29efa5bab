"""The configured api_base is the only host a provider call reaches: a provider's redirect
is not followed (to another host or anywhere), on the unary and the streaming path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest
import yaml
from aiohttp import web
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from imagegen._gen.v1 import image_generation_pb2 as pb
from tests.conftest import TRAILER_KEYS, ServeFactory


@dataclass
class Host:
    """A loopback HTTP server that either redirects everything or records what reaches it."""

    redirect_to: str | None = None
    hits: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(f"{request.method} {request.path}")
        if self.redirect_to is not None:
            return web.Response(status=307, headers={"Location": self.redirect_to})
        return web.json_response({"created": 1, "data": []})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def hosts() -> AsyncIterator[tuple[Host, Host]]:
    elsewhere = Host()
    await elsewhere.start()
    redirecting = Host(redirect_to=f"http://127.0.0.1:{elsewhere.port}/steal")
    await redirecting.start()
    yield redirecting, elsewhere
    for host in (redirecting, elsewhere):
        assert host.runner is not None
        await host.runner.cleanup()


def config(port: int) -> str:
    entry = {
        "model_name": "gpt-image-1",
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": f"http://127.0.0.1:{port}/v1",
            "api_key": "sk-test-openai",
        },
    }
    return yaml.safe_dump({"model_list": [entry]})


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.reason)


async def test_a_redirect_is_not_followed_and_costs_nothing(
    serve: ServeFactory, hosts: tuple[Host, Host]
) -> None:
    redirecting, elsewhere = hosts
    served = await serve(config(redirecting.port))
    call = served.stub.GenerateImages(
        pb.GenerateImagesRequest(prompt="a fox", model="gpt-image-1", size="1024x1024")
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(caught.value) == "PROVIDER_BAD_RESPONSE"
    assert "redirect" in (caught.value.details() or "")
    trailers = dict(await call.trailing_metadata())
    assert set(trailers) >= TRAILER_KEYS
    assert trailers["x-imagegen-response-cost"] == "0"
    assert redirecting.hits == ["POST /v1/images/generations"]
    assert elsewhere.hits == []


async def test_a_redirect_is_not_followed_when_streaming(
    serve: ServeFactory, hosts: tuple[Host, Host]
) -> None:
    redirecting, elsewhere = hosts
    served = await serve(config(redirecting.port))
    request = pb.StreamGenerateImagesRequest(
        prompt="a fox", model="gpt-image-1", size="1024x1024", partial_images=1
    )
    kinds = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in served.stub.StreamGenerateImages(request):
            kinds.append(message.WhichOneof("event"))
    assert kinds == ["accepted"]
    assert reason_of(caught.value) == "PROVIDER_BAD_RESPONSE"
    assert elsewhere.hits == []
