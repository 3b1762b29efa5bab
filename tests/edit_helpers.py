"""What the edit tests read from a refusal and build into a request, in one place."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields a refusal's BadRequest details name, in order."""
    status = rpc_status.from_call(error)
    assert status is not None
    found: list[str] = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found += [v.field for v in bad.field_violations]
    return found


def params(**values: Any) -> struct_pb2.Struct:
    """provider_params as the request carries them."""
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct
