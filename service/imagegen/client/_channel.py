"""Channel security and the gateway key, shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import grpc

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen.client._convert import operation_value

PemSource = bytes | str | Path


def _pem(source: PemSource | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def tls_credentials(
    credentials: grpc.ChannelCredentials | None,
    *,
    tls: bool,
    root_certificates: PemSource | None,
    certificate_chain: PemSource | None,
    private_key: PemSource | None,
) -> grpc.ChannelCredentials | None:
    """Explicit credentials, else TLS when any TLS option is given (PEM bytes or file paths).

    `root_certificates` is the CA that signed the gateway's certificate (None: the system's);
    `certificate_chain` and `private_key` are the client's own, for mTLS.
    """
    if credentials is not None:
        return credentials
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("give certificate_chain and private_key together (mTLS)")
    if not (tls or root_certificates or certificate_chain):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(root_certificates),
        private_key=_pem(private_key),
        certificate_chain=_pem(certificate_chain),
    )


def call_metadata(
    metadata: Sequence[tuple[str, str]], api_key: str | None
) -> tuple[tuple[str, str], ...]:
    """The metadata sent with every call: the gateway key as a bearer token, if given."""
    bearer = (("authorization", f"Bearer {api_key}"),) if api_key else ()
    return (*bearer, *metadata)


def estimate_request(
    model: str | None,
    n: int | None,
    size: str | None,
    quality: str | None,
    style: str | None,
    operation: str | None = None,
    input_images: int | None = None,
) -> pb.EstimateCostRequest:
    """The EstimateCostRequest; with `operation` ("edit", "inpaint"...) it prices an edit."""
    request = pb.EstimateCostRequest(
        model=model or "", size=size or "", quality=quality or "", style=style or ""
    )
    if n is not None:
        request.n = n
    if operation is not None:
        request.operation = operation_value(operation)
    if input_images is not None:
        request.input_images = input_images
    return request


def spend_request(group_by: str, since: float | None) -> pb.QuerySpendRequest:
    values = {
        "key": pb.SPEND_GROUP_BY_KEY,
        "model": pb.SPEND_GROUP_BY_MODEL,
        "user": pb.SPEND_GROUP_BY_USER,
        "tag": pb.SPEND_GROUP_BY_TAG,
        "operation": pb.SPEND_GROUP_BY_OPERATION,
    }
    if group_by not in values:
        raise ValueError("group_by must be key, model, user, tag or operation")
    request = pb.QuerySpendRequest(group_by=values[group_by])
    if since is not None:
        request.since.FromNanoseconds(int(since * 1e9))
    return request


def money(text: str) -> Decimal | None:
    """A cost string of the API as a Decimal (None for "unknown")."""
    return None if text == "unknown" else Decimal(text)
