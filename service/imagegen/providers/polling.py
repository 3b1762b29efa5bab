"""One engine for submit-then-poll providers (Black Forest Labs, fal's queue, Replicate).

An adapter describes its provider as data transforms: the submit request, how to read the
job handle from the submit answer, the status request, how to read a status answer, the
cancel request (if the provider has one) and how to turn the finished job into images. The
engine owns the policy every such provider needs:

- **deadline-aware polling**: the interval starts short and backs off to a cap; the last
  sleep is cut so that a poll still fits before the deadline, and no poll starts that could
  not finish before it (its expected duration is the slowest poll seen so far);
- **progress**: each status that says something new (state, queue position, percent) is
  reported to the request's progress sink (see `progress.py`), which the streaming door
  turns into `progress` events;
- **cancellation**: when the caller goes away, the deadline passes or polling fails, the job
  is cancelled upstream (where the provider has a cancel call), in the background, so that
  the caller's cancellation is never held up by it;
- **result fetching** (SSRF): job, status, cancel and image URLs come from the provider's
  answers, so each is checked against the hosts the provider is known to use and the
  configured api_base's own origin before anything is sent there; credentials go only to
  API hosts, never to delivery hosts; images are read with a size limit;
- **moderation**: adapters raise CONTENT_POLICY_VIOLATION for a moderated job; a failed or
  moderated job is finished upstream, so it is not cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import JsonValue

from imagegen.deadline import Deadline
from imagegen.errors import (
    ContentPolicyViolationError,
    DeadlineExceededError,
    ImageGenError,
    ProviderBadResponseError,
    ProviderError,
    ProviderUnavailableError,
)
from imagegen.imagefmt import sniff_mime
from imagegen.providers.base import Endpoint, HttpProvider, HttpRequest, ProviderCall
from imagegen.providers.progress import JobProgress, report_progress
from imagegen.providers.transport import HttpResponse, HttpTransport
from imagegen.types import ProviderResult

log = logging.getLogger(__name__)

# Images fetched from a provider's delivery host. Generated images are a few MB; a larger
# body is a misbehaving host, and is refused rather than held in memory.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
# A cancel call gets its own short deadline: the request it belongs to may already be over.
CANCEL_SECONDS = 10.0
# Statuses a poll may answer with while the job itself is fine (rate limited, a gateway
# hiccup): polling goes on, within the deadline.
TRANSIENT_POLL_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# A floor for the expected duration of a poll before one has been measured.
MIN_POLL_SECONDS = 0.05

# Cancel calls still running; held so that they are not garbage-collected mid-flight.
_BACKGROUND: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often a job is polled."""

    first_interval: float = 0.5
    """Seconds from the submit answer to the first poll."""
    backoff: float = 1.5
    """Each interval is the previous one times this..."""
    max_interval: float = 2.0
    """...up to this."""

    def with_fixed_interval(self, seconds: float) -> PollPolicy:
        return PollPolicy(first_interval=seconds, backoff=1.0, max_interval=seconds)


@dataclass(frozen=True, slots=True)
class Job:
    """A submitted job: where to ask about it, and where to cancel it."""

    id: str
    status_url: str
    cancel_url: str | None = None
    result_url: str | None = None
    # The submit answer itself, when it may already hold the result (Replicate's
    # `Prefer: wait` answers with a finished prediction when the model is quick).
    finished: JsonValue = None
    # What the submit answer says the job costs, in USD, when the provider states it (BFL's
    # `cost`): it prices the result ahead of any price table.
    billed_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """The job is still queued or running."""

    progress: JobProgress


@dataclass(frozen=True, slots=True)
class Finished:
    """The job succeeded; `payload` is the answer holding (or leading to) its output."""

    payload: JsonValue


JobStatus = Pending | Finished


@dataclass(slots=True)
class AllowedHosts:
    """Where URLs taken from a provider's answers may point.

    `api_hosts` may receive the credentials (status and cancel calls); `delivery_hosts` only
    serve result files and get no credentials. A host matches a name exactly or as a
    subdomain of a name given with a leading dot (".bfl.ai"). Known hosts are https only.
    The configured api_base's own origin (scheme, host and port) is allowed for both: a
    proxy or a fake speaking the provider's API serves its results from where it lives.
    """

    api_hosts: tuple[str, ...]
    delivery_hosts: tuple[str, ...]
    api_base_origin: tuple[str, str, int] | None = None

    @classmethod
    def for_api_base(
        cls, api_base: str, api_hosts: tuple[str, ...], delivery_hosts: tuple[str, ...]
    ) -> AllowedHosts:
        return cls(api_hosts, delivery_hosts, _origin(api_base))

    def check(self, url: str, *, provider: str, credentials: bool) -> str:
        """`url`, when the provider may send us there; else ProviderBadResponseError."""
        origin = _origin(url)
        if origin is not None and origin == self.api_base_origin:
            return url
        hosts = self.api_hosts if credentials else self.api_hosts + self.delivery_hosts
        if origin is not None and origin[0] == "https" and _matches(origin[1], hosts):
            return url
        # The URL itself is not repeated: it came from the provider, and may carry tokens.
        raise ProviderBadResponseError(
            "the provider's answer points at a host it is not known to use; not followed",
            provider=provider,
        )


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.lower(), port or default


