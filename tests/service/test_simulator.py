"""The simulator drives the system through its public API; a small drill run checks its report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.adapters.verify import verify_stream
from services.audit.app import build as build_audit
from services.domain.invariants import Limits
from services.domain.roster import load_roster_file
from services.simulator.runner import Simulation
from services.simulator.scenario import Behaviour, CallWave, Scenario, load_scenario
from tests.service.conftest import System
from tests.support import bearer, running, wait_for

SUPERVISOR = bearer("demo-supervisor")
RESPONDER_ACTIONS = {
    "DispatchAccepted",
    "DispatchDeclined",
    "ResponderEnRoute",
    "ResponderArrived",
    "CallResolved",
}


async def test_drill_scenario_at_small_scale(system: System) -> None:
    scenario = load_scenario("drill").scaled(speed=100, calls=0.5)
    simulation = Simulation(
        scenario, system.settings.http_url, load_roster_file(None), "demo-supervisor", progress=False
    )
    async with running(await build_audit(system.settings)):
        result = await simulation.run()
        headers = {"Authorization": "Bearer demo-supervisor"}
        excluded = (await system.http.get("/api/reports/compliance", headers=headers)).json()
    summary = result.summary()
    assert summary["calls_raised"] == 10 and summary["calls_refused"] == {}
    # Every drill call was contacted; merged duplicates show the primary's contact.
    assert all(view["contact"] for view in result.final.values())
    assert all(view["drill"] for view in result.final.values())
    assert result.actions["accept_200"] >= 1 and result.actions["arrive_200"] >= 1
    assert summary["statuses"].get("resolved", 0) >= 1
    # The report the simulator printed includes the drill; by default drills are left out.
    report = result.report
    assert report is not None, result.report_error
    assert report["drills"] == 10 and report["include_drills"] is True
    merged = report["merged"]
    assert report["calls"] + merged + report["cancelled"] + report["false_alarms"] == 10
    assert report["stages"]["contact"]["met"] + report["stages"]["contact"]["missed"] == report["calls"]
    assert excluded["calls"] == 0 and excluded["drills"] == 0
    # And the history the simulation left holds every safety invariant (no notifier runs here).
    checked, _ = await verify_stream(system.nc, datetime.now(UTC), Limits(notifications=False))
    assert checked.ok and checked.calls == 10, checked.violations


async def _availability(system: System) -> dict[str, tuple[Any, Any]]:
    response = await system.http.get("/api/responders", headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    return {row["id"]: (row["status"], row["until"]) for row in response.json()}


async def test_a_simulation_acts_only_on_its_own_calls_and_restores_availability(system: System) -> None:
    # A real emergency at b12 is open and its grid member g1 has been paged.
    real = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(real, "ResponderAssigned")
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    g3_away = await system.http.post(
        "/api/responders/g3/availability", json={"status": "away", "until": until}, headers=SUPERVISOR
    )
    assert g3_away.status_code == 200, g3_away.text
    before = await wait_for(
        lambda: _if_busy(system, "g1"), timeout=10, what="g1 shown busy with the real call"
    )
    # The scenario sends g2 and v1 away, so its calls at b12 page g1 too; g3 was away already.
    fast = (0.05, 0.1)
    scenario = Scenario(
        name="own-calls",
        waves=(CallWave(count=2, over_s=0.1, buildings=("b12",)),),
        responders=Behaviour(
            accept_after_s=fast, arrive_after_s=fast, resolve_after_s=fast, decline_rate=0, no_answer_rate=0
        ),
        away=("g2", "v1", "g3"),
        settle_s=10,
    )
    simulation = Simulation(
        scenario, system.settings.http_url, load_roster_file(None), "demo-supervisor", progress=False
    )
    result = await simulation.run()

    assert len(result.raised) == 2 and result.actions["accept_200"] >= 1
    assert all(view["drill"] for view in result.final.values()) and len(result.final) == 2
    touched = RESPONDER_ACTIONS & set(await system.log.types(real))
    assert not touched, f"the simulation acted on the real call: {touched}"
    assert (await system.http.get(f"/api/calls/{real}")).json()["status"] == "open"
    try:
        await wait_for(lambda: _same_as(system, before), timeout=10, what="availability as before the run")
    except AssertionError:
        assert await _availability(system) == before  # shows which people differ
    assert before["g3"][0] == "away" and before["g3"][1] is not None  # kept away, with its end time


async def _if_busy(system: System, person: str) -> dict[str, tuple[Any, Any]] | None:
    rows = await _availability(system)
    return rows if rows[person][0] == "busy" else None


async def _same_as(system: System, before: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]] | None:
    rows = await _availability(system)
    return rows if rows == before else None


async def test_an_interrupted_simulation_still_restores_availability_and_closes_its_drills(
    system: System,
) -> None:
    before = await _availability(system)
    scenario = Scenario(
        name="interrupted",
        waves=(CallWave(count=1, over_s=0.1, buildings=("b14",)),),
        responders=Behaviour(no_answer_rate=1.0),  # nobody answers: the drill stays open
        away=("g3",),
        settle_s=60,
    )
    simulation = Simulation(
        scenario, system.settings.http_url, load_roster_file(None), "demo-supervisor", progress=False
    )
    run = asyncio.create_task(simulation.run())
    (drill,) = await wait_for(lambda: simulation.result.raised, timeout=10, what="the drill raised")
    await system.log.wait_type(drill, "ResponderAssigned")
    run.cancel()  # what Ctrl-C does to `dispatch1310 simulate`
    with pytest.raises(asyncio.CancelledError):
        await run

    assert await system.log.wait_type(drill, "CallCancelled")
    assert simulation.result.interrupted and simulation.result.restored == ["g3"]
    try:
        await wait_for(lambda: _same_as(system, before), timeout=10, what="availability as before the run")
    except AssertionError:
        assert await _availability(system) == before
