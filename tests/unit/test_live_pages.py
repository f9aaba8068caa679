"""The intake's memory of pages awaiting each person's answer (what an SMS reply answers)."""

from __future__ import annotations

from datetime import timedelta

from events.models import CallCancelled, CallEvent, DispatchAccepted, ResponderAssigned
from services.domain.event_store import StoredEvent
from services.intake.live import LiveCalls
from tests.factories import T0, raised


def page(call_id: str, person: str, minutes: int) -> ResponderAssigned:
    return ResponderAssigned(
        event_id=f"{call_id}-{person}", call_id=call_id, at=T0 + timedelta(minutes=minutes),
        responder_id=person, name=person, level="building", dispatch_id=f"{call_id}-d-{person}",
        ack_timeout_s=45,
    )  # fmt: skip


def fold(live: LiveCalls, *events: CallEvent) -> None:
    for event in events:
        live.apply(StoredEvent(live.last_seq + 1, event))


def test_pages_awaiting_newest_first_and_gone_once_answered_or_closed() -> None:
    live = LiveCalls()
    fold(live, raised("a"), page("a", "g1", 1), raised("b"), page("b", "g1", 2), page("b", "g2", 2))
    assert [p.call_id for p in live.pages_awaiting({"g1"})] == ["b", "a"]
    assert [p.dispatch_id for p in live.pages_awaiting({"g1", "g2"})][-1] == "a-d-g1"

    accepted = DispatchAccepted(
        event_id="b-acc", call_id="b", at=T0, responder_id="g1", dispatch_id="b-d-g1", channel="sms"
    )
    fold(live, accepted)
    assert [p.call_id for p in live.pages_awaiting({"g1"})] == ["a"]
    assert [p.call_id for p in live.pages_awaiting({"g2"})] == ["b"]

    fold(live, CallCancelled(event_id="a-x", call_id="a", at=T0, by="caller"))
    assert live.pages_awaiting({"g1"}) == []
    assert live.pages_awaiting({"nobody"}) == []
