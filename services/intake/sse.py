"""Server-Sent Events: a queue per client, heartbeats, ids for ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

HEARTBEAT_S = 15.0
QUEUE_LIMIT = 1000


def format_event(event: str, data: Any, event_id: int | str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    lines.extend(f"data: {line}" for line in payload.splitlines() or [""])
    return ("\n".join(lines) + "\n\n").encode()


class Outbox:
    """Frames for one client; a client too slow to drain is cut off (it reconnects and re-syncs)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_LIMIT)

    def send(self, event: str, data: Any, event_id: int | str | None = None) -> None:
        try:
            self.queue.put_nowait(format_event(event, data, event_id))
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()


def sse_response(request: Request, outbox: Outbox, on_close: Callable[[], None]) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 1000\n\n"
            while True:
                try:
                    frame = await asyncio.wait_for(outbox.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": heartbeat\n\n"
                    continue
                if frame is None:
                    return
                yield frame
        finally:
            on_close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
