"""Protection at the edge: request size limit and a rate limit on raising calls.

The rate limit can never refuse the first call of a resident it has not seen: a flood of
calls from one address must not stop a neighbour behind the same address from calling.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
LARGE_BODY_PATHS = ("/api/roster",)
MAX_LARGE_BODY_BYTES = 2_000_000


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_LARGE_BODY_BYTES if scope["path"].startswith(LARGE_BODY_PATHS) else self.limit
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit)
                return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class _Bucket:
    tokens: float
    updated: float


class CallRateLimiter:
    """Token buckets per client address and per caller phone; first calls always pass."""

    def __init__(
        self,
        per_minute: float = 20,
        burst: float = 10,
        per_phone_per_minute: float = 6,
        memory: int = 100_000,
    ) -> None:
        self.rate = per_minute / 60
        self.burst = burst
        self.phone_rate = per_phone_per_minute / 60
        self.phone_burst = max(per_phone_per_minute / 2, 2)
        self.memory = memory
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._phones_seen: OrderedDict[str, None] = OrderedDict()

    def allow(self, client: str, phone: str, now: float) -> float:
        """0 if the call may go ahead, else the seconds to wait (for Retry-After)."""
        first_call = phone not in self._phones_seen
        self._remember(self._phones_seen, phone, None)
        address_wait = self._take(f"ip:{client}", self.rate, self.burst, now)
        phone_wait = self._take(f"phone:{phone}", self.phone_rate, self.phone_burst, now)
        if first_call:
            return 0.0
        return max(address_wait, phone_wait)

    def _take(self, key: str, rate: float, burst: float, now: float) -> float:
        bucket = self._buckets.get(key) or _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        self._remember(self._buckets, key, bucket)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.memory:
            table.popitem(last=False)
