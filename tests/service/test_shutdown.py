"""A service process while NATS is away (issue 15, defect 5): it idles instead of spinning,
and SIGTERM still ends it within 5 s."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nats.aio.client import Client
from nats.js.errors import NotFoundError

from events import subjects
from services.adapters.embedded_nats import EmbeddedNats, free_port
from tests.support import wait_for


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def test_a_dispatcher_with_nats_away_idles_and_stops_within_5_s_of_sigterm(
    nats_server: EmbeddedNats, nc: Client, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "DISPATCH1310_HTTP": f"127.0.0.1:{free_port()}",
        "DISPATCH1310_DATA": str(tmp_path),
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "service", "dispatcher"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "dispatcher.log").open("wb"),
    )
    assert nats_server.process is not None
    frozen = False
    try:

        async def consuming() -> bool:
            try:
                await nc.jetstream().consumer_info(subjects.CALLS_STREAM, "dispatcher")
            except NotFoundError:
                return False
            return True

        await wait_for(consuming, timeout=30, interval=0.1, what="the dispatcher consuming")
        # NATS away: the server stopped (SIGSTOP), as a host that no longer answers.
        os.kill(nats_server.process.pid, signal.SIGSTOP)
        frozen = True
        before, started = cpu_seconds(service.pid), time.monotonic()
        await asyncio.sleep(3.0)  # the measuring window
        cpu = (cpu_seconds(service.pid) - before) / (time.monotonic() - started)
        assert cpu < 0.10, f"the dispatcher used {cpu:.0%} of a core while NATS was away"
        service.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.wait(5.0)
        assert service.poll() is not None, f"still running {time.monotonic() - sent:.1f} s after SIGTERM"
    finally:
        if frozen:
            os.kill(nats_server.process.pid, signal.SIGCONT)
        if service.poll() is None:
            service.kill()
            service.wait()
