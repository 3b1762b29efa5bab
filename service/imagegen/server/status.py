"""ImageGenError → google.rpc.Status with rich details (AIP-193)."""

from __future__ import annotations

import math

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from imagegen.errors import ERROR_DOMAIN, ImageGenError, ProviderQuotaExceededError, QuotaError

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def grpc_code(error: ImageGenError) -> grpc.StatusCode:
    """The grpc.StatusCode for the error's google.rpc.Code value."""
    for code in grpc.StatusCode:
        if code.value[0] == int(error.code):
            return code
    return grpc.StatusCode.INTERNAL


def to_rpc_status(error: ImageGenError) -> status_pb2.Status:
    """The full status: ErrorInfo always, BadRequest / PreconditionFailure / RetryInfo /
    QuotaFailure when they apply."""
    status = status_pb2.Status(code=int(error.code), message=error.message)
    metadata = {key: value[:256] for key, value in error.metadata.items()}
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)
    )
    if error.field_violations:
        status.details.add().Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.field_violations
                ]
            )
        )
    if error.preconditions:
        status.details.add().Pack(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=v.type, subject=v.subject[:256], description=v.description[:1000]
                    )
                    for v in error.preconditions
                ]
            )
        )
    if error.retry_after is not None:
        seconds = max(0.0, error.retry_after)
        whole = math.floor(seconds)
        status.details.add().Pack(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
            )
        )
    if isinstance(error, ProviderQuotaExceededError):
        status.details.add().Pack(
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=f"provider:{error.provider}", description=error.message
                    )
                ]
            )
        )
    if isinstance(error, QuotaError):
        status.details.add().Pack(
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=subject, description=error.message
                    )
                    for subject in (error.subject, *error.other_subjects)
                ]
            )
        )
    return status
