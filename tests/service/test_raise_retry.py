"""A resident's retry is never refused by the per-address limit (issue 15, defect 6).

One address (a compound's shared uplink) is behind many residents. A raise that hit a
store outage (503) is retried by the resident's page with the same Idempotency-Key; the
neighbours raising meanwhile must not use up a budget the retry is then refused by.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
import pytest
from nats.aio.client import Client

from events.models import CallEvent
from services.adapters.jetstream_store import JetStreamEventStore
from services.domain.clock import ManualClock
from services.domain.event_store import StoreUnavailable
from services.domain.ids import call_id_for_key
from services.domain.phones import normalise_phone
from services.intake import deps as intake_deps
from services.runtime.settings import Settings
from tests.support import EventLog, serving_intake

PHONE = "13800000123"
KEY = "tap-1"


@dataclass
class Intake:
    http: httpx.AsyncClient
    log: EventLog


@pytest.fixture
async def intake(system_settings: Settings, nc: Client) -> AsyncIterator[Intake]:
    """The intake alone, its clock stopped: the address's budget does not refill mid-test."""
    async with serving_intake(system_settings, clock=ManualClock()) as http:
        yield Intake(http, EventLog(JetStreamEventStore(nc)))


def body(phone: str, building: str = "b12") -> dict[str, object]:
    return {"caller": {"name": "王阿姨", "phone": phone}, "building_id": building, "kind": "flood"}


def store_away_for(monkeypatch: pytest.MonkeyPatch, call_id: str, times: int) -> list[str]:
    """The event store refuses the first ``times`` appends of one call, as in an outage."""
    refused: list[str] = []
    original = JetStreamEventStore.append

    async def append(
        self: JetStreamEventStore, cid: str, events: Sequence[CallEvent], expected_version: int
    ) -> int:
        if cid == call_id and len(refused) < times:
            refused.append(cid)
            raise StoreUnavailable("no stream leader (simulated)")
        return await original(self, cid, events, expected_version)

    monkeypatch.setattr(JetStreamEventStore, "append", append)
    monkeypatch.setattr(intake_deps, "STORE_RETRY_S", 0.3)  # give up quickly: 503 in a moment
    return refused


async def exhaust_address(intake: Intake) -> None:
    """Neighbours behind the same address raise until it is over its budget."""
    for n in range(12):
        response = await intake.http.post("/api/calls", json=body(f"1390000{n:04d}", "b14"))
        assert response.status_code == 201, response.text
    again = await intake.http.post("/api/calls", json=body("13900000000", "b14"))
    assert again.status_code == 429, "the neighbours did not exhaust the address's budget"


async def test_a_retry_after_503_is_stored_though_neighbours_used_up_the_address(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = call_id_for_key(f"{normalise_phone(PHONE)}/{KEY}")  # the key is scoped by the phone
    refused = store_away_for(monkeypatch, call_id, times=1_000)
    first = await intake.http.post("/api/calls", json=body(PHONE), headers={"Idempotency-Key": KEY})
    assert first.status_code == 503 and refused, first.text
    monkeypatch.undo()  # the store is back

    await exhaust_address(intake)

    retry = await intake.http.post("/api/calls", json=body(PHONE), headers={"Idempotency-Key": KEY})
    assert retry.status_code == 201, retry.text
    assert retry.json()["call_id"] == call_id
    assert "CallRaised" in await intake.log.types(call_id)
    # ... and a retry of it now that it is stored returns the same call, still not refused.
    again = await intake.http.post("/api/calls", json=body(PHONE), headers={"Idempotency-Key": KEY})
    assert again.status_code in (200, 201), again.text
    assert again.json()["call_id"] == call_id
    assert (await intake.log.types(call_id)).count("CallRaised") == 1


async def test_a_retry_of_a_stored_call_returns_it_after_the_address_is_over_budget(
    intake: Intake,
) -> None:
    stored = await intake.http.post("/api/calls", json=body(PHONE), headers={"Idempotency-Key": KEY})
    assert stored.status_code == 201, stored.text
    await exhaust_address(intake)
    for _ in range(5):  # the page lost the answer and tries again, several times
        retry = await intake.http.post("/api/calls", json=body(PHONE), headers={"Idempotency-Key": KEY})
        assert retry.status_code in (200, 201), retry.text
        assert retry.json()["call_id"] == stored.json()["call_id"]
        assert retry.json()["secret"] == stored.json()["secret"]
    # A new call from that phone (another key) is still limited like any other.
    other = await intake.http.post("/api/calls", json=body(PHONE), headers={"Idempotency-Key": "tap-2"})
    assert other.status_code == 429, other.text
