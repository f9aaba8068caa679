"""Read ``CALLS`` and ``RESPONDERS`` once and check every call against the safety invariants."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from nats.aio.client import Client

from events import codec, subjects
from events.models import AvailabilityChanged
from services.adapters.jetstream_store import read_messages, stream_seq
from services.domain.invariants import Limits, Record, Report, check_records

Progress = Callable[[int, float], None]


async def verify_stream(
    nc: Client, now: datetime, limits: Limits = Limits(), progress: Progress | None = None
) -> tuple[Report, float]:
    """The report over everything stored up to now, and the seconds it took."""
    started = time.perf_counter()
    away: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
    async for msg in read_messages(nc, subjects.RESPONDERS_STREAM, "responders.>"):
        try:
            fact = codec.decode_message(msg.subject, msg.data)
        except codec.DecodeError:
            continue
        if isinstance(fact, AvailabilityChanged):
            away[fact.responder_id].append((fact.at, fact.status == "away"))
    records: list[Record] = []
    async for msg in read_messages(nc, subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS):
        records.append(Record(stream_seq(msg), msg.subject, msg.data))
        if progress is not None and len(records) % 10_000 == 0:
            progress(len(records), time.perf_counter() - started)
    report = check_records(records, now, limits, away)
    return report, time.perf_counter() - started
