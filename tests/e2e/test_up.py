"""`dispatch1310 up`: embedded nats-server as a child, /healthz within 20 s, clean stop."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from services.adapters.embedded_nats import free_port
from services.adapters.signing import sign as webhook_signature
from services.runtime.settings import DEV_WEBHOOK_SECRET


def _children(pid: int) -> list[str]:
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines()[1:] if line.split(None, 2)[1] == str(pid)]


def _inbound_sms_status(port: int, secret: str) -> int:
    body = json.dumps({"from": "13111111111", "text": "1"}).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/inbound/sms",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Dispatch1310-Timestamp": timestamp,
            "X-Dispatch1310-Signature": webhook_signature(secret, timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_up_serves_healthz_with_embedded_nats_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DISPATCH1310_HTTP": f"127.0.0.1:{port}",
        "DISPATCH1310_DATA": str(tmp_path / "data"),
    }
    env.pop("NATS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        healthy = False
        while time.monotonic() - started < 20:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    healthy = response.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        assert healthy, "no /healthz 200 within 20 s"
        children = _children(proc.pid)
        assert any("nats-server" in line for line in children), children
        assert any("service intake" in line for line in children), children
        nats_dir = tmp_path / "data" / "nats"  # the credentials `up` generated: the owner's only
        for path, mode in (
            (nats_dir, 0o700),
            (nats_dir / "nats-server.conf", 0o600),
            (nats_dir / "nats-users.json", 0o600),
        ):
            assert stat.S_IMODE(path.stat().st_mode) == mode, path
        # Out of the box, with auth on: the webhook secret is one made in the data dir, not the
        # development secret everyone knows (inbound answers signed with that are refused).
        secret_file = tmp_path / "data" / "keys" / "webhook-secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        made = secret_file.read_text().strip()
        assert _inbound_sms_status(port, made) == 404  # signed: nobody in the roster has that phone
        assert _inbound_sms_status(port, DEV_WEBHOOK_SECRET) == 401
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, output
    assert "stopped" in output
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", "an orphan process survived `up`"
