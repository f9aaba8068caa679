"""The history the replay and restart benches fill the stream with: calls handled in time."""

from __future__ import annotations

from datetime import datetime, timedelta

from events.models import (
    Caller,
    CallEvent,
    CallRaised,
    CallResolved,
    ContactShared,
    DispatchAccepted,
    ResponderArrived,
    ResponderAssigned,
    StageTimes,
)


def handled_call(
    call_id: str, at: datetime, building_id: str, district_id: str, person: str, resolved: bool
) -> list[CallEvent]:
    """Raised at ``at``, paged and contacted at +1 s, accepted at +30 s, arrived at +400 s, and
    (``resolved``) resolved at +900 s: 5 events, or 6 with the close."""
    due = StageTimes(
        contact=at + timedelta(seconds=60),
        reach=at + timedelta(seconds=180),
        onsite=at + timedelta(seconds=600),
    )
    base = {"call_id": call_id}
    events: list[CallEvent] = [
        CallRaised(
            **base,
            event_id=f"{call_id}-0",
            at=at,
            caller=Caller(name="r", phone="1"),
            building_id=building_id,
            district_id=district_id,
            due=due,
            policy_version="bench",
        ),
        ResponderAssigned(
            **base,
            event_id=f"{call_id}-1",
            at=at + timedelta(seconds=1),
            responder_id=person,
            name=person,
            level="building",
            dispatch_id=f"{call_id}-d",
            ack_timeout_s=45,
        ),
        ContactShared(
            **base, event_id=f"{call_id}-2", at=at + timedelta(seconds=1), responder_id=person, name=person
        ),
        DispatchAccepted(
            **base,
            event_id=f"{call_id}-3",
            at=at + timedelta(seconds=30),
            responder_id=person,
            dispatch_id=f"{call_id}-d",
        ),
        ResponderArrived(
            **base, event_id=f"{call_id}-4", at=at + timedelta(seconds=400), responder_id=person
        ),
    ]
    if resolved:
        events.append(
            CallResolved(
                **base, event_id=f"{call_id}-5", at=at + timedelta(seconds=900), by=person, outcome="handled"
            )
        )
    return events
