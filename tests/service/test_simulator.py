"""The simulator drives the system through its public API; a small drill run checks its report."""

from __future__ import annotations

from services.common.roster import load_roster_file
from services.simulator.runner import Simulation
from services.simulator.scenario import load_scenario
from tests.service.conftest import System


async def test_drill_scenario_at_small_scale(system: System) -> None:
    scenario = load_scenario("drill").scaled(speed=100, calls=0.5)
    simulation = Simulation(
        scenario, system.settings.http_url, load_roster_file(None), "demo-supervisor", progress=False
    )
    result = await simulation.run()
    summary = result.summary()
    assert summary["calls_raised"] == 10 and summary["calls_refused"] == {}
    # Every drill call was contacted; merged duplicates show the primary's contact.
    assert all(view["contact"] for view in result.final.values())
    assert all(view["drill"] for view in result.final.values())
    assert result.actions["accept_200"] >= 1 and result.actions["arrive_200"] >= 1
    assert summary["statuses"].get("resolved", 0) >= 1
