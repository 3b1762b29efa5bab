"""A SERVER span per HTTP door request, continuing the caller's `traceparent` header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, use_span

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

# Probes would drown the generation spans.
_UNTRACED_PREFIX = "/health/"


def server_span_middleware(tracer: Tracer) -> Middleware:
    """An aiohttp middleware opening the request's SERVER span (HTTP semantic conventions;
    no headers or bodies are recorded)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(_UNTRACED_PREFIX):
            return await handler(request)
        route = request.match_info.route.resource
        template = route.canonical if route is not None else request.path
        token = otel_context.attach(extract(request.headers))
        try:
            span = tracer.start_span(
                f"{request.method} {template}",
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": request.method,
                    "url.path": request.path,
                    "http.route": template,
                },
            )
            with use_span(span, end_on_exit=True, record_exception=False):
                try:
                    response = await handler(request)
                except web.HTTPException as exc:
                    _status(span, exc.status)
                    raise
                except BaseException as exc:
                    span.set_attribute("error.type", type(exc).__qualname__)
                    span.set_status(Status(StatusCode.ERROR))
                    raise
                _status(span, response.status)
                return response
        finally:
            otel_context.detach(token)

    return middleware


def _status(span: Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    # Server spans: only 5xx are the server's errors (HTTP semantic conventions).
    if status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
