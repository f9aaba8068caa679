"""The intake's edge, pure parts (issue 16, Input): phones, names and notes, device timestamps."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.adapters.streams import CLOCK_SLACK_S, DEVICE_LEDGER_TTL_S
from services.domain.phones import NotAPhone, normalise_phone
from services.intake.device_auth import WINDOW_S, DeviceAuthError, sign, verify
from services.intake.schemas import NoteIn, RaiseCallIn
from services.intake.text import clean_name, clean_note

SPELLINGS = [
    "13900000001",
    "+86 139 0000 0001",
    "139-0000-0001",
    "(139)00000001",
    "008613900000001",
    "8613900000001",
    " +86-139-0000-0001 ",
    "139.0000.0001",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_spellings_of_one_number_are_one_phone(spelling: str) -> None:
    assert normalise_phone(spelling) == "+8613900000001"


def test_other_countries_and_landlines_keep_their_code() -> None:
    assert normalise_phone("+852 2345 6789") == "+85223456789"
    assert normalise_phone("00852 2345 6789") == "+85223456789"
    assert normalise_phone("010-6552 9988") == "+861065529988"  # trunk 0 dropped, +86 added
    assert normalise_phone("12345") == "+8612345"


@pytest.mark.parametrize(
    "typed",
    ["---", "()", "1234", "+86", "12-34", "139x0000", "+86+139", "phone", "0000", "1" * 16, "+0123456"],
)
def test_what_is_no_phone_is_refused(typed: str) -> None:
    with pytest.raises(NotAPhone):
        normalise_phone(typed)


def test_a_raise_body_names_the_phone_it_refuses() -> None:
    with pytest.raises(ValidationError) as refused:
        RaiseCallIn.model_validate({"caller": {"name": "王", "phone": "---"}})
    assert [e["loc"] for e in refused.value.errors()] == [("caller", "phone")]


def test_names_lose_what_would_disguise_them() -> None:
    assert clean_name("\u202eevil\u202c 王\u200b阿\u2066姨\u2069") == "evil 王阿姨"
    assert clean_name("王\x1b[31m阿姨\x00") == "王[31m阿姨"
    assert clean_name("王\n阿姨\t\u2028x\ufeff\u00ad") == "王 阿姨 x"
    assert clean_name("\u3164\u2800 李") == "李"
    assert clean_note("一楼\r\n进水\u202e\x07\u2029二楼") == "一楼\n进水\n二楼"


def test_a_name_or_desk_note_of_nothing_visible_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        RaiseCallIn.model_validate({"caller": {"name": "\u200b\u202e\u2066", "phone": "13900000001"}})
    assert [e["loc"] for e in refused.value.errors()] == [("caller", "name")]
    with pytest.raises(ValidationError):
        NoteIn.model_validate({"text": "\u200d\x00"})


@pytest.mark.parametrize("timestamp", ["nan", "NaN", "inf", "-inf", "infinity", "1e9", "1_700_000_000", "-5"])
def test_a_timestamp_that_is_no_unix_seconds_is_refused(timestamp: str) -> None:
    body = b'{"device_id": "bracelet-7", "kind": "sos"}'
    with pytest.raises(DeviceAuthError):
        verify("secret-1", timestamp, sign("secret-1", timestamp, body), body, now=1_700_000_000.0)


def test_the_ledger_keeps_a_signature_while_its_timestamp_can_be_fresh() -> None:
    """Accepted at its earliest (the timestamp a full window ahead of the intake's clock), a
    signature is fresh for twice the window; an intake whose clock lags the first by the slack
    must still find it in the ledger."""
    body = b"{}"
    accepted_at = 1_700_000_000.0
    timestamp = str(int(accepted_at + WINDOW_S))
    signature = sign("s", timestamp, body)
    verify("s", timestamp, signature, body, now=accepted_at)
    last_fresh = accepted_at + 2 * WINDOW_S  # on a clock that lags by the slack: later still
    verify("s", timestamp, signature, body, now=last_fresh)
    assert (last_fresh - accepted_at) + CLOCK_SLACK_S <= DEVICE_LEDGER_TTL_S
    assert CLOCK_SLACK_S >= 30


def test_text_with_nothing_to_clean_is_kept_as_typed_whatever_its_script() -> None:
    """The shortcut for printable text (no step per character) answers what the walk over
    each character does: every printable character but the blank letters is kept."""
    from services.intake.text import _BLANK_LETTERS, _clean, _clean_each

    kept = "".join(
        char for code in range(0x110000) if (char := chr(code)).isprintable() and char not in _BLANK_LETTERS
    )
    for keep_newlines in (True, False):
        assert _clean_each(kept, keep_newlines) == kept.strip() == _clean(kept, keep_newlines)
    assert _clean("\u3000王\u00a0阿姨\u3164 ", keep_newlines=False) == "王\u00a0阿姨"  # not printable: walked
