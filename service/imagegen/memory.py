"""A byte budget for image data in flight, so that a burst of answers cannot exhaust memory.

Each call served by a door holds a `CallMemory` lease on the process's `MemoryBudget`.
Before the provider transport reads an answer's body it takes the body's size from the
lease (the whole Content-Length at once, else chunk by chunk as the body arrives); while
the budget is spent the body stays unread, so TCP flow control holds the provider back
instead of this process's heap. With the body it takes what the door will need to send
the images in it on (the gRPC message, the HTTP door's base64 JSON: the lease's
`answer_factor`), so that a call waits once; the door takes only what that did not cover.
The door releases the whole lease when the caller has the answer: the end of the RPC, of
the HTTP response write, of the stream.

Never a deadlock: a request larger than the whole budget is granted when nothing else is
held (it is served alone), and when every call holding bytes is itself waiting for more
(nobody could release), the first of them is granted. Waits end at the call's deadline.

The lease travels in a context variable, set by the door for the task serving the call:
tasks the gateway starts for the call (fan-out sub-calls, fallbacks) copy it, so
everything one call reads counts against its one lease. Without a lease (the in-process
SDK, whose caller holds the images itself) nothing is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from imagegen.deadline import Deadline
from imagegen.errors import DeadlineExceededError
from imagegen.types import GeneratedImage

MIB = 1024 * 1024
# Sized for a 1 GB container: room for the interpreter, the pools and the allocator's slack.
DEFAULT_BUDGET_MB = 512
# What a JSON answer's body needs while it is decoded: the body itself and the images
# decoded from its base64 (three quarters of it, rounded up to all of it).
JSON_DECODE_FACTOR = 2
# What a door holds while it sends images on: the gRPC message and its serialized copy;
# the HTTP door's base64 text and the JSON body around it (4/3 each, rounded up).
GRPC_ENCODE_FACTOR = 2
HTTP_ENCODE_FACTOR = 3

_current: ContextVar[CallMemory | None] = ContextVar("imagegen_call_memory", default=None)


class MemoryBudget:
    """The bytes of image data this process may hold for calls in flight (None: no bound)."""

    def __init__(self, limit_bytes: int | None) -> None:
        self.limit = limit_bytes
        self.used = 0
        """Bytes granted to leases and not yet released."""
        self.peak = 0
        """The most ever granted at once (above `limit` only by a request served alone, or
        one let through because every holder was waiting)."""
        self._waiters: list[_Waiter] = []
        self._order = itertools.count()
        self._holders = 0
        """Leases holding bytes."""
        self._waiting_holders = 0
        """Of those, how many have a request queued."""

    @property
    def waiting(self) -> int:
        """Requests for bytes queued now."""
        return len(self._waiters)

    def lease(self, priority: int = 0, answer_factor: int = 0) -> CallMemory:
        """A new call's lease; waiters of higher `priority` are granted first.

        `answer_factor`: what the door holds per image byte while it sends the answer on
        (GRPC_ENCODE_FACTOR, HTTP_ENCODE_FACTOR); taken with the provider's body, so that a
        call waits for memory once, and never holds some while it waits for more."""
        return CallMemory(self, priority, answer_factor)

    async def _acquire(self, lease: CallMemory, size: int, deadline: Deadline | None) -> None:
        if self.limit is None or size <= 0:
            self._grant(lease, max(size, 0))
            return
        if not self._waiters and self._fits(size):
            self._grant(lease, size)
            return
        loop = asyncio.get_running_loop()
        # Holders first (they free their bytes once they finish), then priority, then arrival.
        waiter = _Waiter(
            (0 if lease.held else 1, -lease.priority, next(self._order)),
            lease,
            size,
            loop.create_future(),
        )
        heapq.heappush(self._waiters, waiter)
        self._change(lease, waits=1)
        self._pump()
        try:
            timeout = None if deadline is None else max(deadline.remaining(), 0.0)
            async with asyncio.timeout(timeout):
                await asyncio.shield(waiter.granted)
        except TimeoutError:
            if not waiter.granted.done():
                self._forget(waiter)
                raise DeadlineExceededError(
                    "the deadline passed while waiting for memory to read the answer"
                ) from None
        except BaseException:
            if not waiter.granted.done():
                self._forget(waiter)
            raise

    def _forget(self, waiter: _Waiter) -> None:
        waiter.granted.cancel()
        self._waiters.remove(waiter)
        heapq.heapify(self._waiters)
        self._change(waiter.lease, waits=-1)
        # The front may have been this waiter, holding back ones that fit.
        self._pump()

    def _fits(self, size: int) -> bool:
        assert self.limit is not None
        return self.used + size <= self.limit

    def _stuck(self) -> bool:
        """Every call holding bytes waits for more: no release can come."""
        return self._holders > 0 and self._waiting_holders == self._holders

    def _pump(self) -> None:
        while self._waiters:
            front = self._waiters[0]
            if not (self._fits(front.size) or self.used == 0 or self._stuck()):
                return
            heapq.heappop(self._waiters)
            self._change(front.lease, waits=-1)
            self._grant(front.lease, front.size)
            front.granted.set_result(None)

    def _grant(self, lease: CallMemory, size: int) -> None:
        if lease.closed:
            return
        self._change(lease, held=size)
        self.used += size
        self.peak = max(self.peak, self.used)

    def _release(self, lease: CallMemory) -> None:
        self.used -= lease.held
        self._change(lease, held=-lease.held)
        self._pump()

    def _change(self, lease: CallMemory, *, held: int = 0, waits: int = 0) -> None:
        """Change a lease's bytes or pending requests, keeping the counts of holders and
        of holders waiting right (several tasks of one call may wait at once: fan-out)."""
        was_holder, was_waiting = lease.held > 0, lease.held > 0 and lease.waits > 0
        lease.held += held
        lease.waits += waits
        is_holder, is_waiting = lease.held > 0, lease.held > 0 and lease.waits > 0
        self._holders += is_holder - was_holder
        self._waiting_holders += is_waiting - was_waiting


@dataclass(order=True, slots=True)
class _Waiter:
    rank: tuple[int, int, int]
    lease: CallMemory = field(compare=False)
    size: int = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class CallMemory:
    """One call's share of the budget: what it took so far, all released by `close`."""

    __slots__ = ("_budget", "answer_factor", "closed", "held", "prepaid", "priority", "waits")

    def __init__(self, budget: MemoryBudget, priority: int, answer_factor: int = 0) -> None:
        self._budget = budget
        self.priority = priority
        self.answer_factor = answer_factor
        self.held = 0
        self.waits = 0
        """Requests of this call queued now (fan-out sub-calls may each have one)."""
        self.prepaid = 0
        """Of `held`, what was taken ahead for the door's encoding of the answer."""
        self.closed = False

    async def take_body(self, size: int, *, image: bool, deadline: Deadline | None) -> None:
        """Take `size` bytes of a provider's body, what decoding it needs, and the door's
        share for the images in it (an image body is the image; base64 is 4/3 of one)."""
        images = size if image else size * 3 // 4
        ahead = images * self.answer_factor
        await self.take(size * (1 if image else JSON_DECODE_FACTOR) + ahead, deadline)
        self.prepaid += ahead

    async def take_answer(self, size: int, factor: int, deadline: Deadline | None) -> None:
        """Take what the door needs to encode `size` bytes of images, less what was taken
        ahead with the provider's body."""
        need = size * factor
        covered = min(self.prepaid, need)
        self.prepaid -= covered
        await self.take(need - covered, deadline)

    async def take(self, size: int, deadline: Deadline | None = None) -> None:
        """Wait until `size` more bytes may be held for this call (until `deadline`)."""
        if not self.closed:
            await self._budget._acquire(self, size, deadline)

    def close(self) -> None:
        """The caller has the answer (or the call ended): release everything. Idempotent."""
        if not self.closed:
            self.closed = True
            self._budget._release(self)


