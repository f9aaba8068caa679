"""`dispatch1310 up` keeps the system alive and takes it down with it (issue 15, defect 5):
its nats-server killed, it starts it again and calls are taken; `up` itself killed with
kill -9, no service or server of it is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.adapters.embedded_nats import free_port


def _processes_of(marker: str) -> list[int]:
    """Pids whose command line or environment names ``marker`` (the test's own data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def _children(pid: int) -> dict[int, str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    rows = (line.split(None, 2) for line in out.splitlines()[1:])
    return {int(row[0]): row[2] for row in rows if len(row) == 3 and row[1] == str(pid)}


def _wait(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _raise_call(http: httpx.Client) -> dict | None:
    try:
        response = http.post(
            "/api/calls", json={"caller": {"name": "王阿姨", "phone": "13800000000"}, "building_id": "b12"}
        )
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 201 else None


def test_up_restarts_its_killed_nats_server_and_dies_whole_on_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "supervised-data"
    port = free_port()
    env = {**os.environ, "DISPATCH1310_HTTP": f"127.0.0.1:{port}", "DISPATCH1310_DATA": str(data)}
    env.pop("NATS_URL", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "up.log").open("wb"),
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            _wait(lambda: _raise_call(http), 30, "a first call taken")
            nats = [pid for pid, args in _children(up.pid).items() if "nats-server" in args]
            assert len(nats) == 1, _children(up.pid)
            os.kill(nats[0], signal.SIGKILL)
            # The same server comes back (port, data): calls are taken and dispatched again.
            call = _wait(lambda: _raise_call(http), 30, "a call taken after nats-server was killed")
            view = _wait(
                lambda: (v := http.get(f"/api/calls/{call['call_id']}").json())["contact"] and v,
                15,
                "the call dispatched after the restart",
            )
            assert view["contact"]["id"] == "g1"
        assert any("nats-server" in args for args in _children(up.pid).values()), "no nats-server under up"
        assert len(_processes_of(str(data))) >= 6  # the server and five services, all ours
        os.kill(up.pid, signal.SIGKILL)
        up.wait(10)
        _wait(
            lambda: not _processes_of(str(data)), 10, "every service and nats-server gone after kill -9 of up"
        )
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        for pid in _processes_of(str(data)):  # orphans left by a failed run
            os.kill(pid, signal.SIGKILL)
        print((tmp_path / "up.log").read_text(errors="replace")[-3000:])
