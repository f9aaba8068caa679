"""Hostile and odd input at the HTTP edge (issue 16, Input): a 422 naming the field, never a
500; one phone however it is spelled; an Idempotency-Key names one raise; nothing invisible in
a name; a streamed body over the limit is 413; a device timestamp must be a number."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
import pytest_asyncio
from nats.aio.client import Client

from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.streams import CLOCK_SLACK_S, ensure_streams
from services.domain.clock import ManualClock
from services.intake.device_auth import WINDOW_S, sign
from services.runtime.settings import Settings
from tests.conftest import connected, system_running
from tests.service.conftest import System
from tests.service.test_devices import SECRET, signed, sos
from tests.support import EventLog, bearer, make_settings, serving_intake

SUPERVISOR = bearer("demo-supervisor")
JSON = {"Content-Type": "application/json"}
LATE = "9999-12-31T23:59:59-23:59"  # year 10000 in UTC
EARLY = "0001-01-01T00:00:00+23:59"  # year 0 in UTC


async def stored_seqs(nc: Client) -> tuple[int, int]:
    js = nc.jetstream()
    return (await js.stream_info("CALLS")).state.last_seq, (await js.stream_info("RESPONDERS")).state.last_seq


async def raised_count(nc: Client) -> int:
    info = await nc.jetstream().stream_info("CALLS", subjects_filter="calls.*.CallRaised")
    return sum((info.state.subjects or {}).values())


def raise_body(name: str = "王阿姨", phone: str = "13900000001", **fields: object) -> dict[str, object]:
    return {"caller": {"name": name, "phone": phone}, "building_id": "b12", "kind": "flood", **fields}


def refused_at(response: object, *loc: str | int) -> None:
    """A 422 whose detail is JSON naming the field at ``loc`` (a list of errors, or a text
    starting with the field's name)."""
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    if isinstance(detail, str):
        assert detail.startswith(f"{loc[-1]}:"), detail
        return
    assert any(tuple(e["loc"][-len(loc) :]) == loc for e in detail), detail


# The refusal tests below store nothing and each compares the streams' last sequences before
# and after its own request: they share one system, on the module's event loop (starting one
# per test cost more than the tests).
ON_THE_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def module_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def refusing(
    module_nats: EmbeddedNats, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    settings = make_settings(module_nats.url, tmp_path_factory.mktemp("data"))
    async with connected(module_nats) as nc, system_running(settings, nc) as system:
        yield system


@ON_THE_MODULE_LOOP
@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (
            b'{"caller": {"name": "\\ud800", "phone": "13900000001"}, "building_id": "b12"}',
            ("caller", "name"),
        ),
        (b'{"caller": {"name": "\\udfff\\u738b", "phone": "13900000001"}}', ("caller", "name")),
        (b'{"caller": {"name": NaN, "phone": "13900000001"}, "building_id": "b12"}', ("caller", "name")),
        (b'{"caller": {"name": "a", "phone": "13900000001"}, "drill": Infinity}', ("drill",)),
        (b'{"caller": {"name": "a", "phone": "---"}, "building_id": "b12"}', ("caller", "phone")),
        (b'{"caller": {"name": "a", "phone": "12"}, "building_id": "b12"}', ("caller", "phone")),
    ],
)
async def test_hostile_raise_bodies_are_422_naming_the_field_and_store_nothing(
    refusing: System, raw: bytes, loc: tuple[str, ...]
) -> None:
    before = await stored_seqs(refusing.nc)
    refused_at(await refusing.http.post("/api/calls", content=raw, headers=JSON), *loc)
    assert await stored_seqs(refusing.nc) == before


