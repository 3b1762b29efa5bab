"""The ImageGeneration gRPC servicer: proto in, gateway, proto and trailers out.

Every method runs inside one error boundary: a domain error becomes its
google.rpc.Status, anything unexpected becomes INTERNAL with a fixed message (the
exception is logged here, never sent), and the cost trailers go out either way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import grpc

from imagegen import memory
from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen.deadline import Deadline
from imagegen.errors import FailedPreconditionError, ImageGenError, InternalError
from imagegen.events import Generation, ImageReady, RequestState
from imagegen.gateway import Gateway
from imagegen.metadata import bearer_token, failure_facts, trailers
from imagegen.server.convert import (
    RequestMessage,
    generation_to_proto,
    model_to_proto,
    request_from_proto,
    stream_messages,
)
from imagegen.server.edits import edit_event, edit_request_from_proto, edit_response
from imagegen.server.spend_convert import (
    estimate_edit,
    estimate_request,
    group_by_from,
    groups_to_proto,
    quote_to_proto,
)
from imagegen.server.status import STATUS_DETAILS_KEY, grpc_code, to_rpc_status
from imagegen.spend.hook import access_of
from imagegen.telemetry.hook import telemetry_hook
from imagegen.types import ImageRequest

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]


class ImageGenerationServicer(pb_grpc.ImageGenerationServicer):
    """Serves the imagegen.v1.ImageGeneration service from a Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        # The gateway reports every request it ran; this door reports those it refused
        # before the gateway saw them.
        self._telemetry = telemetry_hook(gateway.hooks)

    async def GenerateImages(
        self, request: pb.GenerateImagesRequest, context: Context
    ) -> pb.GenerateImagesResponse:
        started = time.monotonic()
        state: RequestState | None = None
        try:
            with memory.serving(self._lease(context)) as lease:
                state = self._start(request, started, context)
                generation = await self._generate(state, context)
                await _hold_answer(lease, generation, context)
                response = generation_to_proto(generation)
            self._finish(context, state)
            return response
        except Exception as exc:
            await self._abort(context, exc, state, request.request_id, started)
            raise  # unreachable: abort raises

    async def StreamGenerateImages(
        self, request: pb.StreamGenerateImagesRequest, context: Context
    ) -> AsyncIterator[pb.StreamGenerateImagesResponse]:
        started = time.monotonic()
        state: RequestState | None = None
        lease = self._lease(context)
        try:
            with memory.serving(lease):
                state = self._start(request, started, context)
                messages = self._stream(state, lease, context, request.partial_images)
                async with contextlib.aclosing(messages):
                    async for message in messages:
                        yield message
            self._finish(context, state)
        except Exception as exc:
            await self._abort(context, exc, state, request.request_id, started)

    async def _stream(
        self,
        state: RequestState,
        lease: memory.CallMemory,
        context: Context,
        partial_images: int,
    ) -> AsyncGenerator[pb.StreamGenerateImagesResponse, None]:
        """The gateway's events for a streamed call as messages, each held against the
        call's memory lease until sent. Closed by the caller with aclosing: when the caller
        cancels, the gateway's provider calls end now, not whenever this is collected."""
        server = self.gateway.settings.server
        events = self.gateway.stream(
            state.request,
            deadline=_deadline(context),
            state=state,
            partial_images=partial_images,
            keepalive_seconds=server.stream_keepalive_seconds,
        )
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, Generation):
                    event.facts.overhead_ms = state.overhead_ms()
                await _hold_event(lease, event, context)
                for message in stream_messages(event, server.stream_chunk_bytes):
                    yield message

    async def EditImages(
        self, request: pb.EditImagesRequest, context: Context
    ) -> pb.EditImagesResponse:
        started = time.monotonic()
        state: RequestState | None = None
        try:
            self._authenticate_before_decoding(context)
            with memory.serving(self._lease(context)) as lease:
                # Validated before the state exists: a refused input never reaches the gateway.
                edit = await edit_request_from_proto(request, self.gateway)
                state = self._new_state(edit, started, context)
                generation = await self._generate(state, context)
                await _hold_answer(lease, generation, context)
                response = edit_response(generation_to_proto(generation))
            self._finish(context, state)
            return response
        except Exception as exc:
            await self._abort(context, exc, state, request.request_id, started)
            raise  # unreachable: abort raises

    async def StreamEditImages(
        self, request: pb.StreamEditImagesRequest, context: Context
    ) -> AsyncIterator[pb.StreamEditImagesResponse]:
        started = time.monotonic()
        state: RequestState | None = None
        lease = self._lease(context)
        try:
            self._authenticate_before_decoding(context)
            with memory.serving(lease):
                edit = await edit_request_from_proto(request, self.gateway)
                state = self._new_state(edit, started, context)
                messages = self._stream(state, lease, context, request.partial_images)
                async with contextlib.aclosing(messages):
                    async for message in messages:
                        yield edit_event(message)
            self._finish(context, state)
        except Exception as exc:
            await self._abort(context, exc, state, request.request_id, started)

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        try:
            return pb.ListModelsResponse(
                models=[model_to_proto(d) for d in self.gateway.describe_models()]
            )
        except Exception as exc:
            await self._abort(context, exc, None, "", None)
            raise

    async def EstimateCost(
        self, request: pb.EstimateCostRequest, context: Context
    ) -> pb.EstimateCostResponse:
        try:
            access = access_of(self.gateway.hooks)
            if access is not None:
                access.authenticate(_bearer(context))
            return quote_to_proto(
                self.gateway.quote(estimate_request(request), edit=estimate_edit(request))
            )
        except Exception as exc:
            await self._abort(context, exc, None, "", None)
            raise

    async def QuerySpend(
        self, request: pb.QuerySpendRequest, context: Context
    ) -> pb.QuerySpendResponse:
        try:
            access = access_of(self.gateway.hooks)
            if access is None:
                raise FailedPreconditionError(
                    "this gateway keeps no spend log (set general_settings in the config)"
                )
            group_by = group_by_from(request.group_by)
            # The master key sees every row; a virtual key only its own.
            key = access.authenticate(_bearer(context))
            since = request.since.ToSeconds() if request.HasField("since") else None
            # Rows queued a moment ago belong in the answer: wait for the writer (bounded).
            await access.writer.flush(timeout=5.0)
            groups = await access.store.summary(
                group_by, since, key.key_id if key is not None else None
            )
            return groups_to_proto(groups)
        except Exception as exc:
            await self._abort(context, exc, None, "", None)
            raise

    def _lease(self, context: Context) -> memory.CallMemory:
        """The call's share of the memory budget, released when the RPC is over: grpc
        finishes a call only once its answer went out (HTTP/2 flow control: the caller read
        it), so a slow reader holds its own answer and nothing else."""
        lease = self.gateway.memory.lease(answer_factor=memory.GRPC_ENCODE_FACTOR)
        # The stubs type the callback as a class of their own; any callable is taken.
        context.add_done_callback(cast(Any, lambda _: lease.close()))
        return lease

    def _start(self, message: RequestMessage, started: float, context: Context) -> RequestState:
        # The state exists before the gateway runs, so that even a failure the gateway did
        # not expect reports the request id in its trailers.
        return self._new_state(request_from_proto(message), started, context)

    def _authenticate_before_decoding(self, context: Context) -> None:
        # Decoding input images is real CPU work: a caller without a valid key must not get
        # the gateway to do it. (The gateway authenticates again, as for every request.)
        access = access_of(self.gateway.hooks)
        if access is not None:
            access.authenticate(_bearer(context))

    def _new_state(self, request: ImageRequest, started: float, context: Context) -> RequestState:
        return self.gateway.new_state(
            request, started=started, door="grpc", credentials=_bearer(context)
        )

    async def _generate(self, state: RequestState, context: Context) -> Generation:
        return await self.gateway.generate(state.request, deadline=_deadline(context), state=state)

    def _finish(self, context: Context, state: RequestState) -> None:
        facts = state.facts
        facts.overhead_ms = state.overhead_ms()
        context.set_trailing_metadata(trailers(facts))

    async def _abort(
        self,
        context: Context,
        exc: Exception,
        state: RequestState | None,
        request_id: str,
        started: float | None,
    ) -> None:
        if isinstance(exc, ImageGenError):
            error = exc
        else:
            log.exception("unexpected error in %s", type(self).__name__)
            error = InternalError("internal error")
        facts = failure_facts(error, state, request_id)
        if state is None and started is not None and self._telemetry is not None:
            self._telemetry.rejected(
                error, door="grpc", request_id=facts.request_id, started=started
            )
        status = to_rpc_status(error)
        metadata = (*trailers(facts), (STATUS_DETAILS_KEY, status.SerializeToString()))
        await context.abort(grpc_code(error), status.message, trailing_metadata=metadata)


async def _hold_answer(lease: memory.CallMemory, generation: Generation, context: Context) -> None:
    # The response message and grpc's serialized copy of it, taken before they are made.
    size = memory.images_bytes(generation.result.images)
    await lease.take_answer(size, memory.GRPC_ENCODE_FACTOR, _deadline(context))


async def _hold_event(lease: memory.CallMemory, event: object, context: Context) -> None:
    if isinstance(event, ImageReady):
        size = event.image.content_bytes
        await lease.take_answer(size, memory.GRPC_ENCODE_FACTOR, _deadline(context))


def _metadata_value(context: Context, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return None


def _bearer(context: Context) -> str | None:
    return bearer_token(_metadata_value(context, "authorization"))


def _deadline(context: Context) -> Deadline | None:
    # A gRPC deadline always wins; the request's `timeout` applies only without one.
    remaining = context.time_remaining()
    return Deadline.after(remaining) if remaining is not None else None


def add_to_server(servicer: ImageGenerationServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_ImageGenerationServicer_to_server(servicer, server)
