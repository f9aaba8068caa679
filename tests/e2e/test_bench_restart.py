"""`dispatch1310 bench restart --quick`: for each history size, the time from starting the
deadlines keeper and the dispatcher until an overdue deadline fires, beside the raw time to
read the stream once (the figures themselves are judged in BENCHMARKS.md, not here).

At the smoke size (``DISPATCH1310_BENCH_SMOKE=1``: no history, then 1,200 events instead of
``--quick``'s 12,000): the same path (fill, first start folding the history, restart from the
restart points), on less history."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_bench_restart_prints_the_restart_time_per_history_size_beside_the_raw_read() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "bench", "restart", "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DISPATCH1310_BENCH_SMOKE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)["restart"]
    runs = figures["runs"]
    assert next(run["events"] for run in runs) == 0 and runs[-1]["events"] >= 1_000
    for run in runs:
        assert run["restart"]["deadline_fired_s"] > 0, run  # the overdue call fired after the restart
        assert run["restart"]["paged_s"] > 0, run  # and the dispatcher paged it
        assert run["first_start"]["deadline_fired_s"] > 0, run
    assert runs[-1]["raw_read_once_s"] > 0
    assert set(figures["goal"]) == {"largest_events", "ratio_vs_empty", "met"}