@ON_THE_MODULE_LOOP
@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/responders/g1/availability", {"status": "away", "until": LATE}, ("until",)),
        ("/api/responders/g1/availability", {"status": "away", "until": EARLY}, ("until",)),
        ("/api/duty/overrides", {"person_id": "c1", "from": EARLY, "to": "2026-01-02T00:00:00Z"}, ("from",)),
        ("/api/duty/overrides", {"person_id": "c1", "from": "2026-01-01T00:00:00Z", "to": LATE}, ("to",)),
        ("/api/calls/abc/notes", {"text": "\ud800"}, ("text",)),
        # Representable, but a shift after it is not (the desk answered 500 from then on).
        (
            "/api/duty/overrides",
            {"person_id": "c1", "from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
            ("to",),
        ),
        ("/api/responders/g1/availability", {"status": "away", "until": "9999-12-31T23:59:59Z"}, ("until",)),
    ],
)
async def test_times_beyond_the_calendar_and_surrogates_are_422_naming_the_field(
    refusing: System, path: str, body: dict[str, str], loc: tuple[str, ...]
) -> None:
    before = await stored_seqs(refusing.nc)
    raw = json.dumps(body).encode()  # ensure_ascii: a lone surrogate travels as \ud800
    refused_at(await refusing.http.post(path, content=raw, headers={**JSON, **SUPERVISOR}), *loc)
    assert await stored_seqs(refusing.nc) == before
    assert (await refusing.http.get("/api/duty")).status_code == 200


@ON_THE_MODULE_LOOP
@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("battery", float("nan"), ("battery",)),
        ("at", LATE, ("at",)),
        ("position", {"lat": float("nan"), "lon": 1}, ("lat",)),
    ],
)
async def test_a_signed_device_alert_with_nan_or_beyond_the_calendar_is_422(
    refusing: System, field: str, value: object, loc: tuple[str, ...]
) -> None:
    before = await stored_seqs(refusing.nc)
    raw, headers = signed({**sos(), field: value})  # json.dumps writes NaN
    refused_at(await refusing.http.post("/api/alerts/device", content=raw, headers=headers), *loc)
    assert await stored_seqs(refusing.nc) == before


@ON_THE_MODULE_LOOP
@pytest.mark.parametrize("timestamp", ["nan", "inf", "-inf", "NaN"])
async def test_a_device_timestamp_of_nan_or_inf_is_401_and_stores_nothing(
    refusing: System, timestamp: str
) -> None:
    before = await stored_seqs(refusing.nc)
    raw = json.dumps(sos()).encode()
    headers = {**JSON, "X-Timestamp": timestamp, "X-Signature": sign(SECRET, timestamp, raw)}
    response = await refusing.http.post("/api/alerts/device", content=raw, headers=headers)
    assert response.status_code == 401, response.text
    assert await stored_seqs(refusing.nc) == before


async def test_the_replay_ledger_outlives_a_timestamps_freshness(nc: Client) -> None:
    """The bucket as created, and an older one brought up to it by ``up`` (update=True)."""
    js = nc.jetstream()
    needed = 2 * WINDOW_S + CLOCK_SLACK_S  # accepted a window early, seen by a lagging intake
    assert (await (await js.key_value("devices")).status()).ttl >= needed
    info = await js.stream_info("KV_devices")
    await js.update_stream(replace(info.config, max_age=600.0))  # as an older release made it
    await ensure_streams(js, update=True)
    assert (await (await js.key_value("devices")).status()).ttl >= needed


async def test_spellings_of_one_phone_are_one_phone_for_the_idempotency_key(system: System) -> None:
    key = {"Idempotency-Key": "tap-7"}
    first = await system.http.post("/api/calls", json=raise_body(phone="139-0000-0001"), headers=key)
    assert first.status_code == 201, first.text
    call_id = first.json()["call_id"]
    raised = (await system.log.wait_type(call_id, "CallRaised"))[0]
    assert raised.caller.phone == "+8613900000001"
    for spelling in ("13900000001", "+86 139 0000 0001", "(139)00000001", "008613900000001"):
        again = await system.http.post("/api/calls", json=raise_body(phone=spelling), headers=key)
        assert again.status_code in (200, 201), again.text
        assert (again.json()["call_id"], again.json()["secret"]) == (call_id, first.json()["secret"])
    assert (await system.log.types(call_id)).count("CallRaised") == 1


