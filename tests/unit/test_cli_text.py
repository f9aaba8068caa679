"""What the CLI reads and prints, without a system: times typed and shown in the community's
zone, DISPATCH1310_HTTP as a URL, tables that line up with Chinese names, every event's
essentials, the admin credentials `up` keeps found for the URL it prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import CALL_EVENT_TYPES, CallEvent, StageTimes
from services.adapters.nats_auth import stream_url
from services.cli.commands.calls import timeline_text
from services.cli.http_client import detail_of
from services.cli.localtime import TimeInputError, local, parse_until
from services.cli.names import Names
from services.cli.table import render, width
from services.domain.event_store import StoredEvent
from services.intake.views import timeline_view
from services.runtime.settings import SettingsError, load_settings, parse_timezone
from tests.factories import raised

SHANGHAI = parse_timezone("Asia/Shanghai")
NOW = datetime(2026, 6, 27, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai


def test_until_keeps_an_offset_and_reads_local_times_in_the_communitys_zone() -> None:
    given = parse_until("2026-06-28T18:00:00+08:00", NOW, SHANGHAI)
    assert given.isoformat() == "2026-06-28T18:00:00+08:00"
    assert local(given.astimezone(UTC).isoformat(), SHANGHAI) == "2026-06-28T18:00:00+08:00"
    assert parse_until("2026-06-28 07:30", NOW, SHANGHAI) == datetime(2026, 6, 27, 23, 30, tzinfo=UTC)
    assert parse_until("08:00", NOW, SHANGHAI) == datetime(2026, 6, 28, 0, 0, tzinfo=UTC)  # the next 08:00
    assert parse_until("19:00", NOW, SHANGHAI) == datetime(2026, 6, 27, 11, 0, tzinfo=UTC)  # today's
    assert parse_until("8h", NOW, SHANGHAI) == NOW + timedelta(hours=8)
    assert parse_until("1h30m", NOW, SHANGHAI) == NOW + timedelta(minutes=90)
    for word in ("tomorrow", "25:00", "", "8 hours please"):
        with pytest.raises(TimeInputError):
            parse_until(word, NOW, SHANGHAI)


def test_http_address_may_be_written_as_a_url() -> None:
    for written in (
        "127.0.0.1:8310",
        "http://127.0.0.1:8310",
        "http://127.0.0.1:8310/",
        " HTTP://127.0.0.1:8310 ",
    ):
        assert load_settings({"DISPATCH1310_HTTP": written}).http_url == "http://127.0.0.1:8310", written
    assert load_settings({"DISPATCH1310_HTTP": "https://desk.example:443"}).http_port == 443
    for wrong in ("127.0.0.1", "http://127.0.0.1", "http://127.0.0.1:8310/api"):
        with pytest.raises(SettingsError, match="host:port"):
            load_settings({"DISPATCH1310_HTTP": wrong})


def test_community_time_zone_setting() -> None:
    assert load_settings({}).timezone_name == "Asia/Shanghai"
    assert load_settings({"DISPATCH1310_TZ": "+05:30"}).tz.utcoffset(None) == timedelta(hours=5, minutes=30)
    assert load_settings({"DISPATCH1310_TZ": "Europe/Berlin"}).tz == parse_timezone("Europe/Berlin")
    for wrong in ("Mars/Olympus", "+8", "+15:00"):
        with pytest.raises(SettingsError, match="DISPATCH1310_TZ"):
            load_settings({"DISPATCH1310_TZ": wrong})


def test_tables_line_up_with_chinese_names() -> None:
    text = render(["group", "calls"], [["胜利街片区", "12"], ["(unknown)", "3"], ["a\nb", "1"]], right=(1,))
    lines = text.splitlines()
    assert len(lines) == 5  # a line break in a cell stays in its row
    assert len({width(line) for line in lines}) == 1  # every row ends in the same column
    assert lines[2] == "胜利街片区     12"


def test_a_422_is_one_line_naming_the_field() -> None:
    request = httpx.Request("POST", "http://x/api/calls")
    body = {"detail": [{"type": "value_error", "loc": ["body", "caller", "phone"], "msg": "too short"}]}
    assert detail_of(httpx.Response(422, json=body, request=request)) == "caller.phone: too short"
    refused = httpx.Response(401, json={"detail": "a bearer token is required"}, request=request)
    assert detail_of(refused) == "a bearer token is required (set DISPATCH1310_TOKEN)"


def _stored(events: list[CallEvent]) -> list[StoredEvent]:
    return [StoredEvent(seq=n, event=e) for n, e in enumerate(events, 1)]


def test_call_raised_shows_caller_building_kind_and_note() -> None:
    names = Names(buildings={"b12": "胜利街12号"}, addresses={"b12": "胜利街12号院"})
    event = raised("c1", note="水漫到一楼", kind="flood")
    text = timeline_text(timeline_view("c1", _stored([event])), names)
    head, _, _, row = text.splitlines()
    assert "2026-06-27T16:00:00+08:00" in head  # T0 08:00 UTC, said in the community's time
    for fact in ("16:00:00", "王阿姨 13800000000", "胜利街12号 (胜利街12号院)", "水淹 flood", '"水漫到一楼"'):
        assert fact in row, (fact, row)
    assert "b12" not in row


aware = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "call_id": st.just("c1"),
    "at": aware,
    "due_at": aware,
    "device_at": st.none() | aware,
    "due": st.builds(StageTimes, contact=aware, reach=aware, onsite=aware),
    "late_by_ms": st.floats(0, 1e7),
    "ack_timeout_s": st.floats(0.001, 1e4),
    "battery": st.none() | st.floats(0, 100),
}


@pytest.mark.parametrize("model", CALL_EVENT_TYPES, ids=lambda m: m.__name__)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_event_says_what_happened(model: type[CallEvent], data: st.DataObject) -> None:
    fields = {name: strategy for name, strategy in FIELDS.items() if name in model.model_fields}
    event = data.draw(st.builds(model, **fields))
    text = timeline_text(timeline_view("c1", _stored([event])), Names())
    row = text.splitlines()[3]
    header = text.splitlines()[1]
    assert row[header.index("what") :].strip(), row  # never an empty line
    assert "caller_secret" not in text and "policy_version" not in text


def _up_layout(data_dir: Path, ports: list[int]) -> None:
    """The files `up` leaves in its data dir: configs with the listen address, passwords."""
    nats_dir = data_dir / "nats"
    dirs = [nats_dir] if len(ports) == 1 else [nats_dir / f"n{i + 1}" for i in range(len(ports))]
    for folder, port in zip(dirs, ports, strict=True):
        folder.mkdir(parents=True)
        (folder / "nats-server.conf").write_text(f"server_name: x\nlisten: 127.0.0.1:{port}\n")
    (nats_dir / "nats-users.json").write_text(json.dumps({"admin": "s3cret"}))


def test_the_url_up_prints_gets_the_credentials_up_keeps(tmp_path: Path) -> None:
    _up_layout(tmp_path, [4301])

    def url(nats_url: str | None) -> str | None:
        return stream_url(load_settings({"DISPATCH1310_DATA": str(tmp_path), "NATS_URL": nats_url or ""}))

    assert url(None) == "nats://admin:s3cret@127.0.0.1:4301"
    assert url("nats://127.0.0.1:4301") == "nats://admin:s3cret@127.0.0.1:4301"
    assert url("nats://localhost:4301") == "nats://admin:s3cret@localhost:4301"
    assert url("127.0.0.1:4301") == "nats://admin:s3cret@127.0.0.1:4301"
    # Another server never gets up's password; a URL with its own user is used as written.
    assert url("nats://127.0.0.1:4302") == "nats://127.0.0.1:4302"
    assert url("nats://nats.example:4301") == "nats://nats.example:4301"
    assert url("nats://me:pw@127.0.0.1:4301") == "nats://me:pw@127.0.0.1:4301"
    assert stream_url(load_settings({"DISPATCH1310_DATA": str(tmp_path / "none")})) is None


def test_a_cluster_run_by_up_is_found_too(tmp_path: Path) -> None:
    _up_layout(tmp_path, [4301, 4302, 4303])
    found = stream_url(load_settings({"DISPATCH1310_DATA": str(tmp_path)}))
    assert found == ",".join(f"nats://admin:s3cret@127.0.0.1:{port}" for port in (4301, 4302, 4303))
    printed = "nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303"
    assert stream_url(load_settings({"DISPATCH1310_DATA": str(tmp_path), "NATS_URL": printed})) == found


def test_offsets_are_shown_as_given_zone() -> None:
    berlin = parse_timezone("Europe/Berlin")
    assert local("2026-06-27T10:00:00Z", berlin) == "2026-06-27T12:00:00+02:00"
    assert local("2026-06-27T10:00:00+00:00", timezone(timedelta(hours=8)), "%H:%M") == "18:00"


def test_a_county_report_by_community_names_each_community() -> None:
    from services.cli.commands.audit import report_text

    stage = {"calls": 1, "met": 1, "missed": 0, "pending": 0, "percent_within_target": 100.0,
             "p50_s": 1.0, "p90_s": 1.0, "max_s": 1.0, "desk_confirmed": 0}  # fmt: skip
    body = {
        "calls": 2, "cancelled": 0, "false_alarms": 0, "merged": 0, "drills": 0, "group_by": "community",
        "stages": {"contact": stage},
        "groups": {"xf": {"stages": {"contact": stage}}, "(unknown)": {"stages": {"contact": stage}}},
    }  # fmt: skip
    names = Names(communities={"xf": "翔凤社区"})
    text = report_text(body, names, UTC, "UTC")
    assert "by community:" in text and "翔凤社区" in text and "(unknown community)" in text
