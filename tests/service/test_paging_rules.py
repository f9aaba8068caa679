"""Paging rules from the contract, on a real nats-server: going away (through the RESPONDERS
stream the dispatcher follows) while paged counts as a decline; the desk cannot page someone
away. Someone becoming available is paged at once for an open call nobody holds: tested on
fakes (tests/handlers/test_dispatcher.py)."""

from __future__ import annotations

from tests.service.conftest import System
from tests.support import bearer

DESK = bearer("demo-supervisor")


async def test_going_away_while_paged_counts_as_a_decline(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    (first,) = await system.log.wait_type(call_id, "ResponderAssigned", timeout=10)
    assert first.responder_id == "g1"
    away = await system.http.post(
        "/api/responders/g1/availability", json={"status": "away"}, headers=bearer("demo-g1")
    )
    assert away.status_code == 200, away.text
    (declined,) = await system.log.wait_type(call_id, "DispatchDeclined", timeout=10)
    assert (declined.responder_id, declined.note) == ("g1", "away")
    pages = await system.log.wait_type(call_id, "ResponderAssigned", count=2, timeout=10)
    assert [p.responder_id for p in pages] == ["g1", "g2"]


async def test_the_desk_cannot_page_someone_away(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned", timeout=10)
    away = await system.http.post("/api/responders/v1/availability", json={"status": "away"}, headers=DESK)
    assert away.status_code == 200
    refused = await system.http.post(
        f"/api/calls/{call_id}/assign", json={"responder_id": "v1"}, headers=DESK
    )
    assert refused.status_code == 409 and "away" in refused.json()["detail"]
