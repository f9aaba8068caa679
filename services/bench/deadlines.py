"""Deadline lateness at many open calls: when does ``DeadlineMissed`` reach a subscriber,
compared with its due time; beside the lateness of raw JetStream message schedules
(``Nats-Schedule: @at``) with the same due times on the same server, in the same run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from events import codec, subjects
from events.models import Caller, CallRaised, DeadlineMissed, StageTimes
from services.adapters.jetstream_store import JetStreamEventStore
from services.bench.intake import percentiles
from services.bench.scale import sized
from services.bench.system import BenchSystem, bench_system, rss_mb


def calls_due(quick: bool) -> tuple[int, float, float]:
    """How many calls fall due, over how many seconds, after how long a lead (time to store
    every call before the first falls due)."""
    return sized(quick, full=(10_000, 40.0, 8.0), quick_size=(1_000, 6.0, 3.0), smoke_size=(100, 1.0, 2.0))


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _raise_calls(system: BenchSystem, count: int, window_s: float, lead_s: float) -> datetime:
    nc = await nats.connect(system.nats.url)
    store = JetStreamEventStore(nc)
    buildings = system.building_ids()
    first_due = datetime.now(UTC) + timedelta(seconds=lead_s)
    semaphore = asyncio.Semaphore(128)

    async def one(i: int) -> None:
        contact = first_due + timedelta(seconds=window_s * i / count)
        event = CallRaised(
            event_id=f"bench-raise-{i}",
            call_id=f"bench{i}",
            at=datetime.now(UTC),
            caller=Caller(name="bench", phone="1"),
            building_id=buildings[i % len(buildings)],
            due=StageTimes(
                contact=contact, reach=contact + timedelta(hours=1), onsite=contact + timedelta(hours=2)
            ),
            policy_version="bench",
        )
        async with semaphore:
            await store.append(event.call_id, [event], 0)

    await asyncio.gather(*(one(i) for i in range(count)))
    await nc.close()
    return first_due


async def _observe_misses(system: BenchSystem, count: int, window_s: float, lead_s: float) -> list[float]:
    nc = await nats.connect(system.nats.url)
    late: list[float] = []
    done = asyncio.Event()

    seen: set[str] = set()

    async def on_missed(msg: Msg) -> None:
        # A core subscription sees a publish retried under load twice (JetStream stores it once).
        event = codec.decode(msg.data)
        if isinstance(event, DeadlineMissed) and event.event_id not in seen:
            seen.add(event.event_id)
            late.append((datetime.now(UTC) - event.due_at).total_seconds() * 1000)
            if len(late) >= count:
                done.set()

    await nc.subscribe(subjects.call_type_filter("DeadlineMissed"), cb=on_missed)
    await nc.flush()
    first_due = await _raise_calls(system, count, window_s, lead_s)
    remaining = (first_due - datetime.now(UTC)).total_seconds() + window_s + 30
    with contextlib.suppress(TimeoutError):  # missing ones are reported as missing
        await asyncio.wait_for(done.wait(), remaining)
    await nc.close()
    return late


async def _raw_schedules(url: str, count: int, window_s: float, lead_s: float) -> list[float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name="BENCHSCHED", subjects=["benchsched.>"], storage=StorageType.FILE, allow_msg_schedules=True
        )
    )
    fired: list[float] = []
    dues: dict[str, datetime] = {}
    done = asyncio.Event()

    async def on_fire(msg: Msg) -> None:
        fired.append((datetime.now(UTC) - dues[msg.subject]).total_seconds() * 1000)
        if len(fired) >= count:
            done.set()

    await js.subscribe(
        "benchsched.fire.>", cb=on_fire, config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    )
    first_due = datetime.now(UTC) + timedelta(seconds=lead_s)
    semaphore = asyncio.Semaphore(128)

    async def one(i: int) -> None:
        due = first_due + timedelta(seconds=window_s * i / count)
        target = f"benchsched.fire.{i}"
        dues[target] = due
        headers = {"Nats-Schedule": f"@at {_rfc3339(due)}", "Nats-Schedule-Target": target}
        async with semaphore:
            await js.publish(f"benchsched.def.{i}", b"due", headers=headers)

    await asyncio.gather(*(one(i) for i in range(count)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), lead_s + window_s + 30)
    await nc.close()
    return fired


def deadlines(quick: bool) -> dict[str, Any]:
    count, window_s, lead_s = calls_due(quick)
    with bench_system(services=("deadlines",)) as system:
        started = time.monotonic()
        late = asyncio.run(_observe_misses(system, count, window_s, lead_s))
        rss = rss_mb(system.pid("deadlines"))
        raw = asyncio.run(_raw_schedules(system.nats.url, count, window_s, lead_s))
        return {
            "open_calls": count,
            "due_window_s": window_s,
            "due_rate_per_s": round(count / window_s, 1),
            "deadline_missed_lateness": {**percentiles(late), "missing": count - len(late)},
            "baseline_raw_message_schedule_lateness": {**percentiles(raw), "missing": count - len(raw)},
            "deadlines_rss_mb": rss,
            "took_s": round(time.monotonic() - started, 1),
        }
