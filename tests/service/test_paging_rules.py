"""Paging rules from the contract, on a real nats-server: going away while paged counts as a
decline; someone becoming available is paged at once for an open call nobody holds."""

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


async def test_someone_back_is_paged_for_an_open_call_nobody_holds(system: System) -> None:
    for person in ("r1", "r2"):
        response = await system.http.post(
            f"/api/responders/{person}/availability", json={"status": "away"}, headers=DESK
        )
        assert response.status_code == 200
    call_id = (await system.raise_call("b22", kind="dispute"))["call_id"]  # b22 has nobody: district first
    for level in ("district", "community"):
        await system.log.wait_type(call_id, "ResponderAssigned", timeout=10)
        escalated = await system.http.post(
            f"/api/calls/{call_id}/escalate", json={"reason": "水位上涨", "from_level": level}, headers=DESK
        )
        assert escalated.status_code == 200, escalated.text
    escalations = await system.log.wait_type(call_id, "EscalationRaised", count=2, timeout=10)
    assert [(e.from_level, e.to_level) for e in escalations][-1] == ("community", "professional")
    # Everyone at the top is away: nobody is paged there...
    assert not [e for e in await system.log.of(call_id) if getattr(e.event, "level", None) == "professional"]
    # ...until one of them is back.
    back = await system.http.post(
        "/api/responders/r2/availability", json={"status": "available"}, headers=DESK
    )
    assert back.status_code == 200
    pages = await system.log.wait_type(call_id, "ResponderAssigned", count=1, timeout=10)
    await system.log.wait_type(call_id, "ResponderAssigned", count=len(pages) + 1, timeout=10)
    top = [
        e.event
        for e in await system.log.of(call_id)
        if e.event.type == "ResponderAssigned" and e.event.level == "professional"
    ]
    assert [p.responder_id for p in top] == ["r2"]


async def test_the_desk_cannot_page_someone_away(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned", timeout=10)
    away = await system.http.post("/api/responders/v1/availability", json={"status": "away"}, headers=DESK)
    assert away.status_code == 200
    refused = await system.http.post(
        f"/api/calls/{call_id}/assign", json={"responder_id": "v1"}, headers=DESK
    )
    assert refused.status_code == 409 and "away" in refused.json()["detail"]
