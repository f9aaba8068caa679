"""The CLI as a person runs it beside `dispatch1310 up`: `replay` given the NATS URL `up`
printed reads the stream with the credentials `up` keeps (it used to loop on "Authorization
Violation" tracebacks). The other commands are tested in-process: tests/service/test_cli*.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.adapters.embedded_nats import free_port
from services.runtime.processes import wait_healthy


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_replay_with_the_url_up_prints(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DISPATCH1310_HTTP": f"127.0.0.1:{port}",
        "DISPATCH1310_DATA": str(tmp_path / "data"),
        "DISPATCH1310_LOG_LEVEL": "WARNING",
    }
    env.pop("NATS_URL", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert up.stdout is not None
        first = up.stdout.readline()  # "nats      nats://127.0.0.1:PORT  (embedded; ...)"
        assert first.startswith("nats"), first
        printed_url = first.split()[1]
        assert "@" not in printed_url  # no credentials in what `up` shows
        assert wait_healthy(f"http://127.0.0.1:{port}", 30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            body = {"caller": {"name": "居民", "phone": "13800000001"}, "building_id": "b12"}
            assert http.post("/api/calls", json=body).status_code == 201

        started = time.monotonic()
        done = _cli({**env, "NATS_URL": printed_url}, "replay")
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < 30
        assert "Traceback" not in done.stderr and "Authorization Violation" not in done.stderr
        result = json.loads(done.stdout)
        assert result["calls"] == 1 and result["live_compared"] and result["differences"] == []
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=30)
