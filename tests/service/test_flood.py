"""A flood from one address is contained without losing a real call (issue 16).

Beyond the address's budget of new phones (5 per 10 minutes), raises are still stored (201)
but held: nobody is paged, no deadline escalates them, the duty officer on duty is paged once
for the flood, and the board shows them held for one-tap triage: dispatch or false alarm.

Here through the HTTP API on a real server; that held calls wait for the desk while every due
time passes, and a released call's clock starts at its release, is tested on a manual clock
(tests/handlers/test_dispatcher.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.adapters.verify import verify_stream
from services.domain.invariants import Limits
from tests.service.conftest import System
from tests.support import bearer, make_settings

DESK = bearer("demo-supervisor")


@pytest.fixture
def system_settings(nats_server, tmp_path):  # type: ignore[no-untyped-def]
    from services.runtime.settings import Targets

    # Deadlines far away: nothing falls due during the test (no deadline service runs).
    return make_settings(
        nats_server.url,
        tmp_path,
        new_phones_per_address=5,
        targets=Targets(600, 1200, 1800),
        merge_window_s=0.001,
    )


async def test_a_flood_of_new_phones_is_held_for_the_desk_and_loses_nothing(system: System) -> None:
    buildings = ["b12", "b14", "b21", "b22"]
    calls = []
    for n in range(9):  # one address, nine "residents", each a new phone, different buildings
        calls.append(
            await system.raise_call(buildings[n % 4], caller={"name": f"居民{n}", "phone": f"1390000{n:04d}"})
        )
    genuine, flood = calls[:5], calls[5:]
    for call in genuine:
        await system.log.wait_type(call["call_id"], "ResponderAssigned", timeout=10)
        assert call["held"] is False
    for call in flood:
        assert call["held"] is True and call["status"] == "open"  # stored, 201, nothing lost
        types = await system.log.types(call["call_id"])
        assert types[:2] == ["CallRaised", "CallHeld"]
    # The duty officer is told once, on the flood's first held call; nobody else is paged.
    first = await system.log.wait_type(flood[0]["call_id"], "ResponderAssigned", timeout=10)
    on_duty = (await system.http.get("/api/duty", headers=DESK)).json()["on_duty"]["id"]
    assert [(p.responder_id, p.level) for p in first] == [(on_duty, "community")]
    for call in flood[1:]:
        assert "ResponderAssigned" not in await system.log.types(call["call_id"])
    board = (await system.http.get("/api/board", headers=DESK)).json()
    held = {row["call_id"] for row in board["calls"] if row["held"]}
    assert held == {call["call_id"] for call in flood}
    # Triage: one is genuine (dispatched now, its clock started afresh), one a false alarm.
    released = await system.http.post(f"/api/calls/{flood[1]['call_id']}/release", json={}, headers=DESK)
    assert released.status_code == 200 and released.json()["held"] is False
    pages = await system.log.wait_type(flood[1]["call_id"], "ResponderAssigned", timeout=10)
    assert pages[0].responder_id != "c1" or pages[0].level != "community"
    again = await system.http.post(f"/api/calls/{flood[1]['call_id']}/release", json={}, headers=DESK)
    assert again.status_code == 409  # no longer held
    false_alarm = await system.http.post(
        f"/api/calls/{flood[2]['call_id']}/resolve", json={"outcome": "false_alarm"}, headers=DESK
    )
    assert false_alarm.status_code == 200 and false_alarm.json()["status"] == "resolved"
    # A responder cannot release a held call.
    refused = await system.http.post(
        f"/api/calls/{flood[3]['call_id']}/release", json={}, headers=bearer("demo-g1")
    )
    assert refused.status_code == 403
    report, _ = await verify_stream(system.nc, datetime.now(UTC), Limits(notifications=False))
    assert report.ok, report.violations
