"""Restarts that do not refold history (issue 20), on a real nats-server: the deadlines keeper
and the dispatcher resume from the first event of the oldest open call; an overdue call raised
while they were down still fires and is paged; a damaged restart point means a full fold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client

from events import subjects
from events.models import CallRaised, CallResolved, StageTimes
from services.adapters import restart_point
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.deadlines.app import DeadlinesService
from services.deadlines.app import build as build_deadlines
from services.dispatcher.app import build as build_dispatcher
from services.runtime.settings import Settings
from tests.factories import raised
from tests.support import EventLog, make_settings, running, serving_intake, wait_for


@pytest.fixture
def settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    return make_settings(nats_server.url, tmp_path)


def overdue(call_id: str, building_id: str = "b12") -> CallRaised:
    now = datetime.now(UTC)
    due = StageTimes(
        contact=now - timedelta(seconds=1), reach=now + timedelta(hours=1), onsite=now + timedelta(hours=2)
    )
    return raised(call_id, at=now - timedelta(seconds=2), due=due, building_id=building_id)


async def closed_calls(store: JetStreamEventStore, count: int) -> None:
    for n in range(count):
        call_id = f"old{n}"
        # No building: nothing to merge with (a call appended here was never dispatched).
        await store.append(call_id, [raised(call_id, at=datetime.now(UTC), building_id=None)], 0)
        version = await store.last_seq()
        await store.append(
            call_id,
            [CallResolved(event_id=f"{call_id}-r", call_id=call_id, at=datetime.now(UTC), by="g1")],
            version,
        )


async def acked_floor(nc: Client, durable: str, seq: int = 11) -> bool:
    info = await nc.jetstream().consumer_info(subjects.CALLS_STREAM, durable)
    return bool(info.ack_floor and info.ack_floor.stream_seq >= seq)


async def keeper(settings: Settings) -> DeadlinesService:
    service = await build_deadlines(settings)
    assert isinstance(service, DeadlinesService)
    return service


async def test_restarts_fold_from_the_oldest_open_call_and_overdue_deadlines_still_fire(
    settings: Settings, nc: Client, js_store: JetStreamEventStore
) -> None:
    log = EventLog(js_store)
    await closed_calls(js_store, 5)  # seqs 1..10
    await js_store.append("open1", [raised("open1", at=datetime.now(UTC))], 0)  # seq 11, due in a minute
    first = await keeper(settings)
    dispatcher = await build_dispatcher(settings)
    async with running(first), running(dispatcher):
        assert first.follower.started_from == 1  # nothing saved yet: a full fold
        await log.wait_type("open1", "ResponderAssigned")
        # The closed calls' events are handled concurrently with open1's: all of them done
        # (acked) before the stop, or the point saved on stop rightly starts earlier.
        await wait_for(lambda: acked_floor(nc, "dispatcher"), what="every event handled", timeout=10)
    for name in ("deadlines", "dispatcher"):
        point = await restart_point.load(nc, name)
        assert point is not None and point.start_seq == 11, (name, point)

    await js_store.append("late1", [overdue("late1", "b14")], 0)  # raised while both are down
    again = await keeper(settings)
    dispatcher = await build_dispatcher(settings)
    async with running(again), running(dispatcher):
        assert again.follower.started_from == 11
        assert set(again.keeper.open) >= {"open1", "late1"} and "old0" not in again.keeper.open
        await log.wait_type("late1", "DeadlineMissed")
        await log.wait_type("late1", "ResponderAssigned")

    kv = await nc.jetstream().key_value(subjects.RESTART_BUCKET)
    await kv.put("deadlines", b'{"body": {"format": 1, "start_seq": 9')  # torn write
    await js_store.append("late2", [overdue("late2", "b21")], 0)
    damaged = await keeper(settings)
    async with running(damaged):
        assert damaged.follower.started_from == 1
        await log.wait_type("late2", "DeadlineMissed")
    point = await restart_point.load(nc, "deadlines")
    assert point is not None and point.start_seq == 11  # saved afresh


async def test_the_board_resumes_past_old_closed_calls_and_keeps_the_days_history(
    settings: Settings, nc: Client, js_store: JetStreamEventStore
) -> None:
    supervisor = {"Authorization": "Bearer demo-supervisor"}
    await closed_calls(js_store, 3)  # seqs 1..6, closed today: the desk's history
    async with serving_intake(settings) as http:
        raised_now = await http.post(
            "/api/calls", json={"caller": {"name": "王", "phone": "13800000000"}, "building_id": "b12"}
        )
        call_id = raised_now.json()["call_id"]
    point = await restart_point.load(nc, "board")
    assert point is not None and point.start_seq == 1  # the closed calls are within the day

    async with serving_intake(settings) as http:
        board = (await http.get("/api/board", headers=supervisor)).json()
        closed = (await http.get("/api/calls", params={"status": "closed"}, headers=supervisor)).json()
    assert call_id in str(board)
    assert {row["call_id"] for row in closed["calls"]} == {"old0", "old1", "old2"}

    kv = await nc.jetstream().key_value(subjects.RESTART_BUCKET)
    await kv.put("board", restart_point.encode(restart_point.RestartPoint(7, 7, point.stream_created)))
    async with serving_intake(settings) as http:  # a point past the day's closed calls
        board = (await http.get("/api/board", headers=supervisor)).json()
        closed = (await http.get("/api/calls", params={"status": "closed"}, headers=supervisor)).json()
    assert call_id in str(board)  # raised at seq 7: still there
    assert closed["calls"] == []  # the old calls were not taken as calls raised after the point
