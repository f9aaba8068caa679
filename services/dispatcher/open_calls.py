"""Open calls per building: the dispatcher's memory for spotting duplicate calls."""

from __future__ import annotations

from datetime import datetime

from events.models import CallCancelled, CallEvent, CallMerged, CallRaised, CallResolved


class OpenCallsByBuilding:
    def __init__(self) -> None:
        self.by_building: dict[str, list[tuple[str, datetime, bool]]] = {}
        self._building_of: dict[str, str] = {}

    def apply(self, event: CallEvent) -> None:
        if isinstance(event, CallRaised) and event.building_id:
            entries = self.by_building.setdefault(event.building_id, [])
            if all(call_id != event.call_id for call_id, _, _ in entries):
                entries.append((event.call_id, event.at, event.drill))
                self._building_of[event.call_id] = event.building_id
        elif isinstance(event, CallResolved | CallCancelled | CallMerged):
            building = self._building_of.pop(event.call_id, None)
            if building is not None:
                remaining = [e for e in self.by_building.get(building, []) if e[0] != event.call_id]
                if remaining:
                    self.by_building[building] = remaining
                else:
                    self.by_building.pop(building, None)
