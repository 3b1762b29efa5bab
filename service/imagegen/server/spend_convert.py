"""Proto ↔ domain for EstimateCost, QuerySpend and KeyAdmin."""

from __future__ import annotations

from decimal import Decimal

from google.protobuf import json_format

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import key_admin_pb2 as kpb
from imagegen.errors import invalid_field
from imagegen.images.operations import EditShape
from imagegen.keys.model import BudgetPeriod, KeySpec
from imagegen.pricing.quote import Quote
from imagegen.server.convert import _integral
from imagegen.server.edits import OPERATIONS
from imagegen.spend.rows import GroupBy, SpendGroup
from imagegen.types import ImageRequest

_GROUP_BY: dict[pb.SpendGroupBy.ValueType, GroupBy] = {
    pb.SPEND_GROUP_BY_KEY: "key",
    pb.SPEND_GROUP_BY_MODEL: "model",
    pb.SPEND_GROUP_BY_USER: "user",
    pb.SPEND_GROUP_BY_TAG: "tag",
    pb.SPEND_GROUP_BY_OPERATION: "operation",
}
_PERIODS: dict[kpb.BudgetPeriod.ValueType, BudgetPeriod | None] = {
    kpb.BUDGET_PERIOD_UNSPECIFIED: None,
    kpb.BUDGET_PERIOD_DAILY: "daily",
    kpb.BUDGET_PERIOD_MONTHLY: "monthly",
}
_PERIOD_ENUM = {value: key for key, value in _PERIODS.items()}


def estimate_edit(message: pb.EstimateCostRequest) -> EditShape | None:
    """The edit to price (None: a generation): its operation and how many inputs it takes."""
    if not message.HasField("operation"):
        if message.HasField("input_images"):
            raise invalid_field("input_images", "input_images prices an edit: set operation too")
        return None
    operation = OPERATIONS.get(message.operation)
    if operation is None:
        raise invalid_field("operation", f"unknown operation {message.operation}")
    images = message.input_images if message.HasField("input_images") else 1
    if images < 1:
        raise invalid_field("input_images", "an edit takes at least one input image")
    return EditShape(operation, images)


def estimate_request(message: pb.EstimateCostRequest) -> ImageRequest:
    """A request to price: the prompt plays no part in the price, so a stand-in is used."""
    fields: dict[str, object] = {
        "prompt": "-",
        "model": message.model or None,
        "n": message.n if message.HasField("n") else None,
        "quality": message.quality or None,
        "size": message.size or None,
        "style": message.style or None,
    }
    if message.HasField("provider_params"):
        fields["provider_params"] = _integral(json_format.MessageToDict(message.provider_params))
    return ImageRequest.create(**fields)


def _money(amount: Decimal | None) -> str:
    return "unknown" if amount is None else str(amount)


def quote_to_proto(quote: Quote) -> pb.EstimateCostResponse:
    return pb.EstimateCostResponse(
        cost=_money(quote.cost),
        currency="USD",
        basis=quote.basis,
        per_image_cost=_money(quote.per_image),
        model_id=quote.model_id,
        provider=quote.provider,
        n=quote.n,
        operation=quote.operation or "",
    )


def group_by_from(value: pb.SpendGroupBy.ValueType) -> GroupBy:
    group_by = _GROUP_BY.get(value)
    if group_by is None:
        raise invalid_field("group_by", "group_by must be KEY, MODEL, USER, TAG or OPERATION")
    return group_by


def groups_to_proto(groups: list[SpendGroup]) -> pb.QuerySpendResponse:
    return pb.QuerySpendResponse(
        groups=[
            pb.SpendGroup(
                group=g.group,
                requests=g.requests,
                errors=g.errors,
                images=g.images,
                cost=str(g.cost),
                unknown_cost_count=g.unknown_cost_count,
                input_images=g.input_images,
                input_bytes=g.input_bytes,
            )
            for g in groups
        ]
    )


def key_template(message: kpb.CreateKeyRequest) -> KeySpec:
    """The key CreateKey asks for (its hash is set when the secret is made)."""
    alias = message.alias.strip()
    if not alias or len(alias) > 128:
        raise invalid_field("alias", "alias is required (at most 128 characters)")
    if message.rpm < 0 or message.ipm < 0:
        raise invalid_field("rpm" if message.rpm < 0 else "ipm", "limits must not be negative")
    for name in ("max_parallel_requests", "max_parallel_streams"):
        if getattr(message, name) < 0:
            raise invalid_field(name, "limits must not be negative")
    budget: Decimal | None = None
    if message.max_budget:
        try:
            budget = Decimal(message.max_budget)
        except ArithmeticError:
            budget = None
        if budget is None or not budget.is_finite() or budget < 0:
            raise invalid_field("max_budget", "max_budget must be a non-negative decimal")
    period = _PERIODS.get(message.budget_period)
    if period is not None and budget is None:
        raise invalid_field("budget_period", "a budget period needs a max_budget")
    return KeySpec(
        key_hash="",
        alias=alias,
        models=tuple(message.models),
        rpm=message.rpm or None,
        ipm=message.ipm or None,
        max_parallel_requests=message.max_parallel_requests or None,
        max_parallel_streams=message.max_parallel_streams or None,
        max_budget=budget,
        budget_period=period,
        tags=tuple(message.tags),
        allow_request_credentials=message.allow_request_credentials,
    )


def key_to_proto(key: KeySpec, period_spend: Decimal) -> kpb.KeyInfo:
    return kpb.KeyInfo(
        key_id=key.key_id,
        alias=key.alias,
        models=list(key.models),
        rpm=key.rpm or 0,
        ipm=key.ipm or 0,
        max_budget="" if key.max_budget is None else str(key.max_budget),
        budget_period=_PERIOD_ENUM[key.budget_period],
        tags=list(key.tags),
        allow_request_credentials=key.allow_request_credentials,
        revoked=key.revoked,
        source=key.source,
        period_spend=str(period_spend),
        max_parallel_requests=key.max_parallel_requests or 0,
        max_parallel_streams=key.max_parallel_streams or 0,
    )
