"""The codec, settings parsing and roster validation: clear errors, nothing silently wrong."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from events import codec
from events.models import CallRaised
from services.domain.roster import RosterError, keyed_hash, load_roster_file, parse_roster, sha256_hex
from services.runtime.settings import SettingsError, Targets, load_settings
from tests.factories import raised


def test_codec_round_trips_every_field() -> None:
    event = raised("c1", note="水漫进一楼", drill=True)
    assert codec.decode(codec.encode(event)) == event


def test_times_are_normalised_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    event = raised("c1", at=datetime(2026, 6, 27, 16, 0, tzinfo=beijing))
    decoded = codec.decode(codec.encode(event))
    assert isinstance(decoded, CallRaised) and decoded.at.utcoffset() == timedelta(0)
    assert decoded.at.hour == 8


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"call_id": "c1"}', "missing field 'type'"),
        (b'{"type": "CallExploded"}', "unknown event type 'CallExploded'"),
        (
            b'{"type": "DeadlineMissed", "event_id": "e", "call_id": "c1", "at": "2026-01-01T00:00:00Z"}',
            "invalid DeadlineMissed",
        ),
    ],
)
def test_codec_rejects_with_a_clear_reason(data: bytes, reason: str) -> None:
    with pytest.raises(codec.DecodeError) as err:
        codec.decode(data)
    assert reason in err.value.reason


def test_naive_time_is_refused() -> None:
    body = codec.encode(raised("c1")).replace(b'+00:00"', b'"').replace(b'Z"', b'"')
    with pytest.raises(codec.DecodeError):
        codec.decode(body)


def test_settings_defaults_match_the_contract() -> None:
    settings = load_settings({})
    assert settings.nats_url is None
    assert settings.targets == Targets(60, 180, 600)
    assert (settings.http_host, settings.http_port, settings.ack_timeout_s, settings.auth) == (
        "127.0.0.1",
        8310,
        45,
        True,
    )


def test_settings_accept_fractional_targets_and_refuse_nonsense() -> None:
    assert load_settings({"DISPATCH1310_TARGETS": "0.5,1.5,3"}).targets == Targets(0.5, 1.5, 3)
    for bad in ("1,2", "a,b,c", "3,2,1", "0,1,2"):
        with pytest.raises(SettingsError, match="DISPATCH1310_TARGETS"):
            load_settings({"DISPATCH1310_TARGETS": bad})
    with pytest.raises(SettingsError, match="DISPATCH1310_AUTH"):
        load_settings({"DISPATCH1310_AUTH": "maybe"})


def test_demo_roster_is_valid_and_has_every_level() -> None:
    roster = load_roster_file(None)
    assert roster.staffed_levels("b12", None) == ("building", "district", "community", "professional")


def test_roster_errors_name_every_problem() -> None:
    text = """
community: {id: c, name: C}
districts:
  - id: d1
    name: D
    buildings:
      - {id: b1, name: B, members: [{id: g1, name: A}]}
      - {id: b1, name: B again, members: [{id: g1, name: Someone else}]}
devices:
  - {id: x, secret: abcdefgh1, building_id: nowhere, resident: {name: R}}
"""
    with pytest.raises(RosterError) as err:
        parse_roster(text)
    message = str(err.value)
    assert "duplicate building id(s): b1" in message
    assert "'g1' is used for two different people" in message
    assert "unknown building 'nowhere'" in message


def test_roster_json_is_accepted_and_missing_fields_named() -> None:
    assert parse_roster('{"community": {"id": "c", "name": "C"}}').districts == ()
    with pytest.raises(RosterError, match=r"community\.name"):
        parse_roster('{"community": {"id": "c"}}')


KEY = b"server-key"


def test_the_stored_roster_holds_keyed_token_hashes_never_tokens_nor_device_secrets() -> None:
    roster = load_roster_file(None)
    with pytest.raises(RosterError):
        roster.to_json()  # only sealed
    stored = roster.sealed(KEY).to_json()
    assert b"demo-g1" not in stored and b"demo-supervisor" not in stored
    assert b'"token"' not in stored and b"token_sha256" not in stored
    assert hashlib.sha256(b"demo-g1").hexdigest().encode() not in stored
    assert b"demo-bracelet-secret-7" not in stored and b"bracelet-7" in stored
    again = parse_roster(stored, "stored")
    assert again.version == roster.sealed(KEY).version  # a sealed roster and its stored copy agree
    g1 = again.people["g1"]
    assert g1.token is None
    assert again.person_by_token_hmac(keyed_hash(KEY, sha256_hex("demo-g1"))) == g1
    assert again.person_by_token_hmac(keyed_hash(b"another-key", sha256_hex("demo-g1"))) is None


def test_a_token_sha256_in_a_file_seals_to_the_same_keyed_hash_as_its_token() -> None:
    text = '{"community": {"id": "c", "name": "C"}, "supervisors": [{"id": "s1", "name": "S", %s}]}'
    by_token = parse_roster(text % '"token": "t-1"').sealed(KEY)
    by_digest = parse_roster(text % f'"token_sha256": "{sha256_hex("t-1").upper()}"').sealed(KEY)
    assert by_token == by_digest and by_token.version == by_digest.version


def test_a_new_device_secret_is_a_new_sealed_version() -> None:
    roster = load_roster_file(None)
    device = roster.devices[0].model_copy(update={"secret": "another-secret-99"})
    changed = roster.model_copy(update={"devices": (device,)})
    assert changed.sealed(KEY).version != roster.sealed(KEY).version
    assert changed.device_secrets() == {device.id: "another-secret-99"}
