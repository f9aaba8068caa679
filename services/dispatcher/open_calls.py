"""The dispatcher's memory of open calls: duplicates per building and who is busy."""

from __future__ import annotations

from datetime import datetime

from events.models import CallEvent, CallRaised
from services.common.aggregate import ACTIVE, CallState
from services.common.open_calls import OpenCallStates


class OpenCalls:
    """Folded from every call event the dispatcher sees (and rebuilt from the stream at start)."""

    def __init__(self) -> None:
        self.states = OpenCallStates()
        self.by_building: dict[str, list[tuple[str, datetime, bool]]] = {}
        self._holding: dict[str, set[str]] = {}  # person -> open calls they are paged on or engaged in

    def apply(self, event: CallEvent, seq: int = 0) -> None:
        folded = self.states.apply(event, seq)
        if folded is None:
            return  # a redelivery: already folded
        before, state = folded
        if state.is_open:
            if before is None and state.raised is not None:
                self.register(state.raised)
        else:
            self._drop_from_building(state)
        self._update_holders(state)

    def register(self, raised: CallRaised) -> None:
        """Make an open call visible to later calls of its building (idempotent)."""
        if not raised.building_id:
            return
        entries = self.by_building.setdefault(raised.building_id, [])
        if all(entry[0] != raised.call_id for entry in entries):
            entries.append((raised.call_id, raised.at, raised.drill))

    def known(self, call_id: str) -> tuple[CallState, int] | None:
        return self.states.known(call_id)

    def _drop_from_building(self, state: CallState) -> None:
        building = state.raised.building_id if state.raised else None
        if not building or building not in self.by_building:
            return
        remaining = [e for e in self.by_building[building] if e[0] != state.call_id]
        if remaining:
            self.by_building[building] = remaining
        else:
            del self.by_building[building]

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
