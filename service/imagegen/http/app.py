"""The HTTP door's routes and lifecycle (aiohttp, on the gRPC server's event loop).

Every route answers in OpenAI's shapes. The generations handler is one error
boundary, like the gRPC servicer: a domain error becomes OpenAI's error envelope with
the class's HTTP status, anything unexpected a 500 with a fixed message (logged here,
never sent), and the cost and routing headers go out either way.

`Authorization: Bearer <key>` is handed to the gateway as the gRPC door hands on its
`authorization` metadata: both doors are checked by the same access-control hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from imagegen import memory
from imagegen.deadline import Deadline
from imagegen.edits import prepare_edit
from imagegen.errors import ImageGenError, InternalError
from imagegen.events import Generation, ImageReady, Progress, RequestState
from imagegen.gateway import Gateway
from imagegen.http.console import add_console_routes
from imagegen.http.convert import (
    COMPLETED_EVENT,
    PARTIAL_EVENT,
    GenerationsCall,
    completed_event,
    generations_call,
    images_response,
    models_list,
    parse_json_object,
    partial_event,
)
from imagegen.http.edit_json import json_edits_call, read_json_body
from imagegen.http.edits import (
    COMPLETED_EDIT_EVENT,
    PARTIAL_EDIT_EVENT,
    EditsCall,
    edits_call,
    read_edit_form,
    variations_call,
)
from imagegen.http.errors import error_body, error_headers
from imagegen.http.files import add_file_routes
from imagegen.http.image_fetch import ImageFetcher
from imagegen.http.litellm_headers import litellm_headers
from imagegen.http.litellm_keys import add_litellm_key_routes
from imagegen.http.litellm_spend import add_litellm_spend_routes
from imagegen.http.tracing import server_span_middleware
from imagegen.metadata import bearer_token, failure_facts, trailers
from imagegen.providers.base import PreviewEvent
from imagegen.spend.hook import access_of
from imagegen.telemetry.hook import telemetry_hook
from imagegen.types import CallFacts, GeneratedImage

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ACCEPT_BACKLOG = 4096
# Requests still running this long after a forced stop are abandoned with the connection.
_CANCEL_WAIT_SECONDS = 5.0


def _dumps(value: Any) -> bytes:
    # orjson: json.dumps spends ~15 ms escaping-scanning one 2 MB base64 string, orjson 0.2 ms.
    return orjson.dumps(value)


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_dumps(body), status=status, headers=headers, content_type="application/json"
    )


# What a stream can say up front; cost, attempts and overhead come on its last event.
_ROUTING_HEADERS = frozenset(
    {
        "x-imagegen-model-id",
        "x-imagegen-provider",
        "x-imagegen-api-base",
        "x-imagegen-request-id",
        "x-request-id",
        # LiteLLM's names for the same facts; its cost headers wait for the end, like ours.
        "x-litellm-model-id",
        "x-litellm-model-api-base",
        "x-litellm-call-id",
    }
)


def _sse(event: str | None, data: dict[str, Any]) -> bytes:
    head = f"event: {event}\n" if event else ""
    return b"".join((head.encode(), b"data: ", _dumps(data), b"\n\n"))


# The SSE event names of each endpoint: (partial preview, completed image).
_GENERATION_EVENTS = (PARTIAL_EVENT, COMPLETED_EVENT)
_EDIT_EVENTS = (PARTIAL_EDIT_EVENT, COMPLETED_EDIT_EVENT)


def _completed(
    ready: ImageReady,
    call: GenerationsCall,
    created: int,
    generation: Generation | None,
    facts: CallFacts | None,
    name: str = COMPLETED_EVENT,
) -> bytes:
    result = generation.result if generation is not None else None
    data = completed_event(
        ready.image,
        call.request,
        created,
        quality=result.quality if result is not None else call.request.quality,
        size=result.size if result is not None else call.request.size,
        usage=result.usage if result is not None else None,
    )
    data["type"] = name
    if facts is not None:
        data["imagegen"] = dict(trailers(facts))
    return _sse(name, data)


class _StreamWriter:
    """Writes gateway stream events as OpenAI image SSE events.

    The last finished image is held back until the generation ends, so that its
    completed event can carry the call's usage and the cost facts.
    """

    def __init__(
        self,
        response: web.StreamResponse,
        call: GenerationsCall,
        created: int,
        names: tuple[str, str] = _GENERATION_EVENTS,
    ) -> None:
        self._response = response
        self._call = call
        self._created = created
        self._pending: ImageReady | None = None
        self._partial_name, self._completed_name = names

    async def write(self, event: object, state: RequestState) -> None:
        if isinstance(event, Progress):
            await self._response.write(b": keep-alive\n\n")
        elif isinstance(event, PreviewEvent):
            data = partial_event(event, self._call.request, self._created)
            data["type"] = self._partial_name
            await self._response.write(_sse(self._partial_name, data))
        elif isinstance(event, ImageReady):
            if self._pending is not None:
                await self._response.write(
                    _completed(
                        self._pending, self._call, self._created, None, None, self._completed_name
                    )
                )
            self._pending = event
        elif isinstance(event, Generation) and self._pending is not None:
            await self._response.write(
                _completed(
                    self._pending,
                    self._call,
                    self._created,
                    event,
                    state.facts,
                    self._completed_name,
                )
            )


def _credentials(request: web.Request) -> str | None:
    """The caller's key: `Authorization: Bearer`, or Azure OpenAI's `api-key` header (what
    AzureOpenAI SDK clients send, also on the deployment routes)."""
    return bearer_token(request.headers.get("Authorization")) or (
        request.headers.get("api-key") or None
    )


def _fact_headers(facts: CallFacts) -> dict[str, str]:
    headers = dict(trailers(facts))
    if facts.request_id:
        # What OpenAI's SDKs read as the request id (`_request_id`, APIError.request_id).
        headers["x-request-id"] = headers["x-imagegen-request-id"]
    # LiteLLM proxy callers (scripts, its SDK's litellm_proxy provider) read these names.
    headers.update(litellm_headers(facts))
    return headers


class HttpDoor:
    """The OpenAI-compatible HTTP server in front of a Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        server = gateway.settings.server
        self._fetcher = ImageFetcher(server.image_urls, server.image_url_timeout_seconds)
        self.ready = False
        self.port = 0
        self._created = int(time.time())
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._openapi = resources.files("imagegen.http").joinpath("openapi.json").read_bytes()
        # The gateway reports every request it ran; this door reports those it refused
        # before the gateway saw them.
        self._telemetry = telemetry_hook(gateway.hooks)
        middlewares: list[Any] = [self._middleware]
        if self._telemetry is not None and self._telemetry.telemetry.tracing:
            # Outermost: the span covers the error envelope the inner middleware writes.
            middlewares.insert(0, server_span_middleware(self._telemetry.telemetry.tracer))
        self.app = web.Application(middlewares=middlewares)
        for prefix in ("/v1", ""):
            # Both spellings: OpenAI SDKs append /images/generations to a base URL that has
            # /v1 (OpenAI's) or not (LiteLLM proxy users commonly point at the bare host).
            self.app.router.add_post(f"{prefix}/images/generations", self._generations)
            self.app.router.add_post(f"{prefix}/images/edits", self._edits)
            self.app.router.add_post(f"{prefix}/images/variations", self._variations)
            self.app.router.add_get(f"{prefix}/models", self._models)
        # Azure OpenAI's deployment routes, as LiteLLM's proxy serves them (AzureOpenAI SDK
        # clients, `api-version` in the query): the deployment name is the model. The name may
        # hold slashes, as model_list names may; any other name is the handler's 404 (with the
        # facts headers), not the router's.
        azure = r"/openai/deployments/{deployment:[\s\S]+}/images"
        self.app.router.add_post(f"{azure}/generations", self._azure_generations)
        self.app.router.add_post(f"{azure}/edits", self._azure_edits)
        # LiteLLM's key-admin routes, for operators' scripts written against its proxy.
        add_litellm_key_routes(self.app, access_of(gateway.hooks))
        add_litellm_spend_routes(self.app, access_of(gateway.hooks))
        self.app.router.add_get("/health/liveliness", self._liveliness)
        self.app.router.add_get("/health/liveness", self._liveliness)
        self.app.router.add_get("/health/readiness", self._readiness)
        self.app.router.add_get("/openapi.json", self._openapi_document)
        add_file_routes(self.app, gateway)
        if gateway.settings.server.console:
            add_console_routes(self.app, gateway)  # the web console at /ui (docs/console.md)

    async def start(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        reuse_port: bool = False,
    ) -> int:
        """Listen on host:port (0 picks a free port), over TLS with `ssl_context`; returns
        the bound port.

        `reuse_port`: several worker processes listen on the same port (SO_REUSEPORT)."""
        # handler_cancellation: a client that hangs up cancels its generation (and the
        # provider call under it), as a cancelled gRPC call does.
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await runner.setup()
        try:
            # A burst of new connections (thousands of image calls starting together) would
            # overflow aiohttp's default accept queue of 128: clients then wait on SYN
            # retransmits for seconds (bench/RESULTS.md, scenario c). The kernel caps this
            # at net.core.somaxconn.
            site = web.TCPSite(
                runner,
                host,
                port,
                ssl_context=ssl_context,
                backlog=ACCEPT_BACKLOG,
                reuse_port=reuse_port or None,
            )
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.ready = True
        return self.port

    def begin_shutdown(self) -> None:
        """Readiness turns false (503), so load balancers stop sending; serving goes on."""
        self.ready = False

    async def stop(self, grace: float) -> None:
        """Stop listening, give in-flight requests `grace` seconds, then cancel the rest."""
        self.ready = False
        runner, self._runner = self._runner, None
        try:
            if runner is None:
                return
            for site in list(runner.sites):
                await site.stop()
            if self._in_flight:
                _, pending = await asyncio.wait(set(self._in_flight), timeout=grace)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=_CANCEL_WAIT_SECONDS)
            await runner.cleanup()
        finally:
            # Last: requests finishing in the grace period may still be fetching an image.
            await self._fetcher.aclose()

    # ------------------------------------------------------------------ middleware

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        # The call's share of the memory budget, released once its answer is written.
        lease = self.gateway.memory.lease(answer_factor=memory.HTTP_ENCODE_FACTOR)
        try:
            with memory.serving(lease):
                response = await handler(request)
            if not response.prepared:
                # Written here rather than by aiohttp after the middleware returns, so the
                # lease ends when the answer went out (a slow reader holds only its own).
                await response.prepare(request)
                await response.write_eof()
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            # aiohttp's own refusals (unknown path, wrong method, body too large) in OpenAI's
            # envelope too, keeping their headers (Allow on a 405).
            headers = {k: v for k, v in exc.headers.items() if k.lower() != "content-type"}
            message = (
                f"Invalid URL ({request.method} {request.path})"
                if exc.status in (404, 405)
                else exc.reason
            )
            body = {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            return _json(body, status=exc.status, headers=headers)
        finally:
            lease.close()
            if task is not None:
                self._in_flight.discard(task)

    # ------------------------------------------------------------------ routes

    async def _generations(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_generations(request, model=None)

    async def _azure_generations(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_generations(request, model=request.match_info["deployment"])

    async def _serve_generations(
        self, request: web.Request, *, model: str | None
    ) -> web.StreamResponse:
        """A generations body; `model` (a deployment route's name) replaces the body's."""
        started = time.monotonic()
        state: RequestState | None = None
        request_id: str | None = None
        try:
            document = parse_json_object(await request.read())
            if model is not None:
                document["model"] = model
            given = document.get("request_id")
            request_id = given if isinstance(given, str) else None
            call = generations_call(document)
            state = self.gateway.new_state(
                call.request, started=started, door="http", credentials=_credentials(request)
            )
            if call.stream:
                return await self._stream(request, call, state)
            generation = await self.gateway.generate(call.request, state=state)
            await self._hold_answer(generation.result.images, state)
            body = images_response(generation)
            self._finish(state)
            return _json(body, headers=_fact_headers(state.facts))
        except web.HTTPException:
            raise  # aiohttp's own refusal (body too large): the middleware answers it
        except Exception as exc:
            return self._failure(exc, state, request_id, started)

    async def _edits(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_edit(request, model=None)

    async def _azure_edits(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_edit(request, model=request.match_info["deployment"])

    async def _variations(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_edit(request, model=None, variation=True)

    async def _read_edit(
        self, request: web.Request, *, model: str | None, variation: bool
    ) -> EditsCall:
        """The edit a request carries: a multipart form, or (edits only) a JSON body."""
        # The same bound as a gRPC message: an edit is as large on either door.
        limit = self.gateway.settings.server.max_message_bytes
        if request.content_type == "application/json" and not variation:
            document, size = await read_json_body(request, limit)
            if model is not None:
                document["model"] = model
            return await json_edits_call(document, self._fetcher, limit - size)
        form = await read_edit_form(request, limit)
        if model is not None:
            form.fields["model"] = model
        return variations_call(form) if variation else edits_call(form)

    async def _serve_edit(
        self, request: web.Request, *, model: str | None, variation: bool = False
    ) -> web.StreamResponse:
        """OpenAI's image edits and variations: the generations answer shapes, `image_edit.*`
        stream events; `model` (a deployment route's name) replaces the body's."""
        started = time.monotonic()
        state: RequestState | None = None
        request_id: str | None = None
        credentials = _credentials(request)
        try:
            access = access_of(self.gateway.hooks)
            if access is not None:
                # Reading, fetching and decoding images is real work: not for a caller
                # without a key.
                access.authenticate(credentials)
            parsed = await self._read_edit(request, model=model, variation=variation)
            request_id = parsed.call.request.request_id
            edit = await prepare_edit(
                self.gateway,
                parsed.call.request,
                operation=parsed.operation,
                images=parsed.images,
                mask=parsed.mask,
                prompt_written=parsed.prompt_written,
            )
            call = replace(parsed.call, request=edit)
            state = self.gateway.new_state(
                edit, started=started, door="http", credentials=credentials
            )
            if call.stream:
                return await self._stream(request, call, state, _EDIT_EVENTS)
            generation = await self.gateway.generate(edit, state=state)
            await self._hold_answer(generation.result.images, state)
            body = images_response(generation)
            self._finish(state)
            return _json(body, headers=_fact_headers(state.facts))
        except web.HTTPException:
            raise  # aiohttp's own refusal (body too large): the middleware answers it
        except Exception as exc:
            return self._failure(exc, state, request_id, started)

    async def _stream(
        self,
        request: web.Request,
        call: GenerationsCall,
        state: RequestState,
        names: tuple[str, str] = _GENERATION_EVENTS,
    ) -> web.StreamResponse:
        """OpenAI's image SSE: partial previews as they arrive, one completed event per image.

        The status and the routing headers go out once the request is accepted; the cost is
        known only at the end, so it rides on the last completed event (`imagegen`, the same
        facts as the x-imagegen-* headers) — OpenAI's SDKs ignore the extra field. A failure
        after the first byte is an `error` event, as OpenAI sends one.
        """
        server = self.gateway.settings.server
        events = self.gateway.stream(
            call.request,
            state=state,
            partial_images=call.partial_images,
            keepalive_seconds=server.stream_keepalive_seconds,
        )
        async with contextlib.aclosing(events):
            # Until the provider's first event (or the first keep-alive) nothing is sent, so a
            # refusal up front — bad parameters, an unknown model, a provider's 400 — is an
            # ordinary error answer with its status, as OpenAI gives it.
            await anext(events)
            first = await anext(events)
            # Only what is known at the first byte: where the request is going; the cost
            # and the rest follow on the last event.
            facts = state.facts_so_far()
            routing = {
                name: value
                for name, value in _fact_headers(facts).items()
                if name in _ROUTING_HEADERS
            }
            response = web.StreamResponse(
                headers={
                    "content-type": "text/event-stream",
                    "cache-control": "no-cache",
                    **routing,
                }
            )
            await response.prepare(request)
            writer = _StreamWriter(response, call, int(time.time()), names)
            try:
                await writer.write(first, state)
                async for event in events:
                    if isinstance(event, Generation):
                        self._finish(state)
                    elif isinstance(event, ImageReady):
                        await self._hold_answer((event.image,), state)
                    await writer.write(event, state)
                await response.write_eof()
            except ConnectionResetError:
                # The caller hung up; leaving the block closes the gateway's stream, which
                # aborts the provider calls.
                log.info("stream closed by the client request_id=%s", facts.request_id)
            except Exception as exc:
                with contextlib.suppress(ConnectionResetError):
                    await response.write(_sse(None, self._stream_error(exc, state)))
                    await response.write_eof()
            return response

    async def _hold_answer(self, images: Sequence[GeneratedImage], state: RequestState) -> None:
        # The base64 text and the JSON around it, taken before they are made.
        size = memory.images_bytes(images)
        timeout = state.request.timeout or self.gateway.settings.request_timeout
        await memory.take_answer(size, memory.HTTP_ENCODE_FACTOR, Deadline.after(timeout))

    def _stream_error(self, exc: Exception, state: RequestState) -> dict[str, Any]:
        error = exc if isinstance(exc, ImageGenError) else InternalError("internal error")
        if not isinstance(exc, ImageGenError):
            log.exception("unexpected error in the HTTP stream")
        return error_body(error)

    def _finish(self, state: RequestState) -> None:
        state.facts.overhead_ms = state.overhead_ms()

    def _failure(
        self, exc: Exception, state: RequestState | None, request_id: str | None, started: float
    ) -> web.Response:
        if isinstance(exc, ImageGenError):
            error = exc
        else:
            log.exception("unexpected error in the HTTP door")
            error = InternalError("internal error")
        facts = failure_facts(error, state, request_id)
        if state is None and self._telemetry is not None:
            self._telemetry.rejected(
                error, door="http", request_id=facts.request_id, started=started
            )
        headers = {**_fact_headers(facts), **error_headers(error)}
        return _json(error_body(error), status=error.http_status, headers=headers)

    async def _models(self, request: web.Request) -> web.Response:
        return _json(models_list(self.gateway.describe_models(), self._created))

    async def _liveliness(self, request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def _readiness(self, request: web.Request) -> web.Response:
        if self.ready:
            return _json({"status": "ready"})
        return _json({"status": "shutting_down"}, status=503)

    async def _openapi_document(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")
