"""Building and running the grpc.aio server: service, health, reflection, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.config import Settings
from imagegen.gateway import Gateway, RequestCredentials
from imagegen.server.servicer import ImageGenerationServicer, add_to_server

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ImageGeneration"].full_name


@dataclass(slots=True)
class RunningServer:
    """A started server and the parts a shutdown needs."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    gateway: Gateway
    port: int

    async def stop(self, grace: float) -> None:
        """Refuse new calls, let in-flight ones finish within `grace` seconds, close the pool."""
        # Health first, so load balancers stop sending before the listener goes away.
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.gateway.aclose()


def server_options(settings: Settings) -> list[tuple[str, int]]:
    limit = settings.server.max_message_bytes
    return [
        ("grpc.max_send_message_length", limit),
        ("grpc.max_receive_message_length", limit),
        # Image generations run for a minute or more: keep idle connections alive through
        # load balancers, and accept client pings at that pace.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


async def start_server(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    host: str | None = None,
    port: int | None = None,
) -> RunningServer:
    """Start serving on host:port (port 0 picks a free one) and return the running server."""
    policy = (
        RequestCredentials.ACCEPT
        if settings.server.allow_request_credentials
        else RequestCredentials.REFUSE
    )
    gateway = gateway or Gateway(settings, request_credentials=policy)
    server = grpc.aio.server(options=server_options(settings))
    add_to_server(ImageGenerationServicer(gateway), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{host or settings.server.host}:{settings.server.port if port is None else port}"
    bound = server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "imagegen serving %s on port %d (%d models)", SERVICE_NAME, bound, len(settings.deployments)
    )
    return RunningServer(server, health_servicer, gateway, bound)


async def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    running = await start_server(settings, host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    grace = settings.server.grace_period_seconds
    log.info("shutting down: in-flight calls have %.0f s to finish", grace)
    await running.stop(grace)
