"""The dispatcher's memory of open calls: duplicates per building and who is busy."""

from __future__ import annotations

from datetime import datetime

from events.models import CallEvent
from services.common.aggregate import ACTIVE, CallState, evolve


class OpenCalls:
    """Folded from every call event the dispatcher sees (and rebuilt from the stream at start)."""

    def __init__(self) -> None:
        self.states: dict[str, CallState] = {}
        self.versions: dict[str, int] = {}  # stream sequence of the last event folded per call
        self.by_building: dict[str, list[tuple[str, datetime, bool]]] = {}
        self._holding: dict[str, set[str]] = {}  # person -> open calls they are paged on or engaged in

    def apply(self, event: CallEvent, seq: int = 0) -> None:
        before = self.states.get(event.call_id)
        if before is not None and seq and seq <= self.versions.get(event.call_id, 0):
            return  # a redelivery: already folded
        state = evolve(before or CallState(event.call_id), event)
        if state.is_open:
            self.states[event.call_id] = state
            self.versions[event.call_id] = seq
            if before is None and state.raised is not None and state.raised.building_id:
                raised = state.raised
                self.by_building.setdefault(raised.building_id or "", []).append(
                    (state.call_id, raised.at, raised.drill)
                )
        else:
            self.states.pop(event.call_id, None)
            self.versions.pop(event.call_id, None)
            self._drop_from_building(state)
        self._update_holders(state)

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

    def known(self, call_id: str) -> tuple[CallState, int] | None:
        """The folded state and its version, if this call is open here (may be stale: OCC checks)."""
        state = self.states.get(call_id)
        version = self.versions.get(call_id, 0)
        return (state, version) if state is not None and version else None

    def busy(self) -> frozenset[str]:
        return frozenset(self._holding)
