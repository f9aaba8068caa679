"""The simulator drives the system through its public API; a small drill run checks its report."""

from __future__ import annotations

from services.audit.app import build as build_audit
from services.common.roster import load_roster_file
from services.simulator.runner import Simulation
from services.simulator.scenario import load_scenario
from tests.service.conftest import System
from tests.support import running


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
