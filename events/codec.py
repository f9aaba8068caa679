"""One codec for every stored fact: JSON bytes <-> pydantic model."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from events.models import EVENT_TYPES, AnyEvent, Fact

_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)


class DecodeError(ValueError):
    """A message that is not a valid dispatch1310 event; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(event: Fact) -> bytes:
    return event.model_dump_json(by_alias=True).encode()


def decode(data: bytes) -> Fact:
    """Bytes -> the event model named by its ``type``; anything else raises DecodeError."""
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise DecodeError(_explain(data, exc)) from None


def decode_message(subject: str, data: bytes) -> Fact:
    """Decode a stored message and check it against its subject: its body's type must be the
    subject's last token, and a call event's call id (a responder fact's responder id) the
    second. A forged or misfiled message (a ``CallResolved`` body on ``calls.x.ContactShared``,
    another call's event) raises DecodeError: it is never believed."""
    fact = decode(data)
    tokens = subject.split(".")
    if tokens[-1] != fact.type:
        raise DecodeError(f"body type {fact.type} disagrees with subject {subject}")
    owner = getattr(fact, "call_id", None) or getattr(fact, "responder_id", None)
    if tokens[0] in ("calls", "responders") and (len(tokens) != 3 or tokens[1] != owner):
        raise DecodeError(f"body of {owner} disagrees with subject {subject}")
    return fact


def _explain(data: bytes, exc: ValidationError) -> str:
    try:
        raw = json.loads(data)
    except ValueError:
        return "not JSON"
    if not isinstance(raw, dict):
        return "not a JSON object"
    kind = raw.get("type")
    if kind is None:
        return "missing field 'type'"
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        return f"unknown event type {kind!r}"
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"][1:]) or "event"
    return f"invalid {kind}: {where}: {first['msg']}"
