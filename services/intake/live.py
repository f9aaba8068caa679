"""Open calls as they change: folded live from the CALLS stream and fanned out to listeners.

The intake's board and its Server-Sent Event streams read from here. It is a projection
of the stream (an ordered consumer from sequence 1), not of anything the write path holds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from nats.aio.client import Client

from events import subjects
from events.models import CallEvent, Fact
from services.common.aggregate import CallState
from services.common.event_store import StoredEvent
from services.common.follow import StreamFollower
from services.common.open_calls import OpenCallStates

Listener = Callable[[StoredEvent, CallState], None]
CLOSED_MEMORY = 10_000


class LiveCalls:
    def __init__(self) -> None:
        self.open = OpenCallStates()
        self.closed: OrderedDict[str, None] = OrderedDict()  # recently closed call ids
        self.last_seq = 0
        self._listeners: set[Listener] = set()
        self._follower: StreamFollower | None = None

    def apply(self, item: StoredEvent) -> CallState:
        """Fold one event; closed calls leave the open set after listeners saw them close."""
        event = item.event
        folded = self.open.apply(event, item.seq)
        if folded is None:
            return self.open[event.call_id]
        state = folded[1]
        if not state.is_open:
            self.closed[event.call_id] = None
            while len(self.closed) > CLOSED_MEMORY:
                self.closed.popitem(last=False)
        self.last_seq = item.seq
        for listener in list(self._listeners):
            listener(item, state)
        return state

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    async def follow(self, nc: Client) -> None:
        """Catch up from sequence 1, then keep following; returns once caught up."""
        self._follower = StreamFollower(subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS, self._on_fact)
        await self._follower.start(nc)

    def _on_fact(self, fact: Fact, seq: int) -> None:
        if isinstance(fact, CallEvent):
            self.apply(StoredEvent(seq, fact))

    async def close(self) -> None:
        if self._follower is not None:
            await self._follower.stop()
