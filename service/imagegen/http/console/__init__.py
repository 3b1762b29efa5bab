"""The web console at /ui: a playground, spend charts, key management and live health.

Static assets shipped in this package (no build step, no CDN), and a small JSON API under
/ui/api that reads what the gateway already keeps (models, the spend log, the key store,
the router's cooldowns). The console authenticates with the API's own keys; every
response under /ui carries a strict Content-Security-Policy. See docs/console.md.
"""

from __future__ import annotations

from aiohttp import web

from imagegen.gateway import Gateway
from imagegen.http.console.api import ConsoleApi
from imagegen.http.console.assets import ConsoleAssets


def add_console_routes(app: web.Application, gateway: Gateway) -> None:
    """Serve the console on `app` at /ui, its assets at /ui/static, its API at /ui/api."""
    assets = ConsoleAssets.load()
    # The door's root answered 404 before: a person opening it in a browser wants the console.
    app.router.add_get("/", _to_console)
    app.router.add_get("/ui", assets.index)
    app.router.add_get("/ui/", assets.index)
    app.router.add_get("/ui/static/{path:.+}", assets.static)
    ConsoleApi(gateway).add_routes(app)


async def _to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui")
