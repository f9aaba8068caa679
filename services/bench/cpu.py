"""CPU time of processes (Linux ``/proc/<pid>/stat``), for CPU per call per service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (0.0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 (state) is index 0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class CpuMeter:
    """CPU used by each named process between ``start`` and ``per_call``."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {
            **{name: cpu_seconds(pid) for name, pid in self.pids.items()},
            "load_generator": self_cpu_seconds(),
        }

    def start(self) -> CpuMeter:
        self.before = self._now()
        return self

    def per_call(self, calls: int) -> dict[str, float | None]:
        """Milliseconds of CPU per call for each process, their sum over the system (load
        generator excluded), and the machine's 1-minute load average at the end."""
        after = self._now()
        ms = {
            name: round((after[name] - self.before[name]) * 1000 / calls, 2) if calls else None
            for name in after
        }
        system = [v for name, v in ms.items() if name != "load_generator" and v is not None]
        return {**ms, "system_total": round(sum(system), 2), "load_avg_1m": round(os.getloadavg()[0], 2)}
