"""What a page says, on every channel (pure): built from the call as stored and the roster.

Every channel renders the same ``PageContent``: the call kind, building name and address,
the resident's name and phone, their note, the level, the reach deadline (as a time, so a
text read late still tells how long is left) and the one-tap answer link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.models import ResponderAssigned
from services.domain.aggregate import CallState
from services.domain.roster import Roster


@dataclass(frozen=True)
class PageContent:
    call_id: str
    dispatch_id: str
    person_id: str
    kind: str
    building: str  # the building's name (or what the resident typed when it is not known)
    address: str
    caller_name: str
    caller_phone: str
    note: str
    level: str
    reach_due_at: datetime | None
    answer_url: str
    drill: bool = False

    def payload(self) -> dict[str, Any]:
        """The Web Push payload (contract "Reaching people") and a webhook's extra fields."""
        return {
            "type": "dispatch",
            "call_id": self.call_id,
            "dispatch_id": self.dispatch_id,
            "kind": self.kind,
            "building": self.building,
            "address": self.address,
            "caller": {"name": self.caller_name, "phone": self.caller_phone},
            "note": self.note,
            "level": self.level,
            "reach_due_at": self.reach_due_at.isoformat() if self.reach_due_at else None,
            "answer_url": self.answer_url,
            "drill": self.drill,
        }


def page_content(state: CallState, page: ResponderAssigned, roster: Roster, answer_url: str) -> PageContent:
    raised = state.raised
    if raised is None:  # cannot happen for a stored call; still say what is known
        return PageContent(
            page.call_id, page.dispatch_id, page.responder_id, "other", "", "", "", "", "",
            page.level, None, answer_url,
        )  # fmt: skip
    building = roster.building(raised.building_id)
    name = building.name if building else raised.building_id or ""
    address = raised.address or (building.address if building else "")
    return PageContent(
        call_id=page.call_id,
        dispatch_id=page.dispatch_id,
        person_id=page.responder_id,
        kind=raised.kind,
        building=name,
        address=address,
        caller_name=raised.caller.name,
        caller_phone=raised.caller.phone,
        note=raised.note,
        level=page.level,
        reach_due_at=raised.due.reach,
        answer_url=answer_url,
        drill=raised.drill,
    )
