"""The console's static files, read once from the package and served from memory."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

from imagegen.http.console.headers import SECURITY_HEADERS

_CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


def _walk(folder: Traversable, prefix: str) -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
            continue
        suffix = entry.name[entry.name.rfind(".") :]
        if suffix in _CONTENT_TYPES:
            found[name] = Asset(entry.read_bytes(), _CONTENT_TYPES[suffix])
    return found


class ConsoleAssets:
    """Serves index.html at /ui and the other files by their path under static/."""

    def __init__(self, files: dict[str, Asset]) -> None:
        self.files = files

    @classmethod
    def load(cls) -> ConsoleAssets:
        return cls(_walk(resources.files("imagegen.http.console").joinpath("static"), ""))

    async def index(self, request: web.Request) -> web.Response:
        return self._answer(self.files["index.html"])

    async def static(self, request: web.Request) -> web.Response:
        # Only names read at start are served: no file system path is built from a request.
        asset = self.files.get(request.match_info["path"])
        if asset is None:
            raise web.HTTPNotFound()
        return self._answer(asset)

    def _answer(self, asset: Asset) -> web.Response:
        response = web.Response(
            body=asset.body, content_type=asset.content_type, headers=SECURITY_HEADERS
        )
        if asset.content_type.startswith("text/"):
            response.charset = "utf-8"
        # gzip or deflate, as the browser's Accept-Encoding allows.
        response.enable_compression()
        return response
