"""Images answered as URLs: the bytes go to the result store, the caller gets its URL.

With re-hosting on, an image a provider answered as a link to its own storage is fetched and
stored too (see `rehost.py`); when that fails the caller gets the provider's link, which still
works for a while, rather than no image at all.
"""

from __future__ import annotations

import logging

from imagegen.storage.base import ResultStore
from imagegen.storage.rehost import Rehoster, RehostError
from imagegen.types import GeneratedImage

log = logging.getLogger(__name__)


class UrlDelivery:
    """Turns the images of one request into stored URLs, each image once."""

    def __init__(
        self, store: ResultStore, *, store_bytes: bool = True, rehost: Rehoster | None = None
    ) -> None:
        self.store = store
        self.store_bytes = store_bytes
        self.rehost = rehost
        # A streamed image reaches the caller as an event and again in the final result:
        # it is stored once, and both carry the same URL.
        self._done: dict[int, GeneratedImage] = {}
        self.images = 0
        self.bytes = 0

    async def image(self, image: GeneratedImage) -> GeneratedImage:
        """`image` as a URL-only image in the store (or as it is, when there is nothing to do)."""
        done = self._done.get(id(image))
        if done is not None:
            return done
        if image.has_content:
            if not self.store_bytes:
                return image
            data, mime_type = image.data(), image.mime_type
        elif self.rehost is not None and image.url and self.rehost.allowed(image.url):
            try:
                data, fetched_type = await self.rehost.fetch(image.url)
            except RehostError as exc:
                # The URL itself is not logged: it carries the provider's access token.
                log.warning("a provider image URL was not re-hosted: %s", exc)
                return image
            mime_type = image.mime_type or fetched_type
        else:
            return image
        stored = await self.store.put(data, mime_type)
        self.images += 1
        self.bytes += stored.size
        delivered = GeneratedImage(
            url=stored.url,
            mime_type=mime_type,
            width=image.width,
            height=image.height,
            revised_prompt=image.revised_prompt,
        )
        self._done[id(image)] = delivered
        return delivered

    async def images_of(self, images: list[GeneratedImage]) -> list[GeneratedImage]:
        return [await self.image(image) for image in images]
