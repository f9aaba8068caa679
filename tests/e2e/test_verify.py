"""`dispatch1310 verify` as a supervisor runs it, at the end of a run of `up`: residents raise
calls (neighbours merged), responders answer, decline and arrive, a caller cancels, time passes;
the checker reads CALLS and RESPONDERS with the credentials `up` keeps and finds nothing."""

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

G1 = {"Authorization": "Bearer demo-g1"}
G3 = {"Authorization": "Bearer demo-g3"}
DESK = {"Authorization": "Bearer demo-supervisor"}


def _verify(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "verify", "--json", "--slack", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def _wait(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_verify_is_clean_after_a_run_of_up(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DISPATCH1310_HTTP": f"127.0.0.1:{port}",
        "DISPATCH1310_DATA": str(tmp_path / "data"),
        "DISPATCH1310_TARGETS": "2,4,6",
        "DISPATCH1310_ACK_TIMEOUT": "1.5",
        "DISPATCH1310_LOG_LEVEL": "WARNING",
    }
    env.pop("NATS_URL", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(base, 30)
        with httpx.Client(base_url=base, timeout=10) as http:

            def raise_call(building: str, kind: str, phone: str) -> dict:
                body = {"caller": {"name": "居民", "phone": phone}, "building_id": building, "kind": kind}
                response = http.post("/api/calls", json=body)
                assert response.status_code == 201, response.text
                return response.json()

            def events(call_id: str) -> list[str]:
                return [
                    e["type"]
                    for e in http.get(f"/api/calls/{call_id}/timeline", headers=DESK).json()["events"]
                ]

            held = raise_call("b14", "flood", "13800000001")
            assert _wait(lambda: "ResponderAssigned" in events(held["call_id"]))
            assert (
                http.post(
                    f"/api/calls/{held['call_id']}/accept", json={"responder_id": "g3"}, headers=G3
                ).status_code
                == 200
            )
            declined = raise_call("b12", "other", "13800000002")
            merged = raise_call("b12", "fire", "13800000003")
            assert _wait(lambda: "CallMerged" in events(merged["call_id"]))
            assert (
                http.post(
                    f"/api/calls/{declined['call_id']}/decline", json={"responder_id": "g1"}, headers=G1
                ).status_code
                == 200
            )
            cancel = http.post(
                f"/api/calls/{declined['call_id']}/cancel",
                json={},
                headers={"X-Call-Secret": declined["secret"]},
            )
            assert cancel.status_code == 200
            assert _wait(lambda: "CallUnmerged" in events(merged["call_id"]))
            unknown = raise_call("no-such-building", "medical", "13800000004")
            assert (
                http.post(
                    f"/api/calls/{held['call_id']}/arrive", json={"responder_id": "g3"}, headers=G3
                ).status_code
                == 200
            )
            # Time passes: pages time out, deadlines fire, chains climb to the top.
            assert _wait(lambda: events(unknown["call_id"]).count("DeadlineMissed") >= 2, timeout=30)
            assert _wait(lambda: events(merged["call_id"]).count("DeadlineMissed") >= 2, timeout=30)
        report = _wait(lambda: (r := _verify(env))["ok"] and r, timeout=30) or _verify(env)
        assert report["ok"], json.dumps(report["violations"], ensure_ascii=False, indent=1)
        assert report["calls"] == 4 and report["events"] > 30
        print(
            f"\nverify: {report['calls']} calls, {report['events']} events, {report['events_per_s']} events/s"
        )
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