async def test_an_idempotency_key_reused_with_another_body_is_422_not_the_old_call(system: System) -> None:
    key = {"Idempotency-Key": "tap-8"}
    first = await system.http.post("/api/calls", json=raise_body(), headers=key)
    assert first.status_code == 201, first.text
    before = await raised_count(system.nc)
    for other in (
        raise_body(name="李叔叔"),
        raise_body(kind="fire"),
        raise_body(note="二楼也进水了"),
        raise_body(building_id="b21"),
        raise_body(drill=True),
    ):
        reused = await system.http.post("/api/calls", json=other, headers=key)
        assert reused.status_code == 422, reused.text
        assert "idempotency-key" in reused.text.lower()
        assert first.json()["call_id"] not in reused.text and first.json()["secret"] not in reused.text
    assert await raised_count(system.nc) == before
    # The same body, spelled differently (spaces, phone), is a retry: the same call.
    respelled = raise_body(name="  王阿姨 ", phone="+86 139-0000-0001")
    retry = await system.http.post("/api/calls", json=respelled, headers=key)
    assert retry.status_code in (200, 201) and retry.json()["call_id"] == first.json()["call_id"], retry.text


@pytest.fixture
async def still_intake(system_settings: Settings, nc: Client) -> AsyncIterator[tuple[object, EventLog]]:
    """The intake alone, its clock stopped: no budget refills mid-test."""
    async with serving_intake(system_settings, clock=ManualClock()) as http:
        yield http, EventLog(JetStreamEventStore(nc))


async def test_spellings_of_one_phone_share_one_rate_limit(still_intake: tuple[object, EventLog]) -> None:
    http, _ = still_intake
    spellings = ["13900000009", "+86 139 0000 0009", "139-0000-0009", "(139)00000009", "008613900000009"]
    answers = [
        (await http.post("/api/calls", json=raise_body(phone=s))).status_code  # type: ignore[attr-defined]
        for s in spellings
    ]
    # One phone's budget (6 a minute, 3 at once): its first call, two more, then 429.
    assert answers[:3] == [201, 201, 201] and 429 in answers[3:], answers


async def test_names_and_notes_cannot_disguise_themselves(system: System) -> None:
    disguised = raise_body(name="\u202e\u200b王阿姨\u2066\x1b[2J", note="一楼\u200d进水\x07\r\n快来")
    response = await system.http.post("/api/calls", json=disguised)
    assert response.status_code == 201, response.text
    call_id = response.json()["call_id"]
    raised = (await system.log.wait_type(call_id, "CallRaised"))[0]
    assert (raised.caller.name, raised.note) == ("王阿姨[2J", "一楼进水\n快来")
    await system.log.wait_type(call_id, "ResponderAssigned")
    noted = await system.http.post(
        f"/api/calls/{call_id}/notes", json={"text": "已\u202e联系\u200b"}, headers=SUPERVISOR
    )
    assert noted.status_code == 200, noted.text
    resolved = await system.http.post(
        f"/api/calls/{call_id}/resolve",
        json={"outcome": "false_alarm", "note": "\u2067误报\u2069\x00"},
        headers=SUPERVISOR,
    )
    assert resolved.status_code == 200, resolved.text
    note = (await system.log.wait_type(call_id, "NoteAdded"))[0]
    closed = (await system.log.wait_type(call_id, "CallResolved"))[0]
    assert (note.text, closed.note) == ("已联系", "误报")
    invisible = await system.http.post("/api/calls", json=raise_body(name="\u200b\u202e\u2066"))
    refused_at(invisible, "caller", "name")


async def test_a_chunked_body_over_the_limit_is_413_and_stores_nothing(system: System) -> None:
    before = await stored_seqs(system.nc)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"caller": {"name": "a", "phone": "13900000001"}, "note": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = await system.http.post("/api/calls", content=chunks(), headers=JSON)
    assert response.status_code == 413, response.text
    assert await stored_seqs(system.nc) == before
