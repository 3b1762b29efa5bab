"""The gateway's extension points: every hook is called at its point, in order, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import yaml

from imagegen.config import parse_settings
from imagegen.errors import ImageGenError, InvalidRequestError, ProviderUnavailableError
from imagegen.events import RequestState
from imagegen.gateway import Gateway
from imagegen.hooks import RequestHook
from imagegen.types import Attempt, ImageRequest, ProviderResult
from tests.fakes.gemini import GeminiFake


class Recorder(RequestHook):
    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal
        self.started = asyncio.Event()
        self.attempts: list[Attempt] = []
        self.errors: list[ImageGenError | None] = []

    async def on_request(self, state: RequestState) -> None:
        self.journal.append(f"{self.name}:request")

    def attempt_started(self, state: RequestState, attempt: Attempt) -> None:
        assert attempt.duration_ms is None
        self.journal.append(f"{self.name}:attempt{attempt.number}")
        self.started.set()

    def attempt_finished(self, state: RequestState, attempt: Attempt) -> None:
        assert attempt.duration_ms is not None
        self.attempts.append(attempt)

    async def after_call(self, state: RequestState, result: ProviderResult) -> ProviderResult:
        self.journal.append(f"{self.name}:after")
        return result

    async def finished(self, state: RequestState, error: ImageGenError | None) -> None:
        self.journal.append(f"{self.name}:finished")
        self.errors.append(error)


class Refuser(RequestHook):
    name = "refuser"

    async def on_request(self, state: RequestState) -> None:
        raise InvalidRequestError("refused by a hook")


class Masker(RequestHook):
    name = "masker"

    async def on_request(self, state: RequestState) -> None:
        state.request = state.request.model_copy(update={"prompt": "[masked]"})


class Broken(RequestHook):
    name = "broken"

    async def finished(self, state: RequestState, error: ImageGenError | None) -> None:
        raise RuntimeError("a reporting bug")


@pytest.fixture
async def gemini_fake() -> AsyncIterator[GeminiFake]:
    async with GeminiFake() as fake:
        yield fake


def gateway_with(fake: GeminiFake, *hooks: RequestHook) -> Gateway:
    entry = {
        "model_name": "flash-image",
        "litellm_params": {
            "model": "gemini/gemini-2.5-flash-image",
            "api_base": fake.base_url,
            "api_key": fake.api_key,
        },
    }
    settings = parse_settings(yaml.safe_dump({"model_list": [entry]}), source="t.yaml")
    return Gateway(settings, hooks=hooks)


async def test_hooks_run_in_order_around_each_fan_out_attempt(gemini_fake: GeminiFake) -> None:
    journal: list[str] = []
    first, second = Recorder("a", journal), Recorder("b", journal)
    gateway = gateway_with(gemini_fake, first, second)
    try:
        generation = await gateway.generate(
            ImageRequest.create(prompt="owls", model="flash-image", n=3)
        )
    finally:
        await gateway.aclose()
    assert journal[:2] == ["a:request", "b:request"]
    assert sorted(journal[2:8]) == sorted(f"{h}:attempt{i}" for h in "ab" for i in (1, 2, 3))
    assert journal[8:] == ["a:after", "b:after", "a:finished", "b:finished"]
    assert [a.outcome for a in first.attempts] == ["ok"] * 3
    assert {(a.model_name, a.provider) for a in first.attempts} == {("flash-image", "gemini")}
    assert generation.facts.attempt_log == sorted(first.attempts, key=lambda a: a.number)
    assert first.errors == [None]


async def test_a_refusing_hook_stops_the_request_before_any_provider_call(
    gemini_fake: GeminiFake,
) -> None:
    journal: list[str] = []
    recorder = Recorder("r", journal)
    gateway = gateway_with(gemini_fake, Refuser(), recorder)
    try:
        with pytest.raises(InvalidRequestError):
            await gateway.generate(ImageRequest.create(prompt="owls", model="flash-image"))
    finally:
        await gateway.aclose()
    assert gemini_fake.requests == []
    assert journal == ["r:finished"]
    assert isinstance(recorder.errors[0], InvalidRequestError)


async def test_a_hook_may_rewrite_the_prompt_before_it_is_sent(gemini_fake: GeminiFake) -> None:
    gateway = gateway_with(gemini_fake, Masker())
    try:
        await gateway.generate(
            ImageRequest.create(prompt="mail me at a@b.example", model="flash-image")
        )
    finally:
        await gateway.aclose()
    sent = gemini_fake.requests[0].json["contents"][0]["parts"][0]["text"]
    assert sent == "[masked]"


async def test_failed_attempts_carry_their_reason_and_finished_gets_the_error(
    gemini_fake: GeminiFake,
) -> None:
    journal: list[str] = []
    recorder = Recorder("r", journal)
    gateway = gateway_with(gemini_fake, Broken(), recorder)
    gemini_fake.fail_next(
        500, {"error": {"code": 500, "message": "An internal error.", "status": "INTERNAL"}}
    )
    try:
        with pytest.raises(ProviderUnavailableError):
            await gateway.generate(ImageRequest.create(prompt="owls", model="flash-image"))
    finally:
        await gateway.aclose()
    assert [a.outcome for a in recorder.attempts] == ["PROVIDER_UNAVAILABLE"]
    # A hook failing at the end does not hide the request's own outcome from the others.
    assert isinstance(recorder.errors[0], ProviderUnavailableError)


async def test_a_cancelled_request_still_reaches_finished(gemini_fake: GeminiFake) -> None:
    journal: list[str] = []
    recorder = Recorder("r", journal)
    gateway = gateway_with(gemini_fake, recorder)
    gemini_fake.delay = 5.0
    try:
        task = asyncio.ensure_future(
            gateway.generate(ImageRequest.create(prompt="owls", model="flash-image"))
        )
        await asyncio.wait_for(recorder.started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await gateway.aclose()
    assert [a.outcome for a in recorder.attempts] == ["CANCELLED"]
    assert recorder.errors[0] is not None and recorder.errors[0].reason == "CANCELLED"
