"""Access control, budgets and the spend log as one RequestHook.

on_request: authenticate the bearer token (when keys are required), check the model,
price the call and hold the quote against the key's budget, count it against the
key's rate limits. finished: settle the hold to the actual cost and queue the row.
The in-process SDK (door "sdk") is the program itself: it is not asked for a key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from imagegen.errors import (
    CostUnknownError,
    ImageGenError,
    KeyMissingError,
    MasterKeyRequiredError,
    ModelNotAllowedError,
    UnauthenticatedError,
)
from imagegen.events import Caller, RequestCredentials, RequestState
from imagegen.hooks import RequestHook
from imagegen.keys.model import KeySpec
from imagegen.keys.registry import KeyRegistry
from imagegen.pricing.quote import Quoter
from imagegen.spend.budgets import Hold
from imagegen.spend.quota.build import build_quota
from imagegen.spend.quota.parallel import Lease
from imagegen.spend.rows import GENERATE, SpendRow
from imagegen.spend.settings import AccessSettings
from imagegen.spend.store import Store, open_store
from imagegen.spend.writer import SpendWriter
from imagegen.types import CallFacts, ImageRequest, ProviderResult

log = logging.getLogger(__name__)

MASTER = Caller(key_id="master", alias="master")


@dataclass(slots=True)
class _Call:
    """This hook's per-request data (in RequestState.extensions)."""

    started_at: float
    key: KeySpec | None = None
    hold: Hold | None = None
    lease: Lease | None = None
    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class AccessHook(RequestHook):
    """Virtual keys, budgets with reservation, rate limits and the spend log."""

    name = "access"

    def __init__(
        self, access: AccessSettings, *, default_model: str | None, store: Store | None = None
    ) -> None:
        self.access = access
        self.default_model = default_model
        self.store = store or open_store(self.access.database_url, str(self.access.sqlite_path))
        self.registry = KeyRegistry(self.store, self.access.keys, self.access.master_key)
        # Budgets and rate limits: this process's own, or the fleet's (imagegen.spend.quota).
        self.ledger = build_quota(access, self.store)
        self.writer = SpendWriter(
            self.store, batch_size=self.access.spend_batch_size, interval=self.access.batch_interval
        )
        self._quote: Quoter | None = None

    def bind(self, quote: Quoter) -> None:
        self._quote = quote

    async def start(self) -> None:
        await self.store.open()
        await self.registry.load()
        await self.ledger.start(self.registry)
        self.writer.start()

    async def aclose(self) -> None:
        try:
            await self.writer.aclose()
            await self.ledger.aclose()
        finally:
            await self.store.close()

    # ------------------------------------------------------------------ authentication

    def authenticate(self, token: str | None) -> KeySpec | None:
        """The caller's key; None for the master key or when no key is required."""
        if not self.access.keys_required:
            return None
        if not token:
            raise KeyMissingError(
                "this gateway requires a virtual key: send 'authorization: Bearer <key>'"
            )
        if self.registry.is_master(token):
            return None
        key = self.registry.lookup(token)
        if key is None:
            raise UnauthenticatedError("the key is not valid (unknown or revoked)")
        return key

    def require_master(self, token: str | None) -> None:
        """Raise unless `token` is the master key (or no key at all is required)."""
        if self.authenticate(token) is not None:
            raise MasterKeyRequiredError("only the master key may do this")
        if self.access.master_key is None and self.access.keys_required:
            raise MasterKeyRequiredError("set general_settings.master_key to manage keys")

    # ------------------------------------------------------------------ request points

    async def on_request(self, state: RequestState) -> None:
        call = _Call(started_at=time.time())
        state.extensions[self.name] = call
        if state.door == "sdk" or not self.access.keys_required:
            return
        key = self.authenticate(state.credentials)
        if key is None:
            state.caller = MASTER
            return
        call.key = key
        state.caller = Caller(key_id=key.key_id, alias=key.alias, tags=key.tags)
        state.request_credentials = (
            RequestCredentials.ACCEPT
            if key.allow_request_credentials
            else RequestCredentials.REFUSE
        )
        model = state.request.model or self.default_model or ""
        if key.models and model not in key.models:
            raise ModelNotAllowedError(
                f"key {key.alias!r} may not call model {model[:128]!r}",
                metadata={"key_alias": key.alias, "model": model[:128]},
            )
        # A place among the key's calls (and streams) in flight, given back in `finished`
        # whatever happens next (the gateway calls it even when a hook refuses the call).
        call.lease = await self.ledger.enter(key, state.streaming, state.decisions)
        images = state.request.n or 1
        amount: Decimal | None = None
        if key.max_budget is not None:
            assert self._quote is not None, "the hook was not bound to its gateway"
            quote = self._quote(state.request)
            images = quote.n
            if quote.cost is None and not self.access.allow_unpriced_models:
                raise CostUnknownError(
                    f"model {model[:128]!r} cannot be priced before the call, and key "
                    f"{key.alias!r} has a budget (general_settings.allow_unpriced_models)",
                    metadata={"model": model[:128], "basis": quote.basis},
                )
            amount = quote.cost or Decimal(0)
        # The budget hold and the rate windows: both taken, or neither.
        call.hold = await self.ledger.take(key, amount, images, time.time(), state.decisions)

    async def after_call(self, state: RequestState, result: ProviderResult) -> ProviderResult:
        call = state.extensions.get(self.name)
        if isinstance(call, _Call):
            call.images = len(result.images)
            if result.usage is not None:
                call.input_tokens = result.usage.input_tokens
                call.output_tokens = result.usage.output_tokens
        return result

    async def finished(self, state: RequestState, error: ImageGenError | None) -> None:
        call = state.extensions.get(self.name)
        if not isinstance(call, _Call):
            call = _Call(started_at=time.time())
        if call.lease is not None:
            lease, call.lease = call.lease, None
            # Shielded: a caller's cancellation must not leave the lease to expire.
            await asyncio.shield(self.ledger.leave(lease))
        cost = state.facts.response_cost
        held = call.hold.amount if call.hold is not None else Decimal(0)
        # Unknown: the provider may have billed; the budget keeps the quote it held.
        charged = cost if cost is not None else held
        self.writer.put(self._row(state, call, error, charged))
        if call.hold is not None:
            # After the put: a shared store waits for this row to be committed (flush).
            await self.ledger.settle(call.hold, charged, self.writer.flush)

    def _row(
        self, state: RequestState, call: _Call, error: ImageGenError | None, charged: Decimal
    ) -> SpendRow:
        request, facts = state.request, state.facts
        key_tags = call.key.tags if call.key is not None else ()
        caller = state.caller
        return SpendRow(
            time=call.started_at,
            request_id=state.request_id,
            key_id=caller.key_id if caller else "",
            key_alias=caller.alias if caller else "",
            user=request.user or "",
            # A cache hit is marked by a tag, so that spend queries by tag count the hits.
            tags=tuple(dict.fromkeys((*request.tags, *key_tags, *cache_tags(facts)))),
            model_group=request.model or self.default_model or "",
            deployment=facts.model_id,
            provider=facts.provider,
            door=state.door,
            n=request.n or 1,
            images=call.images if error is None else 0,
            size=request.size or "",
            quality=request.quality or "",
            status="OK" if error is None else error.reason,
            cost=facts.response_cost,
            charged=charged,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            latency_ms=(time.monotonic() - state.started) * 1000,
            attempts=max(facts.attempts, len(facts.attempt_log)),
            prompt=request.prompt if self.access.log_prompts else None,
            **_edit_columns(request),
        )


def _edit_columns(request: ImageRequest) -> dict[str, Any]:
    """What a spend row says of an edit: its operation, how many inputs, their total size.
    Sizes only: never the images, and not even their digests."""
    edit = request.edit
    if edit is None:
        return {"operation": GENERATE}
    return {
        "operation": edit.operation.value,
        "input_images": len(edit.inputs.images),
        "input_bytes": edit.inputs.total_bytes,
    }


def access_of(hooks: Iterable[RequestHook]) -> AccessHook | None:
    """The access hook among a gateway's hooks, when keys or a spend log are configured."""
    return next((h for h in hooks if isinstance(h, AccessHook)), None)


CACHE_HIT_TAG = "imagegen:cache-hit"


def cache_tags(facts: CallFacts) -> tuple[str, ...]:
    """The spend row's mark of a request answered from the cache."""
    return (CACHE_HIT_TAG,) if facts.cache == "hit" else ()
