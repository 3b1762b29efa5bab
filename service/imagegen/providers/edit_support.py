"""Which edit operations a model serves and what inputs it takes, as part of its ModelSpec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from imagegen.errors import FailedPreconditionError, FieldViolation, UnsupportedParameterError
from imagegen.images.limits import InputLimits
from imagegen.images.operations import EditOperation, EditShape
from imagegen.images.payload import EditPayload
from imagegen.providers.base import ModelSpec, ParamSpec


@dataclass(frozen=True, slots=True)
class EditCapability:
    """A model's edit support."""

    operations: frozenset[EditOperation]
    limits: InputLimits
    #: The provider_params an edit takes, when they differ from a generation's (None: same).
    provider_params: Mapping[str, ParamSpec] | None = None
    #: Whether the model takes a mask (instruction-only editors do not).
    takes_mask: bool = True
    #: The standard parameters an edit takes, when they differ from a generation's (None:
    #: same). An endpoint that answers at its input's size takes no `size`, for example.
    params: frozenset[str] | None = None


def capability_of(spec: ModelSpec) -> EditCapability | None:
    edit = spec.edit
    return edit if isinstance(edit, EditCapability) else None


def require_operation(spec: ModelSpec, operation: EditOperation, model: str) -> EditCapability:
    """The model's capability, or INVALID_ARGUMENT naming `operation` (or `model`)."""
    capability = capability_of(spec)
    if capability is None:
        description = f"model {model!r} does not edit images"
        raise UnsupportedParameterError(
            description,
            field_violations=[FieldViolation("model", description)],
            metadata={"field": "model", "model": model},
        )
    if operation not in capability.operations:
        served = ", ".join(sorted(op.value for op in capability.operations))
        description = f"model {model!r} does not serve {operation.value} (it serves: {served})"
        raise UnsupportedParameterError(
            description,
            field_violations=[FieldViolation("operation", description)],
            metadata={"field": "operation", "model": model},
        )
    return capability


def spec_for_edit(spec: ModelSpec, payload: EditPayload | EditShape, model: str) -> ModelSpec:
    """The spec an edit call is checked against; FAILED_PRECONDITION when this deployment's
    model cannot take the edit (a fallback to a model without the operation or room for the
    inputs), so the refusal says why instead of calling the provider."""
    shape = payload.shape if isinstance(payload, EditPayload) else payload
    capability = capability_of(spec)
    if capability is None or shape.operation not in capability.operations:
        raise FailedPreconditionError(
            f"model {model!r} does not serve the {shape.operation.value} operation",
            metadata={"model": model, "operation": shape.operation.value},
        )
    if shape.images > capability.limits.max_images:
        raise FailedPreconditionError(
            f"model {model!r} takes at most {capability.limits.max_images} input images",
            metadata={"model": model, "operation": shape.operation.value},
        )
    if (
        isinstance(payload, EditPayload)
        and payload.inputs.mask is not None
        and not capability.takes_mask
    ):
        raise FailedPreconditionError(
            f"model {model!r} takes no mask",
            metadata={"model": model, "operation": shape.operation.value},
        )
    if capability.provider_params is not None:
        spec = replace(spec, provider_params=capability.provider_params)
    if capability.params is not None:
        spec = replace(spec, params=capability.params)
    return spec
