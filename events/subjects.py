"""Subject names on the NATS server: one place, so no service spells them twice."""

from __future__ import annotations

CALLS_STREAM = "CALLS"
CALLS_SUBJECTS = "calls.>"
RESPONDERS_STREAM = "RESPONDERS"
RESPONDERS_SUBJECTS = ("responders.>", "duty.>")
DEAD_LETTER_PREFIX = "deadletter"
ROSTER_BUCKET = "roster"
NOTIFIER_BUCKET = "notifier"


def call_subject(call_id: str, event_type: str) -> str:
    return f"calls.{call_id}.{event_type}"


def call_filter(call_id: str) -> str:
    """Every event of one call (the aggregate's subject space)."""
    return f"calls.{call_id}.>"


def call_type_filter(event_type: str) -> str:
    """One event type across all calls."""
    return f"calls.*.{event_type}"


def call_id_of(subject: str) -> str:
    return subject.split(".")[1]


def responder_subject(responder_id: str, event_type: str) -> str:
    return f"responders.{responder_id}.{event_type}"


def duty_subject(event_type: str) -> str:
    return f"duty.{event_type}"


def dead_letter_subject(consumer: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{consumer}"
