"""Replay speed: rebuild every audit projection from 100,000 stored events (events/s),
beside the raw speed of reading the same stream the same way (ordered consumer, callback)
with no decoding and no fold."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from events import codec, subjects
from events.models import (
    Caller,
    CallEvent,
    CallRaised,
    ContactShared,
    DispatchAccepted,
    ResponderArrived,
    ResponderAssigned,
    StageTimes,
)
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore, stream_seq
from services.adapters.verify import verify_stream
from services.audit.replay import rebuild
from services.domain.invariants import Limits, Report
from services.runtime.processes import declare_streams

EVENTS_PER_CALL = 5


def _events_of(n: int, at: datetime) -> list[CallEvent]:
    call_id = f"r{n}"
    due = StageTimes(
        contact=at + timedelta(seconds=60),
        reach=at + timedelta(seconds=180),
        onsite=at + timedelta(seconds=600),
    )
    person = f"g{n % 50}"
    return [
        CallRaised(
            event_id=f"{call_id}-0",
            call_id=call_id,
            at=at,
            caller=Caller(name="r", phone="1"),
            building_id=f"b{n % 100}",
            district_id=f"d{n % 10}",
            due=due,
            policy_version="bench",
        ),
        ResponderAssigned(
            event_id=f"{call_id}-1",
            call_id=call_id,
            at=at + timedelta(seconds=1),
            responder_id=person,
            name=person,
            level="building",
            dispatch_id=f"{call_id}-d",
            ack_timeout_s=45,
        ),
        ContactShared(
            event_id=f"{call_id}-2",
            call_id=call_id,
            at=at + timedelta(seconds=1),
            responder_id=person,
            name=person,
        ),
        DispatchAccepted(
            event_id=f"{call_id}-3",
            call_id=call_id,
            at=at + timedelta(seconds=30),
            responder_id=person,
            dispatch_id=f"{call_id}-d",
        ),
        ResponderArrived(
            event_id=f"{call_id}-4", call_id=call_id, at=at + timedelta(seconds=400), responder_id=person
        ),
    ]


async def _fill(url: str, events: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    start = datetime(2026, 6, 27, tzinfo=UTC)
    pending = []
    for n in range(events // EVENTS_PER_CALL):
        for event in _events_of(n, start + timedelta(seconds=n)):
            pending.append(
                await js.publish_async(subjects.call_subject(event.call_id, event.type), codec.encode(event))
            )
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await nc.close()


async def _measure(url: str) -> tuple[int, float, int, float, Report, float]:
    nc = await nats.connect(url)
    state, seconds = await rebuild(JetStreamEventStore(nc), None)
    report, verify_seconds = await verify_stream(nc, datetime.now(UTC), Limits(notifications=False))
    js = nc.jetstream()
    end = (await js.stream_info(subjects.CALLS_STREAM)).state.last_seq
    raw = 0
    done = asyncio.Event()

    async def count(msg: Msg) -> None:
        nonlocal raw
        raw += 1
        if stream_seq(msg) >= end:
            done.set()

    started = time.perf_counter()
    sub = await js.subscribe(
        subjects.CALLS_SUBJECTS,
        cb=count,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        pending_msgs_limit=200_000,
    )
    await done.wait()
    raw_seconds = time.perf_counter() - started
    await sub.unsubscribe()
    await nc.close()
    return state.events, seconds, raw, raw_seconds, report, verify_seconds


def replay_bench(quick: bool) -> dict[str, Any]:
    events = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="dispatch1310-replay-") as tmp:
        server = EmbeddedNats(Path(tmp) / "nats").start()
        try:
            asyncio.run(declare_streams(server.url))
            filled = time.monotonic()
            asyncio.run(_fill(server.url, events))
            fill_s = time.monotonic() - filled
            folded, seconds, raw, raw_seconds, report, verify_seconds = asyncio.run(_measure(server.url))
        finally:
            server.stop()
    return {
        "events": folded,
        "replay_events_per_s": round(folded / seconds, 1),
        "baseline_raw_ordered_read_events_per_s": round(raw / raw_seconds, 1),
        "ratio_vs_raw": round((folded / seconds) / (raw / raw_seconds), 3),
        # dispatch1310 verify over the same stream (read, decode, check every invariant).
        "verify_events_per_s": round(report.events / verify_seconds, 1),
        "verify_ratio_vs_raw": round((report.events / verify_seconds) / (raw / raw_seconds), 3),
        "verify_ok": report.ok,
        "fill_s": round(fill_s, 1),
    }