def _matches(host: str, names: tuple[str, ...]) -> bool:
    for name in names:
        if name.startswith("."):
            if host.endswith(name) or host == name[1:]:
                return True
        elif host == name:
            return True
    return False


@dataclass(slots=True)
class PollRun:
    """The state of one job's polling (what the adapter's hooks may read)."""

    call: ProviderCall
    transport: HttpTransport
    allowed: AllowedHosts
    job: Job | None = None
    polls: int = 0
    last_progress: JobProgress | None = None
    slowest_poll: float = MIN_POLL_SECONDS
    settled: bool = False
    """The job reached an end upstream (done, failed, moderated): nothing to cancel."""


class PollingProvider(HttpProvider):
    """An adapter whose provider answers a submit with a job to poll."""

    poll_policy: ClassVar[PollPolicy] = PollPolicy()
    # A deployment may fix the poll interval (seconds) with `poll_interval`.
    endpoint_options: ClassVar[tuple[str, ...]] = ("poll_interval",)
    # Hostnames (".suffix" for subdomains) the provider's status/cancel URLs may name.
    api_hosts: ClassVar[tuple[str, ...]] = ()
    # Hostnames its result files may be served from (no credentials go there).
    delivery_hosts: ClassVar[tuple[str, ...]] = ()

    # ---------------------------------------------------------------- adapter hooks

    @abstractmethod
    def api_base(self, endpoint: Endpoint) -> str:
        """The base URL submits go to (its origin is also allowed for job and result URLs)."""

    @abstractmethod
    def parse_submit(self, call: ProviderCall, response: HttpResponse) -> Job:
        """The job handle from a successful submit answer."""

    @abstractmethod
    def status_request(self, call: ProviderCall, job: Job) -> HttpRequest:
        """The request that asks how the job is doing."""

    def parse_status(self, call: ProviderCall, job: Job, response: HttpResponse) -> JobStatus:
        """Pending or Finished from a successful status answer."""
        payload = response.json()
        if not isinstance(payload, dict):
            raise ProviderBadResponseError(
                "the provider's job status is not a JSON object", provider=self.name
            )
        return self.read_status(call, job, payload)

    @abstractmethod
    def read_status(self, call: ProviderCall, job: Job, payload: dict[str, JsonValue]) -> JobStatus:
        """Pending or Finished from a status answer's JSON; raises the typed error of a
        failed job (`job_failed`) or a moderated one (CONTENT_POLICY_VIOLATION)."""

    def cancel_request(self, call: ProviderCall, job: Job) -> HttpRequest | None:
        """The request that cancels the job; None when the provider has no cancel call."""
        return None

    @abstractmethod
    async def collect(self, run: PollRun, finished: Finished) -> ProviderResult:
        """The images of the finished job (fetched with `fetch_image` / `fetch_json`)."""

    def parse_response(self, call: ProviderCall, response: HttpResponse) -> ProviderResult:
        # Polling adapters do not parse a one-shot answer: `generate` drives them.
        raise NotImplementedError

    def poll_policy_for(self, call: ProviderCall) -> PollPolicy:
        """The policy for `call`: a deployment may fix the interval (`poll_interval`)."""
        configured = call.endpoint.options.get("poll_interval")
        if (
            isinstance(configured, int | float)
            and not isinstance(configured, bool)
            and configured > 0
        ):
            return self.poll_policy.with_fixed_interval(float(configured))
        return self.poll_policy

    # ---------------------------------------------------------------- the engine

    async def generate(self, call: ProviderCall, transport: HttpTransport) -> ProviderResult:
        allowed = AllowedHosts.for_api_base(
            self.api_base(call.endpoint), self.api_hosts, self.delivery_hosts
        )
        run = PollRun(call=call, transport=transport, allowed=allowed)
        request = await self.prepare(call)
        response = await transport.send(request, deadline=call.deadline, provider=self.name)
        if response.status >= 400:
            raise self.parse_error(call, response)
        job = self.parse_submit(call, response)
        run.job = job
        try:
            job = self._checked(run, job)
            run.job = job
            finished = await self._wait(run, job)
            run.settled = True
            return await self.collect(run, finished)
        except BaseException as exc:
            if not run.settled and not _settles(exc):
                self._cancel_upstream(run, job)
            raise

    def _checked(self, run: PollRun, job: Job) -> Job:
        def check(url: str) -> str:
            return self._check_api_url(run, url)

        return Job(
            id=job.id,
            status_url=check(job.status_url),
            cancel_url=check(job.cancel_url) if job.cancel_url else None,
            result_url=check(job.result_url) if job.result_url else None,
            finished=job.finished,
            billed_usd=job.billed_usd,
        )

    def _check_api_url(self, run: PollRun, url: str) -> str:
        return run.allowed.check(url, provider=self.name, credentials=True)

    async def _wait(self, run: PollRun, job: Job) -> Finished:
        call = run.call
        if isinstance(job.finished, dict):
            early = self.read_status(call, job, job.finished)
            if isinstance(early, Finished):
                return early
            self._progress(run, early.progress)
        policy = self.poll_policy_for(call)
        interval = policy.first_interval
        # Bounded by the deadline: every turn sleeps a positive time or raises.
        while True:
            budget = call.deadline.remaining() - run.slowest_poll
            if budget <= 0:
                raise DeadlineExceededError(
                    "the deadline passed while the provider's job was still running"
                )
            await asyncio.sleep(min(interval, budget))
            interval = min(interval * policy.backoff, policy.max_interval)
            started = time.monotonic()
            response = await run.transport.send(
                self.status_request(call, job), deadline=call.deadline, provider=self.name
            )
            run.slowest_poll = max(run.slowest_poll, time.monotonic() - started)
            run.polls += 1
            if response.status in TRANSIENT_POLL_STATUSES:
                continue
            if response.status >= 400:
                raise self.parse_error(call, response)
            status = self.parse_status(call, job, response)
            if isinstance(status, Finished):
                return status
            self._progress(run, status.progress)

    @staticmethod
    def _progress(run: PollRun, progress: JobProgress) -> None:
        if progress != run.last_progress:
            run.last_progress = progress
            report_progress(progress)

    def _cancel_upstream(self, run: PollRun, job: Job) -> None:
        try:
            request = self.cancel_request(run.call, job)
        except ImageGenError:
            return
        if request is None:
            return
        try:
            self._check_api_url(run, request.url)
        except ImageGenError:
            return
        transport, provider = run.transport, self.name

        async def cancel() -> None:
            try:
                response = await transport.send(
                    request, deadline=Deadline.after(CANCEL_SECONDS), provider=provider
                )
            except ImageGenError as error:
                log.info("cancelling a %s job failed: %s", provider, error.reason)
                return
            except Exception:
                log.info("cancelling a %s job failed", provider)
                return
            log.info("cancelled a %s job upstream (status %d)", provider, response.status)

        try:
            task = asyncio.get_running_loop().create_task(cancel())
        except RuntimeError:
            return  # no loop left (interpreter shutdown): nothing can be sent
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    # ---------------------------------------------------------------- fetching

    def _data_url(self, url: str) -> tuple[bytes, str | None]:
        match = _DATA_URL.match(url[: MAX_IMAGE_BYTES * 2])
        if match is None:
            raise ProviderBadResponseError(
                "the provider's result is a data URL that is not a base64 image",
                provider=self.name,
            )
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise ProviderBadResponseError(
                "the provider's result is not valid base64", provider=self.name
            ) from None
        if not data or len(data) > MAX_IMAGE_BYTES:
            raise ProviderBadResponseError(
                "the provider's result file is empty or too large", provider=self.name
            )
        return data, sniff_mime(data) or match.group(1).lower()

    async def fetch_json(
        self, run: PollRun, url: str, headers: Mapping[str, str]
    ) -> tuple[HttpResponse, object]:
        """GET an API URL (with credentials) named by the provider's answer."""
        url = self._check_api_url(run, url)
        request = HttpRequest(method="GET", url=url, headers=headers, json={})
        response = await run.transport.send(request, deadline=run.call.deadline, provider=self.name)
        if response.status >= 400:
            raise self.parse_error(run.call, response)
        return response, response.json()

    async def fetch_image(self, run: PollRun, url: str) -> tuple[bytes, str | None]:
        """The bytes and media type of a result file, from an allowed host, without
        credentials, up to MAX_IMAGE_BYTES. A data URL (fal's `sync_mode`) is decoded here."""
        if url.startswith("data:"):
            return self._data_url(url)
        url = run.allowed.check(url, provider=self.name, credentials=False)
        request = HttpRequest(method="GET", url=url, headers={}, json={})
        transport, deadline = run.transport, run.call.deadline
        async with transport.stream(request, deadline=deadline, provider=self.name) as response:
            if response.status >= 400:
                raise ProviderBadResponseError(
                    f"the provider's result file could not be fetched ({response.status})",
                    provider=self.name,
                    upstream_status=response.status,
                )
            # Read with the limit: a file past it is refused before it is held in memory
            # (raising here closes the connection rather than reading the rest).
            data = await response.read_at_most(MAX_IMAGE_BYTES)
            if data is None:
                raise ProviderBadResponseError(
                    "the provider's result file is too large", provider=self.name
                )
        if not data:
            raise ProviderBadResponseError(
                "the provider's result file is empty", provider=self.name
            )
        return data, sniff_mime(data)


_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.I | re.S)


def job_failed(provider: str, message: str) -> ProviderUnavailableError:
    """The error of a job the provider reports as failed (it is over: nothing to cancel)."""
    return ProviderUnavailableError(message, provider=provider, metadata={"job_state": "failed"})


def _settles(exc: BaseException) -> bool:
    """Whether `exc` says the job ended upstream (so there is nothing left to cancel)."""
    # A job the provider failed or moderated is over; a bad answer, a timeout or the
    # caller going away leaves it running.
    if isinstance(exc, ContentPolicyViolationError):
        return True
    return isinstance(exc, ProviderError) and exc.metadata.get("job_state") == "failed"
