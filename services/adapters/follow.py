"""Follow a stream from sequence 1 and keep following: the way read models stay live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from events import codec
from events.models import Fact
from services.adapters.jetstream_store import read_messages, stream_seq

log = structlog.get_logger("follow")


class StreamFollower:
    """An ordered consumer feeding ``on_fact(fact, seq)``; ``start`` returns once caught up.

    Following a whole stream, sequences come one after another: a jump (an ordered consumer
    recreated after a server restart past a message) is a gap, read again from the stream
    before the message that revealed it, so a memory built on this never silently lacks an
    event (a page whose ack timer would never run)."""

    def __init__(self, stream: str, subject: str, on_fact: Callable[[Fact, int], None]) -> None:
        self.stream = stream
        self.subject = subject
        self.on_fact = on_fact
        self.last_seq = 0
        self.gaps_filled = 0
        self._contiguous = False
        self._nc: Client | None = None
        self._target = 0
        self._caught_up = asyncio.Event()
        self._sub: object | None = None

    async def start(self, nc: Client, timeout: float = 60.0, from_seq: int = 1) -> None:
        """Follow from ``from_seq`` (a checkpoint's next sequence; 1 = the whole history)."""
        js = nc.jetstream()
        info = await js.stream_info(self.stream)
        self._nc = nc
        self._contiguous = self.subject == ">" or list(info.config.subjects or []) == [self.subject]
        self._target = int(info.state.last_seq)
        self.last_seq = max(self.last_seq, from_seq - 1)
        if self._target < from_seq:
            self._caught_up.set()

        async def on_message(msg: Msg) -> None:
            await self.receive(msg.subject, msg.data, stream_seq(msg))

        self._sub = await js.subscribe(
            self.subject,
            stream=self.stream,
            cb=on_message,
            ordered_consumer=True,
            idle_heartbeat=1.0,  # a lost consumer (server restart) is recreated within ~2 s
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(from_seq, 1)
            ),
            pending_msgs_limit=200_000,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._caught_up.wait(), timeout)

    async def receive(self, subject: str, data: bytes, seq: int) -> None:
        if self._contiguous and self.last_seq and seq > self.last_seq + 1:
            log.error("follower_gap", stream=self.stream, after=self.last_seq, got=seq)
            async for missing in self.read_range(self.last_seq + 1, seq - 1):
                self._apply(missing.subject, missing.data, stream_seq(missing))
            self.gaps_filled += 1
        self._apply(subject, data, seq)

    def read_range(self, first: int, last: int) -> AsyncIterator[Msg]:
        assert self._nc is not None
        return read_messages(self._nc, self.stream, self.subject, first, last)

    def _apply(self, subject: str, data: bytes, seq: int) -> None:
        try:
            fact = codec.decode_message(subject, data)
        except codec.DecodeError as exc:
            log.warning("skipped_undecodable_event", subject=subject, reason=exc.reason)
        else:
            self.on_fact(fact, seq)
        self.last_seq = max(self.last_seq, seq)
        if seq >= self._target:
            self._caught_up.set()

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()  # type: ignore[attr-defined]
