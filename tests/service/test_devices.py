"""Device alerts and kind routing on a real nats-server (issue 10)."""

from __future__ import annotations

import asyncio
import json
import time

from services.adapters.embedded_nats import free_port
from services.intake.device_auth import sign
from tests.service.conftest import System
from tests.support import serving_intake

SECRET = "demo-bracelet-secret-7"


def signed(body: dict, secret: str = SECRET, timestamp: float | None = None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    ts = str(int(timestamp if timestamp is not None else time.time()))
    return raw, {"X-Timestamp": ts, "X-Signature": sign(secret, ts, raw), "Content-Type": "application/json"}


def sos(n: int = 0) -> dict:
    return {
        "device_id": "bracelet-7",
        "kind": "sos",
        "position": {"lat": 29.5 + n / 1000, "lon": 109.4},
        "battery": 80,
        "at": "2026-06-27T08:00:00Z",
    }


async def last_seq(system: System) -> int:
    return (await system.nc.jetstream().stream_info("CALLS")).state.last_seq


async def test_signed_sos_pages_the_paired_caretakers_first(system: System) -> None:
    raw, headers = signed(sos())
    response = await system.http.post("/api/alerts/device", content=raw, headers=headers)
    assert response.status_code == 201, response.text
    call_id = response.json()["call_id"]
    raised = (await system.log.wait_type(call_id, "CallRaised"))[0]
    assert (raised.source, raised.device_id, raised.kind, raised.building_id) == (
        "device",
        "bracelet-7",
        "medical",
        "b12",
    )
    assert raised.caller.name == "独居老人 田奶奶"
    assigned = await system.log.wait_type(call_id, "ResponderAssigned")
    assert assigned[0].responder_id == "v7"


async def test_bad_signature_unknown_device_old_timestamp_are_401_and_store_nothing(system: System) -> None:
    before = await last_seq(system)
    raw, headers = signed(sos(), secret="wrong-secret-000")
    assert (await system.http.post("/api/alerts/device", content=raw, headers=headers)).status_code == 401
    raw, headers = signed({**sos(), "device_id": "bracelet-999"})
    assert (await system.http.post("/api/alerts/device", content=raw, headers=headers)).status_code == 401
    raw, headers = signed(sos(), timestamp=time.time() - 3600)
    assert (await system.http.post("/api/alerts/device", content=raw, headers=headers)).status_code == 401
    raw, headers = signed(sos())
    del headers["X-Signature"]
    assert (await system.http.post("/api/alerts/device", content=raw, headers=headers)).status_code == 401
    assert await last_seq(system) == before


async def test_a_replayed_signed_body_is_refused(system: System) -> None:
    raw, headers = signed(sos())
    assert (await system.http.post("/api/alerts/device", content=raw, headers=headers)).status_code == 201
    assert (await system.http.post("/api/alerts/device", content=raw, headers=headers)).status_code == 401


async def test_a_replay_is_refused_by_another_or_a_restarted_intake_too(system: System) -> None:
    raw, headers = signed(sos())
    first = await system.http.post("/api/alerts/device", content=raw, headers=headers)
    assert first.status_code == 201
    # A second intake process (or the first one after a restart) on the same NATS.
    other = system.settings.with_(http_port=free_port())
    async with serving_intake(other) as second:
        replayed = await second.post("/api/alerts/device", content=raw, headers=headers)
        assert replayed.status_code == 401 and "replayed" in replayed.text
    assert "DeviceAlertReceived" not in await system.log.types(first.json()["call_id"])


async def test_ten_sos_in_a_row_make_one_call_with_the_newest_position(system: System) -> None:
    first_raw, first_headers = signed(sos(0))
    first = (await system.http.post("/api/alerts/device", content=first_raw, headers=first_headers)).json()[
        "call_id"
    ]
    bodies = [signed(sos(n)) for n in range(1, 10)]
    # Different bodies, same second: each signature is new; sent concurrently.
    responses = await asyncio.gather(
        *(system.http.post("/api/alerts/device", content=r, headers=h) for r, h in bodies)
    )
    assert {r.status_code for r in responses} == {201}
    assert {r.json()["call_id"] for r in responses} == {first}
    alerts = await system.log.wait_type(first, "DeviceAlertReceived", count=9)
    assert len(alerts) == 9
    assert (await system.log.types(first)).count("CallRaised") == 1
