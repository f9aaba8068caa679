"""Open calls as they change: folded live from the CALLS stream and fanned out to listeners.

The intake's board and its Server-Sent Event streams read from here. It is a projection
of the stream (an ordered consumer from sequence 1), not of anything the write path holds.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.client import Client

from events import subjects
from events.models import CallEvent, Fact
from services.common.aggregate import CallState
from services.common.event_store import StoredEvent
from services.common.follow import StreamFollower
from services.common.open_calls import OpenCallStates

Listener = Callable[[StoredEvent, CallState], None]


class LiveCalls:
    def __init__(self) -> None:
        self.open = OpenCallStates()
        self.last_seq = 0
        self._listeners: set[Listener] = set()
        self._follower: StreamFollower | None = None

    def apply(self, item: StoredEvent) -> None:
        """Fold one event; closed calls leave the open set after listeners saw them close."""
        folded = self.open.apply(item.event, item.seq)
        self.last_seq = max(self.last_seq, item.seq)
        if folded is None:
            return
        state = folded[1]
        for listener in list(self._listeners):
            listener(item, state)

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
