"""Images answered as URLs: the bytes go to the result store, the caller gets its URL."""

from __future__ import annotations

from imagegen.storage.base import ResultStore
from imagegen.types import GeneratedImage

# Counts what was stored, for the metrics: (images, bytes).
StoredCounter = list[int]


class UrlDelivery:
    """Turns the images of one request into stored URLs, each image once."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        # A streamed image reaches the caller as an event and again in the final result:
        # it is stored once, and both carry the same URL.
        self._done: dict[int, GeneratedImage] = {}
        self.images = 0
        self.bytes = 0

    async def image(self, image: GeneratedImage) -> GeneratedImage:
        """`image` as a URL-only image (an image that already is a URL is left as it is)."""
        if not image.has_content:
            return image
        done = self._done.get(id(image))
        if done is not None:
            return done
        data = image.data()
        stored = await self.store.put(data, image.mime_type)
        self.images += 1
        self.bytes += stored.size
        delivered = GeneratedImage(
            url=stored.url,
            mime_type=image.mime_type,
            width=image.width,
            height=image.height,
            revised_prompt=image.revised_prompt,
        )
        self._done[id(image)] = delivered
        return delivered

    async def images_of(self, images: list[GeneratedImage]) -> list[GeneratedImage]:
        return [await self.image(image) for image in images]
