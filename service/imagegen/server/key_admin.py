"""The KeyAdmin gRPC service: create, list and revoke virtual keys (master key only)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import grpc

from imagegen._gen.v1 import key_admin_pb2 as kpb
from imagegen._gen.v1 import key_admin_pb2_grpc as kpb_grpc
from imagegen.errors import FailedPreconditionError, ImageGenError, InternalError
from imagegen.keys.model import KeySpec
from imagegen.metadata import bearer_token
from imagegen.server.spend_convert import key_template, key_to_proto
from imagegen.server.status import STATUS_DETAILS_KEY, grpc_code, to_rpc_status
from imagegen.spend.hook import AccessHook

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]


def caller_token(context: Context) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == "authorization" and isinstance(value, str):
            return bearer_token(value)
    return None


async def abort_with(context: Context, exc: Exception) -> None:
    """Abort the call with `exc`'s google.rpc.Status (INTERNAL for anything unexpected)."""
    if isinstance(exc, ImageGenError):
        error = exc
    else:
        log.exception("unexpected error in an admin call")
        error = InternalError("internal error")
    status = to_rpc_status(error)
    await context.abort(
        grpc_code(error),
        status.message,
        trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
    )


class KeyAdminServicer(kpb_grpc.KeyAdminServicer):
    """Serves imagegen.v1.KeyAdmin from the gateway's access hook."""

    def __init__(self, access: AccessHook | None) -> None:
        self.access = access

    def _admin(self, context: Context) -> AccessHook:
        if self.access is None or self.access.access.master_key is None:
            raise FailedPreconditionError(
                "key management needs general_settings.master_key in the config"
            )
        self.access.require_master(caller_token(context))
        return self.access

    async def CreateKey(
        self, request: kpb.CreateKeyRequest, context: Context
    ) -> kpb.CreateKeyResponse:
        try:
            access = self._admin(context)
            secret, key = await access.registry.create(key_template(request))
            log.info("created key alias=%s key_id=%s", key.alias, key.key_id)
            return kpb.CreateKeyResponse(
                key=secret, info=key_to_proto(key, await _spent(access, key))
            )
        except Exception as exc:
            await abort_with(context, exc)
            raise

    async def ListKeys(
        self, request: kpb.ListKeysRequest, context: Context
    ) -> kpb.ListKeysResponse:
        try:
            access = self._admin(context)
            keys = access.registry.keys()
            return kpb.ListKeysResponse(
                keys=[key_to_proto(key, await _spent(access, key)) for key in keys]
            )
        except Exception as exc:
            await abort_with(context, exc)
            raise

    async def RevokeKey(
        self, request: kpb.RevokeKeyRequest, context: Context
    ) -> kpb.RevokeKeyResponse:
        try:
            access = self._admin(context)
            key = await access.registry.revoke(request.alias)
            log.info("revoked key alias=%s key_id=%s", key.alias, key.key_id)
            return kpb.RevokeKeyResponse(info=key_to_proto(key, await _spent(access, key)))
        except Exception as exc:
            await abort_with(context, exc)
            raise


async def _spent(access: AccessHook, key: KeySpec) -> Decimal:
    return await access.ledger.spent(key)


def add_key_admin(servicer: KeyAdminServicer, server: grpc.aio.Server) -> None:
    kpb_grpc.add_KeyAdminServicer_to_server(servicer, server)
