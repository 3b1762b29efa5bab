"""Building and running the server: the grpc.aio service, health, reflection, and the
OpenAI-compatible HTTP door beside it (same event loop, same Gateway), and shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.instrumentation.grpc.filters import service_name

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import key_admin_pb2 as kpb
from imagegen.assembly import hooks_for
from imagegen.config import Settings
from imagegen.gateway import Gateway, RequestCredentials
from imagegen.http.app import HttpDoor
from imagegen.server.key_admin import KeyAdminServicer, add_key_admin
from imagegen.server.servicer import ImageGenerationServicer, add_to_server
from imagegen.server.tls import http_ssl_context, server_credentials
from imagegen.spend.hook import access_of
from imagegen.storage.local import bind_to_door
from imagegen.telemetry.hook import telemetry_hook

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ImageGeneration"].full_name
KEY_ADMIN_SERVICE_NAME = kpb.DESCRIPTOR.services_by_name["KeyAdmin"].full_name


@dataclass(slots=True)
class RunningServer:
    """A started server and the parts a shutdown needs."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    gateway: Gateway
    port: int
    http: HttpDoor | None = None
    """The HTTP door, unless it is turned off."""

    @property
    def http_port(self) -> int | None:
        return self.http.port if self.http is not None else None

    async def begin_shutdown(self) -> None:
        """Health NOT_SERVING and HTTP readiness 503: load balancers stop sending; calls go on."""
        await self.health.enter_graceful_shutdown()
        if self.http is not None:
            self.http.begin_shutdown()

    async def stop(self, grace: float) -> None:
        """Refuse new calls, let in-flight ones finish within `grace` seconds, close the pool."""
        # Health first, so load balancers stop sending before the listeners go away.
        await self.begin_shutdown()
        doors = [self.server.stop(grace)]
        if self.http is not None:
            doors.append(self.http.stop(grace))
        await asyncio.gather(*doors)
        await self.gateway.aclose()


# Calls grpc holds for the gateway to take during a burst (see server_options).
MAX_PENDING_CALLS = 20_000


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
        # grpc sheds calls received faster than grpc.aio takes them, past 1,000 waiting by
        # default: CANCELLED, without RetryInfo (~10 % of a burst of 2,000, bench/RESULTS.md
        # scenario e). Such a call costs a few KB until taken; the gateway's own admission
        # and memory budget decide what to refuse, with RetryInfo.
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", 2 * MAX_PENDING_CALLS),
        # Worker processes (server_settings.workers) share the port; the kernel spreads
        # connections among them.
        ("grpc.so_reuseport", 1 if settings.server.workers > 1 else 0),
    ]


def server_interceptors(gateway: Gateway) -> list[grpc.aio.ServerInterceptor]:
    """A SERVER span per ImageGeneration call, continuing the caller's `traceparent`
    (OpenTelemetry's grpc instrumentation); none when tracing is not configured."""
    hook = telemetry_hook(gateway.hooks)
    if hook is None or not hook.telemetry.tracing:
        return []
    # The instrumentation package ships no type hints for this factory.
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=hook.telemetry.tracer_provider,
        # Health checks and reflection would drown the generation spans.
        filter_=service_name(SERVICE_NAME),
    )
    return [interceptor]


async def start_server(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    host: str | None = None,
    port: int | None = None,
    http_port: int | None = None,
) -> RunningServer:
    """Start serving on host:port (port 0 picks a free one) and return the running server.

    The HTTP door listens on `http_port` (0 picks a free one), else on the settings' port,
    and not at all when the settings turn it off (`http_port: null`).
    """
    policy = (
        RequestCredentials.ACCEPT
        if settings.server.allow_request_credentials
        else RequestCredentials.REFUSE
    )
    owns_gateway = gateway is None
    if gateway is None:
        gateway = Gateway(settings, request_credentials=policy, hooks=hooks_for(settings))
        await gateway.start()
    server = grpc.aio.server(
        options=server_options(settings), interceptors=server_interceptors(gateway)
    )
    add_to_server(ImageGenerationServicer(gateway), server)
    add_key_admin(KeyAdminServicer(access_of(gateway.hooks)), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, KEY_ADMIN_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME),
        server,
    )
    address = f"{host or settings.server.host}:{settings.server.port if port is None else port}"
    credentials = server_credentials(settings.server)
    bound = (
        server.add_insecure_port(address)
        if credentials is None
        else server.add_secure_port(address, credentials)
    )
    await server.start()
    door: HttpDoor | None = None
    http_port = settings.server.http_port if http_port is None else http_port
    if http_port is not None:
        door = HttpDoor(gateway)
        try:
            await door.start(
                host or settings.server.http_host or settings.server.host,
                http_port,
                http_ssl_context(settings.server),
                reuse_port=settings.server.workers > 1,
            )
        except BaseException:
            # The HTTP port is taken (or the like): leave nothing running behind.
            await server.stop(None)
            if owns_gateway:
                await gateway.aclose()
            raise
    gateway.results = bind_to_door(
        gateway.results,
        host or settings.server.http_host or settings.server.host,
        door.port if door is not None else None,
        tls=settings.server.tls_cert_file is not None,
    )
    for name in ("", SERVICE_NAME, KEY_ADMIN_SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "imagegen serving %s on port %d (%d models)", SERVICE_NAME, bound, len(settings.deployments)
    )
    if door is not None:
        log.info("imagegen serving the OpenAI-compatible HTTP door on port %d", door.port)
        if settings.server.console:
            log.info("imagegen web console at /ui on port %d (docs/console.md)", door.port)
    return RunningServer(server, health_servicer, gateway, bound, door)


async def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    http_port: int | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    running = await start_server(settings, host=host, port=port, http_port=http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    grace = settings.server.grace_period_seconds
    drain = settings.server.drain_seconds
    if drain > 0:
        await running.begin_shutdown()
        log.info("draining: health is NOT_SERVING; still taking calls for %.1f s", drain)
        await asyncio.sleep(drain)
    log.info("shutting down: in-flight calls have %.0f s to finish", grace)
    await running.stop(grace)
