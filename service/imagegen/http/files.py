"""GET /v1/files/{key}: the local result store's images, under signed, expiring URLs.

A URL whose signature does not match, whose expiry has passed or that names no stored
image is answered 403, the same for each case: a caller learns nothing about which.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from imagegen.gateway import Gateway
from imagegen.storage.local import FILES_PATH, MIME_TYPES, LocalStore
from imagegen.telemetry.hook import telemetry_hook

_FORBIDDEN = {
    "error": {
        "message": "this image URL is invalid or has expired",
        "type": "permission_error",
        "param": None,
        "code": "URL_INVALID_OR_EXPIRED",
    }
}


def add_file_routes(app: web.Application, gateway: Gateway) -> None:
    """Serve the gateway's local store, when it has one."""
    hook = telemetry_hook(gateway.hooks)
    served_bytes = hook.telemetry.metrics.store_bytes_served if hook is not None else None

    async def serve_file(request: web.Request) -> web.StreamResponse:
        store = gateway.results
        if not isinstance(store, LocalStore):
            raise web.HTTPNotFound()
        key = request.match_info["key"]
        path = store.open(key, request.query.get("expires", ""), request.query.get("sig", ""))
        if path is None:
            return web.json_response(_FORBIDDEN, status=403)
        # Read whole, in a thread, rather than with FileResponse: its file handle is closed in
        # a background job that can outlive the response (an unclosed file when the server
        # stops). A stored image is one answer's image, already bounded by the provider.
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:  # swept since it was looked up: as expired
            return web.json_response(_FORBIDDEN, status=403)
        if served_bytes is not None:
            served_bytes.add(len(body))
        return web.Response(
            body=body,
            headers={
                "Content-Type": MIME_TYPES[key.rsplit(".", 1)[1]],
                # The URL carries its own expiry; the bytes behind a name never change.
                "Cache-Control": "private, max-age=3600, immutable",
                "X-Content-Type-Options": "nosniff",
                # An SVG is a document that may carry script: opened from the gateway's own
                # origin it must not run (nor load anything).
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            },
        )

    app.router.add_get(f"{FILES_PATH}/{{key}}", serve_file)
