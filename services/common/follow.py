"""Follow a stream from sequence 1 and keep following: the way read models stay live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from events import codec
from events.models import Fact
from services.common.jetstream_store import stream_seq

log = structlog.get_logger("follow")


class StreamFollower:
    """An ordered consumer feeding ``on_fact(fact, seq)``; ``start`` returns once caught up."""

    def __init__(self, stream: str, subject: str, on_fact: Callable[[Fact, int], None]) -> None:
        self.stream = stream
        self.subject = subject
        self.on_fact = on_fact
        self.last_seq = 0
        self._target = 0
        self._caught_up = asyncio.Event()
        self._sub: object | None = None

    async def start(self, nc: Client, timeout: float = 60.0, from_seq: int = 1) -> None:
        """Follow from ``from_seq`` (a checkpoint's next sequence; 1 = the whole history)."""
        js = nc.jetstream()
        info = await js.stream_info(self.stream)
        self._target = int(info.state.last_seq)
        self.last_seq = max(self.last_seq, from_seq - 1)
        if self._target < from_seq:
            self._caught_up.set()

        async def on_message(msg: Msg) -> None:
            seq = stream_seq(msg)
            try:
                fact = codec.decode_message(msg.subject, msg.data)
            except codec.DecodeError as exc:
                log.warning("skipped_undecodable_event", subject=msg.subject, reason=exc.reason)
            else:
                self.on_fact(fact, seq)
            self.last_seq = seq
            if seq >= self._target:
                self._caught_up.set()

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

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()  # type: ignore[attr-defined]
