"""Hypothesis over every event model and the codec: valid events round-trip, garbage is refused
with a DecodeError (never another exception), whatever the bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events import codec
from events.models import CALL_EVENT_TYPES, KINDS, RESPONDER_FACT_TYPES, Fact, StageTimes
from services.intake.schemas import RaiseCallIn

ALL_TYPES = (*CALL_EVENT_TYPES, *RESPONDER_FACT_TYPES)


aware = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]),
)
FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "call_id": st.from_regex(r"[a-zA-Z0-9_-]{1,24}", fullmatch=True),
    "at": aware,
    "due_at": aware,
    "until": st.none() | aware,
    "starts": aware,
    "ends": aware,
    "device_at": st.none() | aware,
    "due": st.builds(StageTimes, contact=aware, reach=aware, onsite=aware),
    "late_by_ms": st.floats(0, 1e9),
    "ack_timeout_s": st.floats(0.001, 1e6),
    "battery": st.none() | st.floats(0, 100),
}


@pytest.mark.parametrize("model", ALL_TYPES, ids=lambda m: m.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_event_model_round_trips_through_the_codec(model: type[Fact], data: st.DataObject) -> None:
    aliases = {name: info.alias or name for name, info in model.model_fields.items()}
    fields = {aliases[name]: strategy for name, strategy in FIELD_STRATEGIES.items() if name in aliases}
    event = data.draw(st.builds(model, **fields))
    assert codec.decode(codec.encode(event)) == event


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_garbage_is_refused_with_a_reason(data: bytes) -> None:
    try:
        codec.decode(data)
    except codec.DecodeError as exc:
        assert exc.reason
    # a few random objects may happen to be valid events: that is fine


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "event_id", "call_id", "at", "stage", "due_at", "late_by_ms", "responder_id"]
        ),
        json_values,
    )
)
def test_near_miss_events_are_refused_cleanly(fields: dict[str, Any]) -> None:
    fields.setdefault("type", "DeadlineMissed")
    try:
        codec.decode(json.dumps(fields).encode())
    except codec.DecodeError as exc:
        assert exc.reason


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"caller": st.fixed_dictionaries({"name": json_values, "phone": json_values})},
        optional={"kind": json_values, "building_id": json_values, "drill": json_values, "note": json_values},
    )
)
def test_raise_call_body_is_either_refused_or_clean(body: dict[str, Any]) -> None:
    try:
        parsed = RaiseCallIn.model_validate(body)
    except ValidationError:
        return
    assert parsed.kind in KINDS
    assert parsed.caller.name and len(parsed.caller.phone) >= 3
