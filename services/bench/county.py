"""``dispatch1310 bench county``: a county of 50 communities x 100 buildings against one
community of the same buildings per community, in the same run: raise -> ContactShared at a
fixed offered rate, and deadline lateness (``DeadlineMissed`` against its due time)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats

from events import subjects
from services.bench.deadlines import _observe_misses, calls_due
from services.bench.http_load import ConnectionPool
from services.bench.intake import IntakeBench, _first_seen, _since, percentiles
from services.bench.scale import sized
from services.bench.system import bench_system


def _people(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"id": f"{prefix}-{n}", "name": f"{prefix}-{n}", "phone": "1"} for n in range(count)]


def _districts(prefix: str, buildings: int) -> list[dict[str, object]]:
    """``buildings`` buildings in districts of 10, two members each."""
    return [
        {
            "id": f"{prefix}d{d}",
            "name": f"{prefix}片区{d}",
            "leaders": _people(f"{prefix}p{d}", 1),
            "buildings": [
                {
                    "id": f"{prefix}b{d}-{b}",
                    "name": f"{prefix}楼{d}-{b}",
                    "members": _people(f"{prefix}g{d}-{b}", 2),
                }
                for b in range(10)
            ],
        }
        for d in range(buildings // 10)
    ]


def county_roster(communities: int = 50, buildings: int = 100) -> dict[str, object]:
    """A county: ``communities`` communities of ``buildings`` buildings, each its own duty desk."""
    return {
        "county": {"id": "county", "name": "County", "duty": _people("k", 1)},
        "professional": [{"id": "r1", "name": "救援队", "phone": "119"}],
        "supervisors": [{"id": "s1", "name": "S", "token": "bench-supervisor"}],
        "communities": [
            {
                "id": f"c{c}",
                "name": f"社区{c}",
                "duty": _people(f"c{c}duty", 1),
                "districts": _districts(f"c{c}", buildings),
            }
            for c in range(communities)
        ],
    }


def community_roster(buildings: int = 100) -> dict[str, object]:
    """One community of ``buildings`` buildings: the baseline."""
    return {
        "community": {"id": "one", "name": "One", "duty": _people("duty", 1)},
        "professional": [{"id": "r1", "name": "救援队", "phone": "119"}],
        "supervisors": [{"id": "s1", "name": "S", "token": "bench-supervisor"}],
        "districts": _districts("", buildings),
    }


async def _contact(bench: IntakeBench, rate: float, seconds: float) -> dict[str, Any]:
    system = bench.system
    nc = await nats.connect(system.nats.url)
    contact_at: dict[str, float] = {}
    await nc.subscribe(subjects.call_type_filter("ContactShared"), cb=_first_seen(contact_at))
    http = await ConnectionPool(system.http_url, 128).open()
    try:
        await bench._raise(http)  # warm up
        _, sent, errors = await bench._offered(http, rate, seconds, contact_at)
    finally:
        http.close()
        await nc.close()
    return {"raise_to_contact_shared": percentiles(_since(sent, contact_at)), "errors": errors}


def _one(roster: dict[str, object], quick: bool) -> dict[str, Any]:
    rate, seconds = sized(quick, full=(200, 10), quick_size=(100, 3), smoke_size=(50, 1))
    count, window_s, lead_s = calls_due(quick)
    with bench_system(services=("intake", "dispatcher"), roster=roster) as system:
        contact = asyncio.run(_contact(IntakeBench(system), rate, seconds))
    with bench_system(services=("deadlines",), roster=roster) as system:
        late = asyncio.run(_observe_misses(system, count, window_s, lead_s))
    return {
        **contact,
        "offered_rate_per_s": rate,
        "deadline_missed_lateness": {**percentiles(late), "missing": count - len(late)},
        "open_calls_for_deadlines": count,
    }


def county_bench(quick: bool) -> dict[str, Any]:
    """The same load on one community and on a county of 50 (buildings per community alike)."""
    started = time.monotonic()
    one = _one(community_roster(), quick)
    county = _one(county_roster(), quick)
    return {
        "one_community": {"communities": 1, "buildings": 100, **one},
        "county": {"communities": 50, "buildings": 5000, **county},
        "took_s": round(time.monotonic() - started, 1),
    }
