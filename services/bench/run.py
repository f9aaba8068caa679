"""``dispatch1310 bench``: every benchmark figure next to its same-run baseline, as JSON."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Callable
from typing import Any

from services.bench.county import county_bench
from services.bench.deadlines import deadlines
from services.bench.flood import flood_bench
from services.bench.intake import IntakeBench
from services.bench.replay import replay_bench
from services.bench.restart import restart_bench
from services.bench.scale import sized
from services.bench.system import bench_system
from services.registry import SERVICES


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def intake(quick: bool) -> dict[str, Any]:
    # Every service runs (the notifier with its default dev adapters, which log): raise ->
    # first sent is measured, and the CPU each process spends per call.
    # Enough buildings that few members are paged more than the notifier's per-person budget
    # (5 a minute) allows: raise -> first sent then measures the system, not the pacing.
    rate, seconds, max_seconds, open_calls = sized(
        quick, full=(200, 10, 8, 10_000), quick_size=(200, 3, 2, 200), smoke_size=(50, 1, 0.5, 60)
    )
    with bench_system(services=tuple(SERVICES), buildings=500 if quick else 1000) as system:
        bench = IntakeBench(system)
        return asyncio.run(
            bench.run(rate=rate, seconds=seconds, max_seconds=max_seconds, open_calls=open_calls)
        )


# name -> benchmark; others (deadlines, replay) register here as they are built.
BENCHMARKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "intake": intake,
    "deadlines": deadlines,
    "replay": replay_bench,
    "flood": flood_bench,
    "restart": restart_bench,
    "county": county_bench,
}
# What ``dispatch1310 bench`` runs when no name is given (``restart`` fills a million events
# and starts the services six times, ``county`` runs two systems twice: asked for by name).
DEFAULT = [name for name in BENCHMARKS if name not in ("restart", "county")]


def run(names: list[str], quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    for name in names:
        progress(f"bench {name} ...")
        started = time.monotonic()
        results[name] = BENCHMARKS[name](quick)
        results[name]["took_s"] = round(time.monotonic() - started, 1)
    return results
