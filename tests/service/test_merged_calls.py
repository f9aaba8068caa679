"""A merged call keeps its own close (issue 15, defect 2), on a real nats-server.

A caller raises ``other`` for a building; a neighbour raises ``fire`` there a moment later and
is merged. The fire joining pages professionals on the call it joined. When the first caller
cancels, the fire call does not die with it: it stands alone, is dispatched, and its clock runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.adapters.verify import verify_stream
from services.deadlines.app import build as build_deadlines
from services.domain.invariants import Limits
from services.runtime.settings import Targets
from tests.service.conftest import System
from tests.support import running


@pytest.fixture
async def clocked(system: System) -> AsyncIterator[System]:
    deadlines = await build_deadlines(system.settings)
    async with running(deadlines):
        yield system


@pytest.fixture
def system_settings(nats_server, tmp_path):  # type: ignore[no-untyped-def]
    from tests.support import make_settings

    return make_settings(nats_server.url, tmp_path, targets=Targets(30, 60, 90))


async def test_a_merged_fire_survives_the_cancel_of_the_call_it_joined(clocked: System) -> None:
    system = clocked
    first = await system.raise_call("b12", kind="other", caller={"name": "张三", "phone": "13800000001"})
    await system.log.wait_type(first["call_id"], "ContactShared", timeout=10)
    fire = await system.raise_call("b12", kind="fire", caller={"name": "李四", "phone": "13800000002"})
    fire_id = fire["call_id"]
    await system.log.wait_type(fire_id, "CallMerged", timeout=10)
    # The fire joining upgrades the paging of the call it joined: professionals at once.
    await system.log.wait_type(first["call_id"], "CallJoined", timeout=10)
    pages = await system.log.wait_type(first["call_id"], "ResponderAssigned", count=3, timeout=10)
    assert {p.responder_id for p in pages if p.level == "professional"} == {"r1", "r2"}

    cancelled = await system.http.post(
        f"/api/calls/{first['call_id']}/cancel", json={}, headers={"X-Call-Secret": first["secret"]}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    # The fire call stands alone again, is dispatched on its own, and reads open.
    (unmerged,) = await system.log.wait_type(fire_id, "CallUnmerged", timeout=10)
    assert unmerged.reason == "joined_call_cancelled"
    own_pages = await system.log.wait_type(fire_id, "ResponderAssigned", count=3, timeout=10)
    assert {p.responder_id for p in own_pages} >= {"g1", "r1", "r2"}
    view = (await system.http.get(f"/api/calls/{fire_id}")).json()
    assert view["status"] == "open" and view["merged_into"] is None
    assert view["contact"] is not None and view["contact"]["id"] in {"g1", "r1", "r2"}
    # Its clock runs again from the unmerge (a deadline a long way off, not already passed).
    assert datetime.fromisoformat(view["stages"]["onsite"]["due_at"]) > unmerged.at

    # Its own caller can still cancel it: its own close.
    done = await system.http.post(
        f"/api/calls/{fire_id}/cancel", json={}, headers={"X-Call-Secret": fire["secret"]}
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    report, _ = await verify_stream(system.nc, datetime.now(UTC), Limits(notifications=False))
    assert report.ok, report.violations
