"""Server-sent events (text/event-stream) parsing, as providers stream image previews."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event: its `event:` name (None when unnamed) and its joined `data:` lines."""

    event: str | None
    data: str


async def parse_sse(lines: AsyncIterable[str]) -> AsyncIterator[SseEvent]:
    """Events from the stream's lines (without line endings), per the SSE spec."""
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield SseEvent(event, "\n".join(data))
