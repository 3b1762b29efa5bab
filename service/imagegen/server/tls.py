"""TLS and mTLS for both doors, from server_settings.tls_* (PEM files).

With tls_client_ca_file the gRPC door requires a client certificate signed by that CA
(mTLS); the HTTP door then asks for one too and verifies it, so neither door is the
weaker one.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from imagegen.config import ServerSettings


def server_credentials(server: ServerSettings) -> grpc.ServerCredentials | None:
    """The gRPC server credentials; None when TLS is off."""
    if server.tls_cert_file is None or server.tls_key_file is None:
        return None
    key = Path(server.tls_key_file).read_bytes()
    chain = Path(server.tls_cert_file).read_bytes()
    client_ca = Path(server.tls_client_ca_file).read_bytes() if server.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def http_ssl_context(server: ServerSettings) -> ssl.SSLContext | None:
    """The HTTP door's TLS context; None when TLS is off."""
    if server.tls_cert_file is None or server.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.tls_cert_file, server.tls_key_file)
    if server.tls_client_ca_file:
        context.load_verify_locations(server.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