def current() -> CallMemory | None:
    """The lease of the call this task serves, if a door opened one."""
    return _current.get()


@contextlib.contextmanager
def serving(lease: CallMemory) -> Iterator[CallMemory]:
    """Count what this task (and the tasks it starts) read against `lease`.

    Does not close the lease: the door does that when the caller has the answer."""
    token = _current.set(lease)
    try:
        yield lease
    finally:
        # A stream's generator closed from elsewhere (collected) runs this in another context.
        with contextlib.suppress(ValueError):
            _current.reset(token)


async def take(size: int, deadline: Deadline | None = None) -> None:
    """Take `size` bytes for the current call (nothing when no door opened a lease)."""
    lease = _current.get()
    if lease is not None:
        await lease.take(size, deadline)


async def take_body(size: int, *, image: bool, deadline: Deadline | None) -> None:
    """CallMemory.take_body for the current call (nothing without a lease)."""
    lease = _current.get()
    if lease is not None:
        await lease.take_body(size, image=image, deadline=deadline)


async def take_answer(size: int, factor: int, deadline: Deadline | None) -> None:
    """CallMemory.take_answer for the current call (nothing without a lease)."""
    lease = _current.get()
    if lease is not None:
        await lease.take_answer(size, factor, deadline)


def images_bytes(images: Iterable[GeneratedImage]) -> int:
    """The image files' total size (URL-only images weigh nothing here)."""
    return sum(image.content_bytes for image in images)
