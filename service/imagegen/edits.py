"""Turning a request into an edit, the same way for every door (gRPC, SDK, later HTTP).

The request's model is resolved and asked whether it serves the operation; the inputs are
decoded and bounded by that model's limits. All of it happens before the gateway runs, so an
edit refused here never reaches a provider (and never costs anything).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from imagegen.errors import FieldViolation, InvalidRequestError, invalid_field
from imagegen.gateway import Gateway
from imagegen.images.operations import EditOperation, Outpaint
from imagegen.images.payload import EditPayload
from imagegen.images.validate import validate_edit_inputs
from imagegen.providers.base import ModelSpec
from imagegen.providers.edit_support import capability_of, require_operation
from imagegen.types import ImageRequest


def operation_named(name: str | None) -> EditOperation:
    """The operation called `name` ("inpaint", "remove_background"...); None means EDIT."""
    if not name:
        return EditOperation.EDIT
    try:
        return EditOperation(name.lower())
    except ValueError:
        known = ", ".join(op.value for op in EditOperation)
        raise invalid_field(
            "operation", f"unknown operation {name[:64]!r} (known: {known})"
        ) from None


def edit_prompt(operation: EditOperation, prompt: str | None) -> str:
    """The prompt to carry: the caller's, or for operations that need none, the operation's
    name (guardrails, logs and the placeholder model all read a prompt)."""
    if prompt:
        return prompt
    if operation.needs_prompt:
        raise invalid_field("prompt", f"the {operation.value} operation needs a prompt")
    return operation.value


def _serves(spec: ModelSpec, operation: EditOperation) -> bool:
    capability = capability_of(spec)
    return capability is not None and operation in capability.operations


def check_outpaint(outpaint: Outpaint | None) -> Outpaint:
    sides = outpaint or Outpaint()
    problems = sides.problems()
    if problems:
        raise InvalidRequestError(
            f"outpaint: {problems[0]}",
            field_violations=[FieldViolation("outpaint", p) for p in problems],
            metadata={"field": "outpaint"},
        )
    return sides


async def prepare_edit(
    gateway: Gateway,
    request: ImageRequest,
    *,
    operation: EditOperation,
    images: Sequence[bytes],
    mask: bytes | None,
    outpaint: Outpaint | None = None,
    prompt_written: bool,
) -> ImageRequest:
    """`request` as an edit, its inputs validated against the requested model's limits.

    Raises INVALID_ARGUMENT naming the field (`model`, `operation`, `outpaint`, `images[i]`,
    `mask`), or NOT_FOUND for a model the gateway does not serve.
    """
    model = request.model or gateway.settings.default_model
    if not model:
        raise invalid_field("model", "model is required (no default model is configured)")
    specs = [gateway.resolve(deployment).spec for deployment in gateway.resolve_group(model)]
    # A load-balanced group may mix models: the inputs are checked against the first one
    # serving the operation (the router never picks one that does not).
    spec = next((s for s in specs if _serves(s, operation)), specs[0])
    capability = require_operation(spec, operation, model)
    if mask and not capability.takes_mask:
        raise invalid_field("mask", f"model {model!r} edits by instruction only: it takes no mask")
    if operation is not EditOperation.OUTPAINT and outpaint is not None and not outpaint.is_empty:
        # Canvas sides with another operation would do nothing: say so rather than drop them.
        raise invalid_field(
            "outpaint", f"canvas sides apply to the outpaint operation, not {operation.value}"
        )
    sides = check_outpaint(outpaint) if operation is EditOperation.OUTPAINT else None
    # Decoding is CPU work: off the event loop.
    inputs = await asyncio.to_thread(
        validate_edit_inputs,
        list(images),
        mask or None,
        capability.limits,
        mask_required=operation.needs_mask,
    )
    payload = EditPayload(operation, inputs, sides, prompt_written=prompt_written)
    return request.model_copy(update={"edit": payload})
