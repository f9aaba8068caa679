"""The dispatcher's memory of open calls: their states and who is busy."""

from __future__ import annotations

from events.models import CallEvent
from services.common.aggregate import ACTIVE, CallState
from services.common.open_calls import OpenCallStates


class OpenCalls:
    """Folded from every call event the dispatcher sees (and rebuilt from the stream at start)."""

    def __init__(self) -> None:
        self.states = OpenCallStates()
        self._holding: dict[str, set[str]] = {}  # person -> open calls they are paged on or engaged in

    def apply(self, event: CallEvent, seq: int = 0) -> None:
        folded = self.states.apply(event, seq)
        if folded is None:
            return  # a redelivery: already folded
        _, state = folded
        self._update_holders(state)

    def known(self, call_id: str) -> tuple[CallState, int] | None:
        return self.states.known(call_id)

    def _update_holders(self, state: CallState) -> None:
        for person, assignment in state.assignments.items():
            calls = self._holding.setdefault(person, set())
            if state.is_open and assignment.status in ACTIVE:
                calls.add(state.call_id)
            else:
                calls.discard(state.call_id)
            if not calls:
                del self._holding[person]

    def busy(self) -> frozenset[str]:
        return frozenset(self._holding)
