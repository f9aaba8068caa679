"""``dispatch1310 simulate SCENARIO``: scripted residents and responders against a running system."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx

from services.domain.roster import RosterError, load_roster_file
from services.runtime.settings import load_settings
from services.simulator.runner import Simulation, SimulationError
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
        print(f"dispatch1310: {exc}", file=sys.stderr)
        return 2
    simulation = Simulation(scenario, settings.http_url, roster, settings.token, seed=args.seed)
    code = 0
    try:
        asyncio.run(simulation.run())
    except KeyboardInterrupt:
        code = 130
    except (SimulationError, httpx.HTTPError) as exc:
        print(f"dispatch1310: {exc}", file=sys.stderr)
        code = 1
    # Whatever stopped the run, it has put back what it changed; say what it did and restored.
    result = simulation.result
    print(json.dumps({"summary": result.summary(), "report": result.report}, ensure_ascii=False, indent=2))
    for line in result.closing_lines():
        print(line, file=sys.stderr)
    if code == 0 and (not result.raised or result.cleanup_errors):
        code = 1
    return code
