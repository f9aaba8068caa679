"""``dispatch1310 simulate SCENARIO``: scripted residents and responders against a running system."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from services.common.roster import RosterError, load_roster_file
from services.common.settings import load_settings
from services.simulator.runner import Simulation
from services.simulator.scenario import ScenarioError, load_scenario


def register(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="drive a running system with a scenario (flood-surge, quiet-night, drill or a YAML file)",
    )
    p.add_argument("scenario", help="flood-surge | quiet-night | drill | path/to/scenario.yaml")
    p.add_argument("--speed", type=float, default=1.0, help="run N times faster (divide every duration by N)")
    p.add_argument("--calls", type=float, default=1.0, help="multiply call counts (e.g. 0.1 for a small run)")
    p.add_argument("--seed", type=int, default=1310)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        scenario = load_scenario(args.scenario).scaled(args.speed, args.calls)
        roster = load_roster_file(settings.roster_path)
    except (ScenarioError, RosterError) as exc:
        print(f"dispatch1310: {exc}")
        return 2
    simulation = Simulation(scenario, settings.http_url, roster, settings.token, seed=args.seed)
    result = asyncio.run(simulation.run())
    print(json.dumps({"summary": result.summary(), "report": result.report}, ensure_ascii=False, indent=2))
    return 0 if result.raised else 1
