"""Which calls are open per building, kept in stream order: the memory behind merging
duplicate calls. The dispatcher handles calls concurrently; this is fed before that, in the
order events were stored (and by the rebuild at start), so "is this call a duplicate?" is
answered as if calls were handled one by one."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from events.models import CallCancelled, CallEvent, CallMerged, CallRaised, CallResolved
from services.dispatcher.domain import duplicate_of
from services.domain.aggregate import CallState

CLOSING = (CallResolved, CallCancelled, CallMerged)
EVENT_TYPES = ("CallRaised", "CallResolved", "CallCancelled", "CallMerged")  # what ``observe`` needs
CLOSED_MEMORY = 10_000


class BuildingCalls:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.by_building: dict[str, list[tuple[str, datetime, bool]]] = {}
        self._building_of: dict[str, str] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()  # a late redelivery must not reopen

    def observe(self, event: CallEvent) -> str | None:
        """Fold one event (idempotent); for a ``CallRaised``, the open call it duplicates."""
        if isinstance(event, CallRaised):
            return self._raised(event)
        if isinstance(event, CLOSING):
            self._close(event.call_id)
        return None

    def is_open(self, call_id: str) -> bool:
        return call_id in self._building_of

    def register(self, event: CallRaised) -> None:
        """Make an open call visible to the calls of its building after it (idempotent)."""
        if not event.building_id or event.call_id in self._closed:
            return
        entries = self.by_building.setdefault(event.building_id, [])
        if all(entry[0] != event.call_id for entry in entries):
            entries.append((event.call_id, event.at, event.drill))
            self._building_of[event.call_id] = event.building_id

    def _raised(self, event: CallRaised) -> str | None:
        if event.held is not None:
            return None  # a held call neither joins a call nor is joined until the desk acts
        state = CallState(event.call_id, status="open", raised=event)
        primary = duplicate_of(state, self.by_building, self.window_s)
        if primary is None:
            self.register(event)
        return primary

    def _close(self, call_id: str) -> None:
        self._closed[call_id] = None
        while len(self._closed) > CLOSED_MEMORY:
            self._closed.popitem(last=False)
        building = self._building_of.pop(call_id, None)
        if building is None:
            return
        remaining = [entry for entry in self.by_building.get(building, []) if entry[0] != call_id]
        if remaining:
            self.by_building[building] = remaining
        else:
            self.by_building.pop(building, None)
