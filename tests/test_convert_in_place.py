"""Images are written into their response messages in place (no copy of the bytes); the
messages must say exactly what the copying construction said."""

from __future__ import annotations

from imagegen.server.convert import image_messages
from imagegen.types import GeneratedImage


def test_an_image_event_is_an_image_even_when_every_field_is_a_default() -> None:
    (message,) = image_messages(0, GeneratedImage(url=""), chunk_bytes=1024)
    assert message.WhichOneof("event") == "image"
    assert message.image.index == 0


def test_image_bytes_and_metadata_arrive_whole_and_chunked() -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes
    image = GeneratedImage(data=data, mime_type="image/png", width=8, height=4)
    (whole,) = image_messages(2, image, chunk_bytes=len(data))
    assert whole.WhichOneof("event") == "image"
    assert (whole.image.index, whole.image.data, whole.image.width) == (2, data, 8)
    chunks = image_messages(2, image, chunk_bytes=4096)
    assert [m.WhichOneof("event") for m in chunks] == ["image_chunk"] * 3
    assert b"".join(m.image_chunk.data for m in chunks) == data
    assert [m.image_chunk.last for m in chunks] == [False, False, True]
    assert chunks[0].image_chunk.total_bytes == len(data)
    assert chunks[0].image_chunk.mime_type == "image/png"
