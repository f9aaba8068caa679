"""`dispatch1310 up`: the intake's /metrics adds up what every service process recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from services.adapters.embedded_nats import free_port
from tests.operator_metrics import samples, value

CALL = {"caller": {"name": "王阿姨", "phone": "13800000000"}, "building_id": "b12", "kind": "flood"}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _wait(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_metrics_of_every_service_process_reach_the_intake(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DISPATCH1310_HTTP": f"127.0.0.1:{port}",
        "DISPATCH1310_DATA": str(tmp_path / "data"),
        "DISPATCH1310_TARGETS": "0.5,1,2",
    }
    for name in ("NATS_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    stale = tmp_path / "data" / "metrics" / "counter_old-1.db"  # a previous run's figures
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\0" * 8)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: _get(f"{url}/healthz"), 30, "/healthz")
        assert not stale.exists(), "a new run starts its counters at 0"
        request = urllib.request.Request(
            f"{url}/api/calls", json.dumps(CALL).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201

        def recorded_everywhere() -> dict | None:
            page = samples(_get(f"{url}/metrics"))
            up = {labels["service"]: v for labels, v in page.get("dispatch1310_service_up", [])}
            durables = {
                labels["durable"] for labels, _ in page.get("dispatch1310_consumer_pending_messages", [])
            }
            done = (
                up == dict.fromkeys(("intake", "dispatcher", "deadlines", "audit", "notifier"), 1.0)
                and value(page, "dispatch1310_deadline_lateness_seconds_count", stage="reach")
                >= 1  # deadlines
                and value(page, "dispatch1310_page_deliveries_total", outcome="sent") >= 1  # notifier
                and value(page, "dispatch1310_http_requests_total", route="/api/calls", status="201") == 1
                and durables >= {"dispatcher", "notifier"}
            )
            return page if done else None

        page = _wait(recorded_everywhere, 40, "figures from every service process")
        # Prometheus text from several processes, added up once: one series per label set.
        assert len(page["dispatch1310_service_up"]) == 5
        assert value(page, "dispatch1310_open_calls") == 1
        assert any((tmp_path / "data" / "metrics").glob("histogram_*.db"))
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, output
