"""The 1310 clock on a real nats-server with targets 0.5/1.5/3 s (issue 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.common.calls import Calls
from services.common.clock import SystemClock
from services.common.embedded_nats import EmbeddedNats
from services.common.event_store import InMemoryEventStore
from services.deadlines.app import DeadlinesService
from services.deadlines.app import build as build_deadlines
from services.deadlines.keeper import DeadlineKeeper
from tests.factories import raised
from tests.service.conftest import System
from tests.support import bearer, running, wait_for


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


async def test_unanswered_call_escalates_building_district_community(
    system: System, keeper: DeadlinesService
) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    missed = await system.log.wait_type(call_id, "DeadlineMissed", count=2, timeout=6)
    assert [m.stage for m in missed] == ["reach", "onsite"]
    escalations = await system.log.wait_type(call_id, "EscalationRaised", count=2)
    assert [(e.from_level, e.to_level, e.reason) for e in escalations] == [
        ("building", "district", "deadline"),
        ("district", "community", "deadline"),
    ]
    assigned = await system.log.wait_type(call_id, "ResponderAssigned", count=5)
    levels = [a.level for a in assigned]
    assert levels[0] == "building" and levels[1:4] == ["district"] * 3 and levels[4] == "community"
    # The district was paged after reach was missed, the community after onsite.
    assert assigned[1].at >= missed[0].at and assigned[4].at >= missed[1].at
    # Lateness is small: an in-process timer fired, not the sweep.
    assert all(m.late_by_ms < 400 for m in missed), [m.late_by_ms for m in missed]
    await wait_for(lambda: stage_timers_left([keeper], call_id), what="no stage timer left")
    types = await system.log.types(call_id)
    assert types.count("DeadlineMissed") == 2  # contact was met: it never fires


async def test_met_stages_never_fire(system: System, keeper: DeadlinesService) -> None:
    call_id = (await system.raise_call("b21"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    g4 = bearer("demo-g4")
    assert (await system.http.post(f"/api/calls/{call_id}/accept", json={}, headers=g4)).status_code == 200
    assert (await system.http.post(f"/api/calls/{call_id}/arrive", json={}, headers=g4)).status_code == 200
    await wait_for(lambda: stage_timers_left([keeper], call_id), what="every stage met")
    # Past the last due time (3 s) plus a sweep: still nothing fired.
    raised_at = (await system.log.of(call_id))[0].event.at
    await wait_for(
        lambda: keeper.keeper.calls.clock.now() > raised_at.replace() + _seconds(3.6),
        timeout=6,
        what="past due",
    )
    keeper.keeper.sweep()
    assert "DeadlineMissed" not in await system.log.types(call_id)


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


@pytest.fixture
async def ack_system(system_settings, nc) -> AsyncIterator[System]:  # type: ignore[no-untyped-def]
    """Ack timeout 0.5 s, stage targets far away: only ack timers can fire."""
    from services.common.jetstream_store import JetStreamEventStore
    from services.common.settings import Targets
    from services.dispatcher.app import build as build_dispatcher
    from tests.support import EventLog, serving_intake

    settings = system_settings.with_(ack_timeout_s=0.5, targets=Targets(60, 180, 600))
    dispatcher = await build_dispatcher(settings)
    deadlines = await build_deadlines(settings)
    async with serving_intake(settings) as http, running(dispatcher), running(deadlines):
        yield System(settings, http, EventLog(JetStreamEventStore(nc)), nc)


async def test_ack_timeout_pages_the_next_candidate_exactly_once(ack_system: System) -> None:
    system = ack_system
    call_id = (await system.raise_call("b12"))["call_id"]
    assigned = await system.log.wait_type(call_id, "ResponderAssigned", count=2, timeout=4)
    assert [a.responder_id for a in assigned] == ["g1", "g2"]
    timed_out = await system.log.wait_type(call_id, "DispatchTimedOut")
    assert timed_out[0].responder_id == "g1"
    g2 = bearer("demo-g2")
    assert (await system.http.post(f"/api/calls/{call_id}/accept", json={}, headers=g2)).status_code == 200
    # g2 accepted: their ack timer is cancelled, nobody else is paged, nothing else times out.
    accepted_at = (await system.log.wait_type(call_id, "DispatchAccepted"))[0].at
    await wait_for(
        lambda: system.settings and _now() > accepted_at + _seconds(1.0), timeout=3, what="past g2's ack due"
    )
    types = await system.log.types(call_id)
    assert types.count("DispatchTimedOut") == 1 and types.count("ResponderAssigned") == 2, types


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _seconds(value: float):  # type: ignore[no-untyped-def]
    from datetime import timedelta

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


class FlakyStore(InMemoryEventStore):
    """Fails the first append with an error nobody planned for (a leader election, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def append(self, call_id, events, expected_version):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise RuntimeError("no responders available for request")
        return await super().append(call_id, events, expected_version)


async def test_a_firing_that_fails_unexpectedly_is_retried_not_left_to_the_sweep() -> None:
    store = FlakyStore()
    clock = SystemClock()
    now = clock.now()
    raised_event = raised("c1", at=now - timedelta(seconds=70))  # only contact is overdue (10 s)
    version = await InMemoryEventStore.append(store, "c1", [raised_event], 0)
    keeper = DeadlineKeeper(Calls(store, clock), sweep_interval_s=60)
    keeper.on_fact(raised_event, version)
    keeper.start()
    try:

        async def missed() -> list[str]:
            events, _ = await store.load("c1")
            return [e.event.stage for e in events if e.event.type == "DeadlineMissed"]  # type: ignore[attr-defined]

        stages = await wait_for(missed, timeout=3, what="the failed firing to be retried")
        assert store.failures == 0 and stages == ["contact"]
    finally:
        await keeper.stop()
