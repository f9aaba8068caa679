"""`dispatch1310 up` as a person runs it: embedded nats-server as a child, /healthz within 20 s,
the credentials and keys it makes kept private; the intake's /metrics adds up what every
service process recorded; `replay` given the NATS URL `up` printed reads the stream with the
credentials `up` keeps (it used to loop on "Authorization Violation" tracebacks); and a clean
stop that leaves no process behind.

One `up` for the module (starting one costs seconds of five Python processes importing): the
tests look at independent things, and the last one stops it. Counts the tests assert are of
the calls raised through ``Up.raise_call`` (nobody answers: every one stays open). The other
CLI commands are tested in-process: tests/service/test_cli*.py."""

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.adapters.embedded_nats import free_port
from services.adapters.signing import sign as webhook_signature
from services.runtime.settings import DEV_WEBHOOK_SECRET
from tests.operator_metrics import samples, value

CALL = {"caller": {"name": "王阿姨", "phone": "13800000000"}, "building_id": "b12", "kind": "flood"}


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    url: str
    root: Path
    healthy_after_s: float
    stale_metrics: Path  # a previous run's figures, put there before the start
    raised: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    def output(self) -> str:
        return (self.root / "up.out").read_text(errors="replace")

    def raise_call(self) -> dict:
        request = urllib.request.Request(
            f"{self.url}/api/calls", json.dumps(CALL).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
            self.raised += 1
            return dict(json.loads(response.read()))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("up")
    port = free_port()
    env = {
        **os.environ,
        "DISPATCH1310_HTTP": f"127.0.0.1:{port}",
        "DISPATCH1310_DATA": str(root / "data"),
        "DISPATCH1310_TARGETS": "0.5,1,2",
    }
    for name in ("NATS_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    stale = root / "data" / "metrics" / "counter_old-1.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\0" * 8)
    with (root / "up.out").open("wb") as out, (root / "up.err").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "up"], env=env, stdout=out, stderr=err
        )
    started = time.monotonic()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _get(f"{url}/healthz"), 30, "/healthz")
        yield Up(proc, env, url, root, time.monotonic() - started, stale)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _children(pid: int) -> list[str]:
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines()[1:] if line.split(None, 2)[1] == str(pid)]


def _inbound_sms_status(url: str, secret: str) -> int:
    body = json.dumps({"from": "13111111111", "text": "1"}).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        f"{url}/api/inbound/sms",
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


def test_up_serves_healthz_with_embedded_nats_and_keeps_its_secrets_private(up: Up) -> None:
    assert up.healthy_after_s < 20, f"no /healthz 200 within 20 s ({up.healthy_after_s:.1f} s)"
    children = _children(up.proc.pid)
    assert any("nats-server" in line for line in children), children
    assert any("service intake" in line for line in children), children
    nats_dir = up.data / "nats"  # the credentials `up` generated: the owner's only
    for path, mode in (
        (nats_dir, 0o700),
        (nats_dir / "nats-server.conf", 0o600),
        (nats_dir / "nats-users.json", 0o600),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    # Out of the box, with auth on: the webhook secret is one made in the data dir, not the
    # development secret everyone knows (inbound answers signed with that are refused).
    secret_file = up.data / "keys" / "webhook-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    made = secret_file.read_text().strip()
    assert _inbound_sms_status(up.url, made) == 404  # signed: nobody in the roster has that phone
    assert _inbound_sms_status(up.url, DEV_WEBHOOK_SECRET) == 401


def test_metrics_of_every_service_process_reach_the_intake(up: Up) -> None:
    assert not up.stale_metrics.exists(), "a new run starts its counters at 0"
    up.raise_call()

    def recorded_everywhere() -> dict | None:
        page = samples(_get(f"{up.url}/metrics"))
        services = {labels["service"]: v for labels, v in page.get("dispatch1310_service_up", [])}
        durables = {labels["durable"] for labels, _ in page.get("dispatch1310_consumer_pending_messages", [])}
        done = (
            services == dict.fromkeys(("intake", "dispatcher", "deadlines", "audit", "notifier"), 1.0)
            and value(page, "dispatch1310_deadline_lateness_seconds_count", stage="reach") >= 1  # deadlines
            and value(page, "dispatch1310_page_deliveries_total", outcome="sent") >= 1  # notifier
            and value(page, "dispatch1310_http_requests_total", route="/api/calls", status="201") == up.raised
            and durables >= {"dispatcher", "notifier"}
        )
        return page if done else None

    page = _wait(recorded_everywhere, 40, "figures from every service process")
    # Prometheus text from several processes, added up once: one series per label set.
    assert len(page["dispatch1310_service_up"]) == 5
    assert value(page, "dispatch1310_open_calls") == up.raised
    assert any((up.data / "metrics").glob("histogram_*.db"))


def test_replay_with_the_url_up_prints(up: Up) -> None:
    first = up.output().splitlines()[0]  # "nats      nats://127.0.0.1:PORT  (embedded; ...)"
    assert first.startswith("nats"), first
    printed_url = first.split()[1]
    assert "@" not in printed_url  # no credentials in what `up` shows
    up.raise_call()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "replay"],
        env={**up.env, "DISPATCH1310_LOG_LEVEL": "WARNING", "NATS_URL": printed_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    assert "Traceback" not in done.stderr and "Authorization Violation" not in done.stderr
    result = json.loads(done.stdout)
    assert result["calls"] == up.raised and result["live_compared"] and result["differences"] == []


def test_up_stops_cleanly_and_leaves_no_process(up: Up) -> None:
    """The last test of the module: it stops the `up` the others used."""
    assert up.stop() == 0, up.output()
    assert "stopped" in up.output()
    leftovers = subprocess.run(["pgrep", "-f", str(up.root)], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", "an orphan process survived `up`"
