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

from events import codec, subjects
from events.models import (
    CallEvent,
)
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.verify import verify_stream
from services.audit.replay import rebuild
from services.bench.history import handled_call
from services.bench.raw_read import raw_ordered_read
from services.bench.scale import sized
from services.domain.invariants import Limits, Report
from services.runtime.processes import declare_streams

EVENTS_PER_CALL = 5


def _events_of(n: int, at: datetime) -> list[CallEvent]:
    return handled_call(f"r{n}", at, f"b{n % 100}", f"d{n % 10}", f"g{n % 50}", resolved=False)


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
    raw, raw_seconds = await raw_ordered_read(nc)
    await nc.close()
    return state.events, seconds, raw, raw_seconds, report, verify_seconds


def replay_bench(quick: bool) -> dict[str, Any]:
    events = sized(quick, full=100_000, quick_size=10_000, smoke_size=2_000)
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
