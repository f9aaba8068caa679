"""Small builders for events in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events.models import Caller, CallRaised, NoteAdded, StageTimes

T0 = datetime(2026, 6, 27, 8, 0, tzinfo=UTC)


def raised(call_id: str, at: datetime = T0, event_id: str | None = None, **fields: object) -> CallRaised:
    due = StageTimes(
        contact=at + timedelta(seconds=60),
        reach=at + timedelta(seconds=180),
        onsite=at + timedelta(seconds=600),
    )
    values: dict[str, object] = {
        "event_id": event_id or f"{call_id}-raised",
        "call_id": call_id,
        "at": at,
        "caller": Caller(name="王阿姨", phone="13800000000"),
        "building_id": "b12",
        "due": due,
        "policy_version": "test-1",
    }
    values.update(fields)
    return CallRaised(**values)  # type: ignore[arg-type]


def note(call_id: str, n: int, at: datetime = T0) -> NoteAdded:
    return NoteAdded(event_id=f"{call_id}-note-{n}", call_id=call_id, at=at, by="s1", text=f"note {n}")
