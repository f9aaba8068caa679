"""Rebuild every projection from sequence 1 and compare with what the live audit holds."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from events import codec, subjects
from services.adapters.jetstream_store import JetStreamEventStore
from services.audit.projections import AuditState, apply, apply_desk
from services.audit.queries import SUBJECT_PREFIX
from services.audit.summaries import digest

Progress = Callable[[int, int, float], None]


@dataclass
class ReplayResult:
    events: int
    seconds: float
    rebuilt: dict[str, Any]
    live: dict[str, Any] | None
    differences: list[str]

    @property
    def events_per_s(self) -> float:
        return round(self.events / self.seconds, 1) if self.seconds else 0.0


async def rebuild(
    store: JetStreamEventStore, until_seq: int | None, progress: Progress | None = None
) -> tuple[AuditState, float]:
    state = AuditState()
    end = until_seq if until_seq is not None else await store.last_seq()
    started = time.perf_counter()
    async for item in store.read_all(1, until_seq):
        apply(state, item.seq, item.event)
        if progress and state.events % 5000 == 0:
            progress(item.seq, end, time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    if progress:
        progress(end, end, elapsed)
    return state, elapsed


async def rebuild_desk(nc: Client, state: AuditState, until_seq: int | None) -> None:
    """Fold the RESPONDERS stream (availability, duty overrides) into ``state``."""
    js = nc.jetstream()
    end = int((await js.stream_info(subjects.RESPONDERS_STREAM)).state.last_seq)
    if until_seq is not None:
        end = min(end, until_seq)
    if end == 0:
        return
    sub = await js.subscribe(
        ">",
        stream=subjects.RESPONDERS_STREAM,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    try:
        async for msg in sub.messages:
            seq = msg.metadata.sequence.stream
            if seq > end:
                break
            with contextlib.suppress(codec.DecodeError):
                apply_desk(state, seq, codec.decode_message(msg.subject, msg.data))
            if seq >= end:
                break
    finally:
        await sub.unsubscribe()


async def live_digest(nc: Client) -> dict[str, Any] | None:
    try:
        msg = await nc.request(f"{SUBJECT_PREFIX}digest", b"{}", timeout=10)
    except Exception:
        return None
    body = json.loads(msg.data)
    return body["result"] if body.get("ok") else None


def compare(rebuilt: dict[str, Any], live: dict[str, Any]) -> list[str]:
    if rebuilt["sha256"] == live["sha256"]:
        return []
    differences = []
    for part in ("calls", "responders", "points", "availability", "duty_overrides"):
        mine, theirs = rebuilt["content"][part], live["content"][part]
        if mine == theirs:
            continue
        if isinstance(mine, dict):
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key) != theirs.get(key):
                    differences.append(f"{part}.{key}: replay {mine.get(key)} != live {theirs.get(key)}")
        else:
            differences.append(f"{part}: replay {mine} != live {theirs}")
    return differences or ["digests differ"]


async def replay(nc: Client, progress: Progress | None = None) -> ReplayResult:
    live = await live_digest(nc)
    until = live["last_seq"] if live else None
    state, seconds = await rebuild(JetStreamEventStore(nc), until, progress)
    await rebuild_desk(nc, state, live["desk_seq"] if live else None)
    rebuilt = digest(state)
    differences = compare(rebuilt, live) if live else []
    return ReplayResult(state.events, seconds, rebuilt, live, differences)
