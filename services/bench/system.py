"""A throwaway system for benchmarks: embedded nats-server plus services as real processes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.adapters.embedded_nats import EmbeddedNats, free_port
from services.registry import SERVICES
from services.runtime.processes import (
    ProcessGroup,
    declare_streams,
    metrics_env,
    started_services,
    wait_healthy,
    wait_started,
)


def bench_roster(buildings: int = 500) -> dict[str, object]:
    """Many buildings with two members each, so a surge is spread like a real one."""
    districts = []
    for d in range(10):
        districts.append(
            {
                "id": f"d{d}",
                "name": f"片区{d}",
                "leaders": [{"id": f"p{d}", "name": f"书记{d}", "phone": "1", "token": f"bench-p{d}"}],
                "buildings": [
                    {
                        "id": f"b{d}-{b}",
                        "name": f"楼{d}-{b}",
                        "members": [
                            {
                                "id": f"g{d}-{b}-{m}",
                                "name": f"网格员{d}-{b}-{m}",
                                "phone": "1",
                                "token": f"bench-g{d}-{b}-{m}",
                            }
                            for m in range(2)
                        ],
                    }
                    for b in range(buildings // 10)
                ],
            }
        )
    return {
        "community": {"id": "bench", "name": "Bench", "duty": [{"id": "c1", "name": "值班", "phone": "1"}]},
        "professional": [{"id": "r1", "name": "救援队", "phone": "119"}],
        "districts": districts,
        "supervisors": [{"id": "s1", "name": "S", "token": "bench-supervisor"}],
    }


@dataclass
class BenchSystem:
    nats: EmbeddedNats
    http_url: str
    processes: ProcessGroup
    roster: dict[str, object] | None
    env: dict[str, str]

    def pid(self, service: str) -> int:
        return self.processes.children[service].pid

    def building_ids(self) -> list[str]:
        assert self.roster is not None, "building ids come from a roster given to the system"
        roster: Any = self.roster
        districts = roster.get("districts", []) + [
            d for c in roster.get("communities", []) for d in c["districts"]
        ]
        return [b["id"] for d in districts for b in d["buildings"]]


@contextmanager
def process_system(
    services: tuple[str, ...] = tuple(SERVICES),
    env: dict[str, str] | None = None,
    roster: dict[str, object] | None = None,
    supervise: bool = False,
) -> Iterator[BenchSystem]:
    """A throwaway system: embedded nats-server (temp dir) and ``services`` as real processes.

    ``roster`` None keeps the bundled demo roster. ``supervise`` respawns a service that
    exits, as ``dispatch1310 up`` does.
    """
    with tempfile.TemporaryDirectory(prefix="dispatch1310-") as tmp:
        root = Path(tmp)
        server = EmbeddedNats(root / "nats").start()
        # Works from sync code and from inside a running loop (async tests) alike.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, declare_streams(server.url)).result()
        port = free_port()
        full_env = {
            **os.environ,
            "NATS_URL": server.url,
            "DISPATCH1310_HTTP": f"127.0.0.1:{port}",
            **metrics_env(root / "metrics"),  # figures kept as under `up` (the same cost per call)
            **(env or {}),
        }
        if roster is not None:
            roster_path = root / "roster.yaml"
            roster_path.write_text(json.dumps(roster, ensure_ascii=False))  # JSON is YAML, and fast
            full_env["DISPATCH1310_ROSTER"] = str(roster_path)
        group = ProcessGroup()
        try:
            for name in services:
                group.spawn(name, full_env)
            if supervise:
                group.supervise()
            url = f"http://127.0.0.1:{port}"
            if "intake" in services and not wait_healthy(url, 30):
                raise RuntimeError("intake did not start")
            if not wait_started(root / "metrics", services, 30):  # consuming, not only spawned
                started = started_services(root / "metrics")
                raise RuntimeError(f"not started in 30 s: {sorted(set(services) - started)}")
            yield BenchSystem(server, url, group, roster, full_env)
        finally:
            group.stop()
            server.stop()


def bench_system(
    services: tuple[str, ...] = ("intake", "dispatcher"),
    targets: str = "60,180,600",
    buildings: int = 500,
    roster: dict[str, object] | None = None,
) -> Any:
    """The benchmark's system: many buildings, nobody answers, no merging, quiet logs
    (``roster``: another than ``bench_roster(buildings)``, e.g. a county's)."""
    env = {
        "DISPATCH1310_TARGETS": targets,
        "DISPATCH1310_MERGE_WINDOW": "0.001",
        "DISPATCH1310_ACK_TIMEOUT": "600",
        "DISPATCH1310_LOG_LEVEL": "WARNING",
        # The load generator is a whole town behind one address: no flood holding.
        "DISPATCH1310_NEW_PHONES_PER_ADDRESS": "1000000",
    }
    return process_system(services, env, roster or bench_roster(buildings))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0
