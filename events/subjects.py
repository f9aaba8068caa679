"""Subject names on the NATS server: one place, so no service spells them twice."""

from __future__ import annotations

import re

CALLS_STREAM = "CALLS"
CALLS_SUBJECTS = "calls.>"
RESPONDERS_STREAM = "RESPONDERS"
RESPONDERS_SUBJECTS = ("responders.>", "duty.>")
DEAD_LETTER_PREFIX = "deadletter"
ROSTER_BUCKET = "roster"
NOTIFIER_BUCKET = "notifier"
AUDIT_BUCKET = "audit"  # object store: the audit's checkpoint
DEVICES_BUCKET = "devices"  # signed device bodies already accepted (replay ledger)
PUSH_SUBSCRIPTIONS_BUCKET = "push-subscriptions"  # browsers subscribed for Web Push, by person
RESTART_BUCKET = "restart-points"  # where each follower of CALLS resumes folding after a restart
SECRETS_BUCKET = "intake-secrets"  # the token key and device secrets: the intake's NATS user only
AUDIT_QUERY_PREFIX = "audit.query."  # + a query's name: the audit answers over request/reply
AUDIT_QUERY_SUBJECTS = f"{AUDIT_QUERY_PREFIX}>"


CALL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_CALL_ID = re.compile(CALL_ID_PATTERN)


def checked_call_id(call_id: str) -> str:
    """A call id is one subject token: a wildcard or dot would address other calls' events."""
    if not _CALL_ID.match(call_id):
        raise ValueError(f"invalid call id {call_id!r}: letters, digits, '-' and '_' only")
    return call_id


def call_subject(call_id: str, event_type: str) -> str:
    return f"calls.{checked_call_id(call_id)}.{event_type}"


def call_filter(call_id: str) -> str:
    """Every event of one call (the aggregate's subject space)."""
    return f"calls.{checked_call_id(call_id)}.>"


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
