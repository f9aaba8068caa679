"""Protection at the edge: request size limit and a rate limit on raising calls.

The rate limit can never refuse the first call of a resident it has not seen: a flood of
calls from one address must not stop a neighbour behind the same address from calling. Nor
does it ever refuse a retry: of a call already stored (it gets that call back, before any
limit is consulted), or of one not stored yet (the store was away when it was first tried).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")

MAX_BODY_BYTES = 64 * 1024
LARGE_BODY_PATHS = ("/api/roster",)
MAX_LARGE_BODY_BYTES = 2_000_000


class BodyTooLarge(HTTPException):
    """Raised while a streamed (chunked) body is read: an HTTPException, so FastAPI's body
    parsing passes it on as the 413 it is rather than a 400 "error parsing the body"."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


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
                    raise BodyTooLarge(limit)
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


@dataclass(frozen=True)
class Admission:
    """The limiter's answer to one raise; hand it back to ``settle`` once the raise is done."""

    wait: float  # 0: go ahead; else the seconds to wait (Retry-After), nothing was taken
    phone: str
    key: str | None = None
    taken: tuple[str, ...] = ()  # the buckets a token was taken from, given back if not stored
    first: bool = False  # the phone's first call, in flight
    held: bool = False  # a new phone beyond its address's budget: stored, but held for the desk
    flood: str = ""  # which flood (address and start) it belongs to
    first_of_flood: bool = False  # the flood's first held call: the duty officer is told on it
    client: str = ""


class CallRateLimiter:
    """Token buckets per client address and per caller phone; first calls always pass.

    A raise is only counted once its call is stored: ``admit`` takes the tokens, and
    ``settle`` gives them back when nothing was stored (the store was away), and only then
    marks the phone as seen. The idempotency key of a raise that was admitted but not stored
    is remembered: its retries pass without a token, whatever the neighbours did meanwhile.
    (That lets one call per such key through, no more than a never-seen phone always may.)
    """

    def __init__(
        self,
        per_minute: float = 20,
        burst: float = 10,
        per_phone_per_minute: float = 6,
        memory: int = 100_000,
        new_phones_per_address: int = 5,
        new_phones_window_s: float = 600.0,
    ) -> None:
        self.rate = per_minute / 60
        self.burst = burst
        self.phone_rate = per_phone_per_minute / 60
        self.phone_burst = max(per_phone_per_minute / 2, 2)
        self.memory = memory
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._phones_seen: OrderedDict[str, None] = OrderedDict()
        self._first_in_flight: dict[str, int] = {}
        self._unstored_keys: OrderedDict[str, None] = OrderedDict()
        self.new_phones_per_address = new_phones_per_address
        self.new_phones_window_s = new_phones_window_s
        # address -> (at, phone), oldest first: the expired are pruned from the left
        self._new_phones: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()
        self._floods: dict[str, tuple[str, float]] = {}  # address -> (flood id, last held at)

    def admit(self, client: str, phone: str, now: float, key: str | None = None) -> Admission:
        """May this raise go ahead? ``key`` is the raise's (phone-scoped) idempotency key."""
        if key is not None and key in self._unstored_keys:
            return Admission(0.0, phone, key)  # a retry of a call not stored yet
        first = phone not in self._phones_seen and phone not in self._first_in_flight
        limits = (
            (f"ip:{client}", self.rate, self.burst),
            (f"phone:{phone}", self.phone_rate, self.phone_burst),
        )
        taken: list[str] = []
        wait = 0.0
        for bucket, rate, burst in limits:
            need = self._take(bucket, rate, burst, now)
            if need == 0:
                taken.append(bucket)
            wait = max(wait, need)
        if wait > 0 and not first:
            self._give_back(taken)  # a refused raise costs nothing
            return Admission(wait, phone, key)
        if key is not None:
            self._remember(self._unstored_keys, key, None)
        held, flood, first_of_flood = False, "", False
        if first:
            self._first_in_flight[phone] = self._first_in_flight.get(phone, 0) + 1
            held, flood, first_of_flood = self._count_new_phone(client, phone, now)
        return Admission(0.0, phone, key, tuple(taken), first, held, flood, first_of_flood, client)

    def _count_new_phone(self, client: str, phone: str, now: float) -> tuple[bool, str, bool]:
        """A new phone from ``client``: beyond the address's budget in the window, it is held.
        Consecutive held calls from one address (each within a window of the last) are one
        flood; the duty officer is told on its first."""
        recent = self._new_phones.get(client)
        if recent is None:
            recent = deque()
        while recent and now - recent[0][0] >= self.new_phones_window_s:
            recent.popleft()  # kept in time order, so the expired are a prefix: no scan per raise
        if recent and now < recent[-1][0]:
            bisect.insort(recent, (now, phone), key=lambda item: item[0])  # the clock went back
        else:
            recent.append((now, phone))
        self._remember(self._new_phones, client, recent)
        if len(recent) <= self.new_phones_per_address:
            return False, "", False
        current = self._floods.get(client)
        if current is not None and now - current[1] < self.new_phones_window_s:
            self._floods[client] = (current[0], now)
            return True, current[0], False
        flood = f"{client}@{int(now)}"
        self._floods[client] = (flood, now)
        return True, flood, True

    def settle(self, admission: Admission, stored: bool) -> None:
        """The admitted raise is done: its call was ``stored``, or nothing was."""
        if admission.wait > 0:
            return
        if admission.first:
            left = self._first_in_flight.pop(admission.phone, 1) - 1
            if left > 0:
                self._first_in_flight[admission.phone] = left
        if stored:
            self._remember(self._phones_seen, admission.phone, None)
            if admission.key is not None:
                self._unstored_keys.pop(admission.key, None)
        else:
            self._give_back(admission.taken)
            if admission.first:  # not stored: that phone is not new here yet
                recent = self._new_phones.get(admission.client, deque())
                for index in range(len(recent) - 1, -1, -1):
                    if recent[index][1] == admission.phone:
                        del recent[index]
                        break

    def unstored(self, key: str) -> None:
        """A raise with this key failed before it was admitted (the store was away to look it
        up): its retries are retries of a call not stored yet."""
        self._remember(self._unstored_keys, key, None)

    def _take(self, key: str, rate: float, burst: float, now: float) -> float:
        bucket = self._buckets.get(key) or _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + max(0.0, now - bucket.updated) * rate)
        bucket.updated = now
        self._remember(self._buckets, key, bucket)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate

    def _give_back(self, taken: Iterable[str]) -> None:
        for key in taken:
            bucket = self._buckets.get(key)
            if bucket is not None:
                burst = self.burst if key.startswith("ip:") else self.phone_burst
                bucket.tokens = min(burst, bucket.tokens + 1)

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.memory:
            table.popitem(last=False)


async def admit_raise(
    limiter: CallRateLimiter,
    client: str,
    phone: str,
    key: str | None,
    now: float,
    find_stored: Callable[[], Awaitable[T | None]],
) -> T | Admission:
    """The order of a raise: a retry (``key``) of a call already stored gets that call back
    before any limit is consulted; otherwise the limiter decides (see ``CallRateLimiter``).

    If looking the call up fails (the store is away), the raise fails, and its retries count
    as retries of a call not stored yet.
    """
    if key is not None:
        try:
            found = await find_stored()
        except Exception:
            limiter.unstored(key)
            raise
        if found is not None:
            return found
    return limiter.admit(client, phone, now, key)
