"""`dispatch1310 bench --quick`: every figure printed as JSON beside its same-run baseline (the
figures themselves are judged in BENCHMARKS.md, not here).

Run at the smoke size (``DISPATCH1310_BENCH_SMOKE=1``, services/bench/scale.py): every benchmark
and every figure as in ``--quick``, on fewer calls, so the suite spends ~25 s here instead of
~60. How long ``--quick`` itself takes (< 2 minutes) is its ``took_s`` figures, kept in
BENCHMARKS.md, not asserted here (a loaded test machine made that a coin toss anyway)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def test_quick_bench_prints_every_figure_with_its_baseline() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=170,
        env={**os.environ, "DISPATCH1310_BENCH_SMOKE": "1"},
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    intake, deadlines, replay, flood = (figures[name] for name in ("intake", "deadlines", "replay", "flood"))
    assert intake["errors"] == 0
    for name in (
        "raise_to_call_raised_acked",
        "raise_to_contact_shared",
        "raise_to_responder_assigned",
        "baseline_raw_jetstream_publish",
    ):
        assert intake[name]["n"] == intake["offered_rate_per_s"] * intake["seconds"], name
        assert 0 < intake[name]["p50_ms"] <= intake[name]["p99_ms"], name
    notified = intake["raise_to_first_notification_sent"]
    assert notified["n"] == intake["offered_rate_per_s"] * intake["seconds"] and notified["missing"] == 0
    assert notified["p50_ms"] >= intake["raise_to_responder_assigned"]["p50_ms"]  # sent after paged
    assert intake["max_sustained_calls_per_s"] > 0 and intake["baseline_raw_publish_per_s"] > 0
    assert deadlines["deadline_missed_lateness"]["missing"] == 0
    assert deadlines["deadline_missed_lateness"]["n"] == deadlines["open_calls"]
    assert deadlines["baseline_raw_message_schedule_lateness"]["n"] == deadlines["open_calls"]
    assert replay["events"] > 0 and replay["replay_events_per_s"] > 0
    assert replay["baseline_raw_ordered_read_events_per_s"] > 0
    assert replay["verify_ok"] and replay["verify_events_per_s"] > 0
    for name in ("genuine_raise_to_contact_without_flood", "genuine_raise_to_contact_during_flood"):
        assert flood[name]["n"] > 0 and 0 < flood[name]["p50_ms"] <= flood[name]["p99_ms"], name
    assert 0 < flood["flood_calls_held"] <= flood["flood_calls_stored"]
    print(f"\nbench --quick (smoke size) took {took:.0f}s")
