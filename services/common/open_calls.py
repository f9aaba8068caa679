"""The state of every open call, folded from call events in stream order.

Shared by every service that keeps calls in memory (the dispatcher, the deadlines keeper, the
intake's live board): closed calls leave, a redelivered event (a sequence already folded)
changes nothing, and each call's version is the stream sequence of its last event, ready for
an optimistic append.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from events.models import CallEvent
from services.common.aggregate import CallState, evolve


class OpenCallStates(Mapping[str, CallState]):
    def __init__(self) -> None:
        self._states: dict[str, CallState] = {}
        self.versions: dict[str, int] = {}

    def apply(self, event: CallEvent, seq: int = 0) -> tuple[CallState | None, CallState] | None:
        """Fold one event; returns (state before, state after), or None for a redelivery."""
        before = self._states.get(event.call_id)
        if before is not None and seq and seq <= self.versions.get(event.call_id, 0):
            return None
        state = evolve(before or CallState(event.call_id), event)
        if state.is_open:
            self._states[event.call_id] = state
            self.versions[event.call_id] = seq
        else:
            self._states.pop(event.call_id, None)
            self.versions.pop(event.call_id, None)
        return before, state

    def known(self, call_id: str) -> tuple[CallState, int] | None:
        """The folded state and its version, if open here (may be stale: the append's OCC checks)."""
        state = self._states.get(call_id)
        version = self.versions.get(call_id, 0)
        return (state, version) if state is not None and version else None

    def __getitem__(self, call_id: str) -> CallState:
        return self._states[call_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)
