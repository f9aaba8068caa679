"""Open calls as they change: folded live from the CALLS stream and fanned out to listeners.

The intake's board and its Server-Sent Event streams read from here, and an SMS answer
finds the sender's pages awaiting an answer here (``pages_awaiting``). It is a projection
of the stream, not of anything the write path holds: an ordered consumer from the board's
restart point (restart_point.py), which never passes the first event of a call still open or
of a call closed within ``HISTORY_S`` (the desk's history of closed calls).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from nats.aio.client import Client

from events import subjects
from events.models import CallEvent, Fact
from services.adapters.resuming_follower import ResumingFollower
from services.domain.aggregate import CallState
from services.domain.clock import Clock, SystemClock
from services.domain.event_store import StoredEvent
from services.domain.open_calls import OpenCallStates

Listener = Callable[[StoredEvent, CallState], None]
# Closed calls the desk's history can list (newest kept); older ones are in the audit's reports.
CLOSED_KEPT = 5_000
# Closed calls a restart rebuilds: those closed within this span (the desk's default history).
HISTORY_S = 24 * 3600.0
RESTART_POINT = "board"


@dataclass(frozen=True)
class AwaitingPage:
    """A page of an open call still awaiting its person's answer (as this memory knows)."""

    assigned_at: datetime
    call_id: str
    dispatch_id: str
    responder_id: str


class LiveCalls:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.open = OpenCallStates()
        self.last_seq = 0
        self._listeners: set[Listener] = set()
        self._follower: ResumingFollower | None = None
        self._paged: dict[str, dict[str, AwaitingPage]] = {}  # person -> call -> page
        self._paged_in_call: dict[str, set[str]] = {}  # call -> persons indexed in _paged
        self._followed_seq = 0  # every fact's, call events or not
        self._moved = asyncio.Event()
        self.closed: OrderedDict[str, CallState] = OrderedDict()  # in the order they closed
        self._closed_first_seq: dict[str, int] = {}  # closed call -> its first event's sequence

    def apply(self, item: StoredEvent) -> None:
        """Fold one event; closed calls leave the open set after listeners saw them close."""
        first_seq = self.open.first_seq(item.event.call_id) or item.seq
        folded = self.open.apply(item.event, item.seq)
        self.last_seq = max(self.last_seq, item.seq)
        if folded is None:
            return
        state = folded[1]
        self._index_pages(state)
        if state.is_closed:
            self._remember_closed(state, first_seq)
        for listener in list(self._listeners):
            listener(item, state)

    def _remember_closed(self, state: CallState, first_seq: int) -> None:
        self.closed.pop(state.call_id, None)
        self.closed[state.call_id] = state
        self._closed_first_seq[state.call_id] = first_seq
        while len(self.closed) > CLOSED_KEPT:
            gone, _ = self.closed.popitem(last=False)
            self._closed_first_seq.pop(gone, None)

    def oldest_recent_closed_seq(self) -> int | None:
        """The first sequence of the oldest call closed within ``HISTORY_S`` (kept here)."""
        since = self.clock.now() - timedelta(seconds=HISTORY_S)
        seqs = [
            self._closed_first_seq[call_id]
            for call_id, state in list(self.closed.items())
            if state.closed_at is None or state.closed_at >= since
        ]
        return min(seqs, default=None)

    def _index_pages(self, state: CallState) -> None:
        call_id = state.call_id
        for person_id in self._paged_in_call.pop(call_id, set()):
            pages = self._paged.get(person_id, {})
            pages.pop(call_id, None)
            if not pages:
                self._paged.pop(person_id, None)
        if not state.is_open:
            return
        for a in state.assignments.values():
            if a.status == "paged":
                page = AwaitingPage(a.assigned_at, call_id, a.dispatch_id, a.responder_id)
                self._paged.setdefault(a.responder_id, {})[call_id] = page
                self._paged_in_call.setdefault(call_id, set()).add(a.responder_id)

    def pages_awaiting(self, person_ids: Iterable[str]) -> list[AwaitingPage]:
        """Pages of open calls awaiting an answer from any of ``person_ids``, newest first."""
        pages = [p for person_id in person_ids for p in self._paged.get(person_id, {}).values()]
        return sorted(pages, key=lambda p: p.assigned_at, reverse=True)

    async def catch_up(self, nc: Client, timeout: float = 1.0) -> bool:
        """Wait until every event stored in the CALLS stream by now has been folded in: a page
        another service stored a moment ago is then known here. False after ``timeout``."""
        info = await nc.jetstream().stream_info(subjects.CALLS_STREAM)
        target = int(info.state.last_seq)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._followed_seq < target:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), remaining)
        return True

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    async def follow(self, nc: Client) -> None:
        """Catch up from the board's restart point, then keep following; returns once caught up."""
        self._follower = ResumingFollower(
            RESTART_POINT,
            self.open,
            self._on_fact,
            on_skipped=self._followed,
            oldest_kept=self.oldest_recent_closed_seq,
        )
        await self._follower.start(nc)

    def _on_fact(self, fact: Fact, seq: int) -> None:
        if isinstance(fact, CallEvent):
            self.apply(StoredEvent(seq, fact))
        self._followed(seq)

    def _followed(self, seq: int) -> None:
        self._followed_seq = max(self._followed_seq, seq)
        self._moved.set()
        self._moved = asyncio.Event()

    async def close(self) -> None:
        if self._follower is not None:
            await self._follower.stop()
