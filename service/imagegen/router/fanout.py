"""Serving n with several parallel provider calls, for models that make fewer per call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal

from imagegen.errors import ContentPolicyViolationError
from imagegen.events import ImageReady
from imagegen.providers.base import ProviderCall
from imagegen.types import ProviderResult, merge_usage


async def fan_out(
    generate: Callable[[ProviderCall], Awaitable[ProviderResult]],
    call: ProviderCall,
    per_call: int,
    *,
    concurrency: int | None = None,
    partial: bool = False,
) -> AsyncIterator[ImageReady | ProviderResult]:
    """Serve n with parallel calls when the model makes fewer images per call.

    Images are handed on in completion order; at most `concurrency` sub-calls run at
    once. Every sub-call runs to its end (the ones that succeed are billed whatever the
    others do). Sub-calls refused by a safety filter count as filtered images; any other
    failure fails the call — unless `partial`, when what succeeded is returned with the
    missing images counted in `failed`.
    """
    counts = [per_call] * (call.params.n // per_call)
    if call.params.n % per_call:
        counts.append(call.params.n % per_call)
    calls = [replace(call, params=replace(call.params, n=count)) for count in counts]

    gate = asyncio.Semaphore(concurrency or len(calls))

    async def attempt(sub: ProviderCall) -> tuple[ProviderCall, ProviderResult | Exception]:
        async with gate:
            try:
                return sub, await generate(sub)
            except Exception as exc:
                return sub, exc

    tasks = [asyncio.ensure_future(attempt(sub)) for sub in calls]
    results: list[ProviderResult] = []
    filtered = 0
    refusal: ContentPolicyViolationError | None = None
    failure: Exception | None = None
    failed = 0
    index = 0
    try:
        for finished in asyncio.as_completed(tasks):
            sub, outcome = await finished
            if isinstance(outcome, ProviderResult):
                results.append(outcome)
                filtered += outcome.filtered
                for image in outcome.images:
                    yield ImageReady(index=index, image=image)
                    index += 1
            elif isinstance(outcome, ContentPolicyViolationError):
                filtered += sub.params.n
                refusal = refusal or outcome
            else:
                failure = failure or outcome
                failed += sub.params.n
    finally:
        for task in tasks:
            task.cancel()
    if failure is not None and not (partial and results):
        raise FanOutFailed(failure, results)
    if not results:
        assert refusal is not None  # every sub-call either succeeded or failed
        raise refusal
    merged = merge_results(results, filtered=filtered)
    merged.failed = failed
    yield merged


def merge_results(results: list[ProviderResult], *, filtered: int = 0) -> ProviderResult:
    """One result for several calls' results (the first call's metadata, summed usage)."""
    first = results[0]
    billed = [result.billed_usd for result in results if result.billed_usd is not None]
    return ProviderResult(
        images=[image for result in results for image in result.images],
        usage=merge_usage([result.usage for result in results]),
        created=first.created,
        quality=first.quality,
        size=first.size,
        headers=first.headers,
        filtered=filtered,
        # What the provider stated each call cost adds up; one call without it leaves the
        # whole to the price table.
        billed_usd=sum(billed, Decimal(0)) if len(billed) == len(results) else None,
    )


class FanOutFailed(Exception):
    """A fan-out sub-call failed; carries what the other sub-calls produced (and cost)."""

    def __init__(self, error: BaseException, finished: list[ProviderResult]) -> None:
        super().__init__("a fan-out sub-call failed")
        self.error = error
        self.finished = finished
