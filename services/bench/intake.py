"""Intake benchmark: raise -> CallRaised acknowledged, raise -> ContactShared / ResponderAssigned
and raise -> first NotificationSent (the notifier's dev adapters), at a fixed offered rate
(open loop), plus max sustained calls/s; each beside a raw JetStream publish baseline of the
same payload size on the same server, measured in the same run."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from events import subjects
from services.bench.cpu import CpuMeter
from services.bench.http_load import ConnectionPool
from services.bench.system import BenchSystem, rss_mb

PAYLOAD_BYTES = 900  # about the size of a stored CallRaised
NOTIFIED_GRACE_S = 3.0  # how long past the last page to wait for its first NotificationSent


def percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def at(q: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else None

    return {
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2) if ordered else None,
        "n": len(ordered),
    }


async def open_loop(
    rate: float, seconds: float, one: Callable[[int, float], Coroutine[Any, Any, None]]
) -> None:
    """Start request i at t0 + i/rate whatever earlier ones are doing (no coordinated omission)."""
    count = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)


async def closed_loop(
    concurrency: int, seconds: float, one: Callable[[int], Coroutine[Any, Any, bool]]
) -> float:
    """Completed operations per second with ``concurrency`` workers back to back."""
    done = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, counter
        while time.perf_counter() < deadline:
            counter += 1
            if await one(counter):
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return round(done / (time.perf_counter() - started), 1)


def _first_seen(seen: dict[str, float]) -> Callable[[Msg], Coroutine[Any, Any, None]]:
    async def on_event(msg: Msg) -> None:
        seen.setdefault(subjects.call_id_of(msg.subject), time.perf_counter())

    return on_event


def _since(sent: dict[str, float], seen: dict[str, float]) -> list[float]:
    return [(seen[cid] - at) * 1000 for cid, at in sent.items() if cid in seen]


async def _settle(sent: dict[str, float], seen: dict[str, float], grace_s: float) -> None:
    """Wait for every call to be seen, while the last one seen is less than ``grace_s`` ago
    (a notifier that sends nothing costs ``grace_s``, not the whole timeout)."""
    last, count = time.perf_counter(), len(seen)
    while any(cid not in seen for cid in sent) and time.perf_counter() - last < grace_s:
        await asyncio.sleep(0.05)
        if len(seen) != count:
            last, count = time.perf_counter(), len(seen)


def _end_to_end_rate(sent: dict[str, float], paged: dict[str, float], started: float) -> float:
    """Calls per second from the first raise until the last of them was paged
    (``ResponderAssigned``) while every service runs: what the system sustains, not only the
    intake's acks. (Not the first ``NotificationSent``: the notifier paces each person to 5
    messages a minute by design, and a benchmark town pages its members more often.)"""
    done = [paged[cid] for cid in sent if cid in paged]
    if not done:
        return 0.0
    return round(len(done) / (max(done) - started), 1)


class IntakeBench:
    def __init__(self, system: BenchSystem) -> None:
        self.system = system
        self.buildings = system.building_ids()
        self.sequence = 0

    def body(self) -> dict[str, Any]:
        self.sequence += 1
        n = self.sequence
        return {
            "caller": {"name": f"居民{n}", "phone": f"13{n:09d}"},
            "building_id": self.buildings[n % len(self.buildings)],
            "kind": "flood",
            "note": "bench " + "x" * 200,
        }

    async def run(self, rate: float, seconds: float, max_seconds: float, open_calls: int) -> dict[str, Any]:
        nc = await nats.connect(self.system.nats.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"], storage=StorageType.FILE))
        contact_at: dict[str, float] = {}
        assigned_at: dict[str, float] = {}
        notified_at: dict[str, float] = {}
        for event_type, seen in (
            ("ContactShared", contact_at),
            ("ResponderAssigned", assigned_at),
            ("NotificationSent", notified_at),
        ):
            await nc.subscribe(subjects.call_type_filter(event_type), cb=_first_seen(seen))
        http = await ConnectionPool(self.system.http_url, 128).open()
        try:
            await self._raise(http)  # warm up
            meter = CpuMeter(self._pids()).start()
            acked, sent, errors = await self._offered(http, rate, seconds, contact_at)
            await _settle(sent, notified_at, NOTIFIED_GRACE_S)
            cpu = meter.per_call(len(sent))
            raw = await self._raw_offered(js, rate, seconds)
            sustained_sent: dict[str, float] = {}
            started = time.perf_counter()
            sustained = await closed_loop(32, max_seconds, lambda _: self._raise(http, sustained_sent))
            await _settle(sustained_sent, assigned_at, NOTIFIED_GRACE_S)
            end_to_end = _end_to_end_rate(sustained_sent, assigned_at, started)
            payload = b"x" * PAYLOAD_BYTES
            raw_sustained = await closed_loop(32, max_seconds, lambda i: self._raw_publish(js, payload, i))
            await self._fill(http, open_calls)
        finally:
            http.close()
            await nc.close()
        return {
            "offered_rate_per_s": rate,
            "seconds": seconds,
            "raise_to_call_raised_acked": percentiles(acked),
            "raise_to_contact_shared": percentiles(_since(sent, contact_at)),
            "raise_to_responder_assigned": percentiles(_since(sent, assigned_at)),
            "raise_to_first_notification_sent": {
                **percentiles(_since(sent, notified_at)),
                "missing": sum(1 for cid in sent if cid not in notified_at),
            },
            "errors": errors,
            "baseline_raw_jetstream_publish": percentiles(raw),
            "services": sorted(self.system.processes.children),
            "cpu_ms_per_call": cpu,
            "max_sustained_calls_per_s": sustained,
            "sustained_end_to_end_calls_per_s": end_to_end,
            "baseline_raw_publish_per_s": raw_sustained,
            "throughput_ratio_vs_raw": round(sustained / raw_sustained, 3) if raw_sustained else None,
            "end_to_end_ratio_vs_raw": round(end_to_end / raw_sustained, 3) if raw_sustained else None,
            "rss_mb_at_open_calls": {
                "open_calls": open_calls,
                **{name: rss_mb(self.system.pid(name)) for name in self.system.processes.children},
            },
        }

    async def _offered(
        self, http: ConnectionPool, rate: float, seconds: float, contact_at: dict[str, float]
    ) -> tuple[list[float], dict[str, float], int]:
        sent: dict[str, float] = {}
        acked: list[float] = []
        errors = 0

        async def one(i: int, scheduled: float) -> None:
            nonlocal errors
            status, data = await http.post_json("/api/calls", self.body())
            if status != 201:
                errors += 1
                return
            acked.append((time.perf_counter() - scheduled) * 1000)
            sent[json.loads(data)["call_id"]] = scheduled

        await open_loop(rate, seconds, one)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and any(cid not in contact_at for cid in sent):
            await asyncio.sleep(0.05)
        errors += sum(1 for cid in sent if cid not in contact_at)
        return acked, sent, errors

    async def _raw_offered(self, js: Any, rate: float, seconds: float) -> list[float]:
        payload = b"x" * PAYLOAD_BYTES
        latencies: list[float] = []

        async def one(i: int, scheduled: float) -> None:
            await js.publish(f"bench.offered.{i}", payload, headers={"Nats-Msg-Id": f"o{i}"})
            latencies.append((time.perf_counter() - scheduled) * 1000)

        await open_loop(rate, seconds, one)
        return latencies

    async def _raw_publish(self, js: Any, payload: bytes, i: int) -> bool:
        await js.publish(f"bench.closed.{i}", payload, headers={"Nats-Msg-Id": f"c{i}"})
        return True

    async def _raise(self, http: ConnectionPool, sent: dict[str, float] | None = None) -> bool:
        at = time.perf_counter()
        status, data = await http.post_json("/api/calls", self.body())
        if status == 201 and sent is not None:
            sent[json.loads(data)["call_id"]] = at
        return status == 201

    def _pids(self) -> dict[str, int]:
        pids = {name: proc.pid for name, proc in self.system.processes.children.items()}
        if self.system.nats.process is not None:
            pids["nats_server"] = self.system.nats.process.pid
        return pids

    async def _fill(self, http: ConnectionPool, open_calls: int) -> None:
        """Raise calls until ``open_calls`` are open (nobody answers within the bench)."""
        missing = max(open_calls - self.sequence, 0)
        semaphore = asyncio.Semaphore(64)

        async def one() -> None:
            async with semaphore:
                await self._raise(http)

        await asyncio.gather(*(one() for _ in range(missing)))
