"""The state of every open call, folded from call events in stream-sequence order.

Shared by every service that keeps calls in memory (the dispatcher, the deadlines keeper, the
intake's live board). Deliveries may come out of order or twice (a pull consumer runs a
fetched batch concurrently; a nak with delay redelivers an event after its successors): each
call's events are kept sorted by sequence and the state is their fold, so the state is the
same whatever the order or number of deliveries. A closed call leaves and stays gone (a late
redelivery cannot reopen it). This memory says which calls to look at and when; decisions are
taken on the call loaded from the stream (services/domain/calls.py), never on this fold.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator, Mapping

from events.models import CallEvent
from services.domain.aggregate import CallState, evolve, fold

CLOSED_MEMORY = 100_000


class OpenCallStates(Mapping[str, CallState]):
    def __init__(self, closed_memory: int = CLOSED_MEMORY) -> None:
        self._states: dict[str, CallState] = {}
        self._events: dict[str, list[tuple[int, CallEvent]]] = {}
        self._seqs: dict[str, set[int]] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._closed_memory = closed_memory

    def apply(self, event: CallEvent, seq: int) -> tuple[CallState | None, CallState] | None:
        """Fold one event; returns (state before, state after), or None when nothing changed
        (a redelivery, or an event of a call already closed)."""
        call_id = event.call_id
        if call_id in self._closed:
            return None
        seqs = self._seqs.setdefault(call_id, set())
        if seq in seqs:
            return None
        seqs.add(seq)
        items = self._events.setdefault(call_id, [])
        before = self._states.get(call_id)
        if not items or seq > items[-1][0]:
            items.append((seq, event))
            state = evolve(before or CallState(call_id), event)
        else:  # arrived before an earlier event: fold again in sequence order
            bisect.insort(items, (seq, event), key=lambda item: item[0])
            state = fold(call_id, (e for _, e in items))
        if state.is_closed:
            self._forget(call_id)
        else:
            self._states[call_id] = state
        return before, state

    def _forget(self, call_id: str) -> None:
        for memory in (self._states, self._events, self._seqs):
            memory.pop(call_id, None)
        self._closed[call_id] = None
        while len(self._closed) > self._closed_memory:
            self._closed.popitem(last=False)

    def is_closed(self, call_id: str) -> bool:
        return call_id in self._closed

    def first_seq(self, call_id: str) -> int | None:
        """The sequence of the first event folded for an open call (its ``CallRaised`` once that
        is in): where a restart must fold from to rebuild it (services/adapters/restart_point.py)."""
        items = self._events.get(call_id)
        return items[0][0] if items else None

    def folded_count(self, call_id: str) -> int:
        """How many events are folded for an open call (0: none, or closed)."""
        return len(self._events.get(call_id, ()))

    def __getitem__(self, call_id: str) -> CallState:
        return self._states[call_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)
