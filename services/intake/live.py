"""Open calls as they change: folded live from the CALLS stream and fanned out to listeners.

The intake's board and its Server-Sent Event streams read from here. It is a projection
of the stream (an ordered consumer from sequence 1), not of anything the write path holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from events import codec, subjects
from events.models import CallEvent
from services.common.aggregate import CallState, evolve
from services.common.event_store import StoredEvent

Listener = Callable[[StoredEvent, CallState], None]
log = structlog.get_logger("live")


class LiveCalls:
    def __init__(self) -> None:
        self.open: dict[str, CallState] = {}
        self.last_seq = 0
        self._listeners: set[Listener] = set()
        self._sub: object | None = None
        self._caught_up = asyncio.Event()
        self._target = 0

    def apply(self, item: StoredEvent) -> CallState:
        """Fold one event; closed calls leave the open set after listeners saw them close."""
        event = item.event
        state = evolve(self.open.get(event.call_id) or CallState(event.call_id), event)
        if state.is_open:
            self.open[event.call_id] = state
        else:
            self.open.pop(event.call_id, None)
        self.last_seq = item.seq
        for listener in list(self._listeners):
            listener(item, state)
        if self.last_seq >= self._target:
            self._caught_up.set()
        return state

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    async def follow(self, nc: Client) -> None:
        """Catch up from sequence 1, then keep following; returns once caught up."""
        js = nc.jetstream()
        info = await js.stream_info(subjects.CALLS_STREAM)
        self._target = int(info.state.last_seq)
        if self._target == 0:
            self._caught_up.set()

        async def on_message(msg: Msg) -> None:
            try:
                event = codec.decode(msg.data)
            except codec.DecodeError as exc:
                log.warning("skipped_undecodable_event", subject=msg.subject, reason=exc.reason)
                return
            if isinstance(event, CallEvent):
                self.apply(StoredEvent(msg.metadata.sequence.stream, event))

        self._sub = await js.subscribe(
            subjects.CALLS_SUBJECTS,
            cb=on_message,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            pending_msgs_limit=200_000,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._caught_up.wait(), timeout=60)

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()  # type: ignore[attr-defined]
