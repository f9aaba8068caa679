"""The 1310 clock on a real nats-server with targets 0.5/1.5/3 s (issue 5): two keepers racing on
the stream's expected sequence, a keeper killed -9 and NATS killed across the due time.

When each deadline fires and what it escalates is tested on a manual clock, on fakes
(tests/handlers/test_deadline_keeper.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.adapters.embedded_nats import EmbeddedNats
from services.deadlines.app import DeadlinesService
from services.deadlines.app import build as build_deadlines
from tests.service.conftest import System
from tests.support import running, wait_for


@pytest.fixture
async def keeper(system: System) -> AsyncIterator[DeadlinesService]:
    service = await build_deadlines(system.settings)
    async with running(service):
        assert isinstance(service, DeadlinesService)
        yield service


async def stage_timers_left(services: list[DeadlinesService], call_id: str) -> bool:
    """True once no keeper has a stage timer running on the call (it has fired or been met)."""
    from services.deadlines.domain import timers_for

    for service in services:
        state = service.keeper.open.get(call_id)
        if state is not None and any(t.kind == "stage" for t in timers_for(state)):
            return False
    return True


async def test_two_keepers_record_each_miss_exactly_once(system: System, keeper: DeadlinesService) -> None:
    second = await build_deadlines(system.settings)
    async with running(second):
        assert isinstance(second, DeadlinesService)
        call_ids = [(await system.raise_call(b))["call_id"] for b in ("b12", "b14", "b21")]
        for call_id in call_ids:
            await system.log.wait_type(call_id, "DeadlineMissed", count=2, timeout=8)
        for call_id in call_ids:
            await wait_for(
                lambda c=call_id: stage_timers_left([keeper, second], c), what="both keepers settled"
            )
            second.keeper.sweep()
            keeper.keeper.sweep()
        for call_id in call_ids:
            types = await system.log.types(call_id)
            assert types.count("DeadlineMissed") == 2, types
            assert types.count("EscalationRaised") == 2, types


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _seconds(value: float):  # type: ignore[no-untyped-def]

    return timedelta(seconds=value)


def spawn_deadlines(nats_url: str, log_path: Path) -> subprocess.Popen[bytes]:
    """The deadlines service as a real process; its JSON log goes to ``log_path`` (no pipe to fill)."""
    env = {**os.environ, "NATS_URL": nats_url, "DISPATCH1310_SWEEP": "0.5"}
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "service", "deadlines"],
            env=env,
            stderr=log,
            stdout=log,
        )


async def wait_started(proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 20) -> float:
    """Until the service logs service_started; returns that moment (monotonic)."""

    def started() -> bool:
        assert proc.poll() is None, f"deadlines service exited: {log_path.read_text()[-2000:]}"
        return b"service_started" in log_path.read_bytes()

    await wait_for(started, timeout=timeout, what="the deadlines service to start")
    return time.monotonic()


async def test_kill_9_before_due_fires_exactly_once_after_restart(system: System, tmp_path: Path) -> None:
    proc = spawn_deadlines(system.settings.nats_url or "", tmp_path / "first.log")
    try:
        await wait_started(proc, tmp_path / "first.log")
        call_id = (await system.raise_call("b12"))["call_id"]
        proc.kill()  # kill -9, well before reach (1.5 s) and onsite (3 s) are due
        proc.wait()
        raised_at = (await system.log.of(call_id))[0].event.at
        await wait_for(lambda: _now() > raised_at + _seconds(3.2), timeout=6, what="both deadlines overdue")
        assert "DeadlineMissed" not in await system.log.types(call_id)
        proc = spawn_deadlines(system.settings.nats_url or "", tmp_path / "second.log")
        ready = await wait_started(proc, tmp_path / "second.log")
        missed = await system.log.wait_type(call_id, "DeadlineMissed", count=2, timeout=3)
        assert time.monotonic() - ready < 1.0
        assert sorted(m.stage for m in missed) == ["onsite", "reach"]
        # Both overdue misses were recorded once, escalating one level each.
        escalations = await system.log.wait_type(call_id, "EscalationRaised", count=2)
        assert [e.to_level for e in escalations] == ["district", "community"]
    finally:
        proc.kill()
        proc.wait()
    types = await system.log.types(call_id)
    assert types.count("DeadlineMissed") == 2, types


async def test_nats_killed_across_the_due_time_fires_exactly_once(
    system: System, nats_server: EmbeddedNats, keeper: DeadlinesService
) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ContactShared")
    nats_server.kill()
    raised_at = keeper.keeper.open[call_id].raised.at  # type: ignore[union-attr]
    await wait_for(lambda: _now() > raised_at + _seconds(3.2), timeout=6, what="due while NATS is down")
    nats_server.start()
    restarted = time.monotonic()
    missed = await system.log.wait_type(call_id, "DeadlineMissed", count=2, timeout=15)
    took = time.monotonic() - restarted
    print(f"\nNATS back -> both misses stored in {took:.2f}s")
    assert took < 1.0, f"overdue deadlines fired {took:.2f}s after NATS came back"
    assert sorted(m.stage for m in missed) == ["onsite", "reach"]
    await wait_for(lambda: stage_timers_left([keeper], call_id), timeout=10, what="keeper settled")
    types = await system.log.types(call_id)
    assert types.count("DeadlineMissed") == 2, types
