"""Restart time against history: with N events of closed calls in ``CALLS`` (every durable
consumer already past them), how long from starting the deadlines keeper and the dispatcher
until an overdue deadline fires (and until the overdue call is paged), beside the raw time to
read the stream once with nats-py (ordered consumer, no decoding).

Each size runs on its own throwaway server: fill, position the dispatcher's durable after the
filled events, a first start (its figure is the one-off full fold after an upgrade; the
services save their restart points when they stop), then a call raised while they are down
with its contact deadline already passed, and the measured restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import yaml
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events import codec, subjects
from events.models import (
    Caller,
    CallEvent,
    CallRaised,
    StageTimes,
)
from services.adapters.embedded_nats import EmbeddedNats, free_port, nats_server_binary, server_config
from services.bench.history import handled_call
from services.bench.raw_read import raw_ordered_read
from services.bench.scale import sized
from services.bench.system import bench_roster
from services.runtime.processes import ProcessGroup, declare_streams

SERVICES = ("deadlines", "dispatcher")
DURABLE = "dispatcher"
TEMPLATE_ID = "tmpl0000000"  # replaced by each call's id (same length) in the encoded events
FILL_BATCH = 5_000
WAIT_S = 600.0  # a first start over 1M events folds them all (slow before restart points)


def _closed_call(call_id: str, at: datetime, building: str) -> list[CallEvent]:
    return handled_call(call_id, at, building, "d0", "g0-0-0", resolved=True)


async def fill(url: str, events: int) -> float:
    """``events`` events of closed calls (six each), published asynchronously in batches;
    returns the seconds it took. Encoded once from a template: only the call id changes."""
    template = [
        (event.type, codec.encode(event))
        for event in _closed_call(TEMPLATE_ID, datetime(2026, 1, 1, tzinfo=UTC), "b0-0")
    ]
    started = time.perf_counter()
    nc = await nats.connect(url)
    js = nc.jetstream()
    pending: list[asyncio.Future[Any]] = []
    for n in range(-(-events // len(template))):  # whole calls: none is left open
        call_id = f"h{n:010d}"
        raw = call_id.encode()
        for event_type, body in template:
            subject = f"calls.{call_id}.{event_type}"
            pending.append(await js.publish_async(subject, body.replace(TEMPLATE_ID.encode(), raw)))
        if len(pending) >= FILL_BATCH:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await nc.close()
    return time.perf_counter() - started


@contextmanager
def unsynced_server(data_dir: Path) -> Iterator[str]:
    """The embedded server's configuration on ``data_dir`` but without ``sync_interval: always``:
    filling history is set-up, and an fsync per message made a million take half an hour. The
    measured runs use the real configuration on the same data."""
    port = free_port()
    store = (data_dir / "jetstream").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "fill.conf"
    config.write_text(server_config(port, store).replace("  sync_interval: always\n", ""))
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"nats://127.0.0.1:{port}"
        asyncio.run(_wait_accepting(url))
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


async def _wait_accepting(url: str, timeout: float = 15.0) -> None:
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    nc = await nats.connect(url)
    await nc.jetstream().account_info()  # JetStream ready too
    await nc.close()


async def raw_read_s(url: str) -> float:
    """Seconds to read the whole stream once (ordered push consumer, callback, no decoding)."""
    nc = await nats.connect(url)
    try:
        return (await raw_ordered_read(nc))[1]
    finally:
        await nc.close()


async def position_durable(url: str) -> int:
    """The dispatcher's durable, created past every filled event (it handled them all)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    last = int((await js.stream_info(subjects.CALLS_STREAM)).state.last_seq)
    await js.add_consumer(
        subjects.CALLS_STREAM,
        ConsumerConfig(
            durable_name=DURABLE,
            filter_subject=subjects.CALLS_SUBJECTS,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=last + 1,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            max_deliver=8,
            max_ack_pending=1024,
        ),
    )
    await nc.close()
    return last


@dataclass
class Probe:
    """A call raised with its contact deadline passed; when its ``DeadlineMissed`` and its
    first ``ResponderAssigned`` reach a subscriber."""

    call_id: str
    fired: asyncio.Event
    paged: asyncio.Event

    @classmethod
    def new(cls, call_id: str) -> Probe:
        return cls(call_id, asyncio.Event(), asyncio.Event())

    async def watch(self, nc: Client) -> None:
        async def on_msg(msg: Msg) -> None:
            event_type = msg.subject.rsplit(".", 1)[-1]
            if event_type == "DeadlineMissed":
                self.fired.set()
            elif event_type == "ResponderAssigned":
                self.paged.set()

        await nc.subscribe(subjects.call_filter(self.call_id), cb=on_msg)
        await nc.flush()

    async def raise_overdue(self, nc: Client, building_id: str) -> None:
        now = datetime.now(UTC)
        event = CallRaised(
            event_id=f"{self.call_id}-raised",
            call_id=self.call_id,
            at=now - timedelta(seconds=5),
            caller=Caller(name="probe", phone="1"),
            building_id=building_id,
            district_id="d0",
            due=StageTimes(
                contact=now - timedelta(seconds=1),
                reach=now + timedelta(hours=1),
                onsite=now + timedelta(hours=2),
            ),
            policy_version="bench",
        )
        await nc.jetstream().publish(subjects.call_subject(self.call_id, event.type), codec.encode(event))


@contextmanager
def _services(env: dict[str, str]) -> Iterator[ProcessGroup]:
    group = ProcessGroup()
    try:
        for name in SERVICES:
            group.spawn(name, env)
        yield group
    finally:
        group.stop()


async def _start_until_fired(
    url: str, env: dict[str, str], call_id: str, raise_first: bool, building_id: str
) -> dict[str, float]:
    """Raise the probe (before the start when ``raise_first``), start the services, and time
    its deadline firing and its first page from the start."""
    nc = await nats.connect(url)
    probe = Probe.new(call_id)
    await probe.watch(nc)
    if raise_first:
        await probe.raise_overdue(nc, building_id)
    started = time.perf_counter()
    figures: dict[str, float] = {}
    with _services(env):
        if not raise_first:
            await probe.raise_overdue(nc, building_id)

        async def timed(name: str, event: asyncio.Event) -> None:
            await event.wait()
            figures[name] = round(time.perf_counter() - started, 3)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(timed("deadline_fired_s", probe.fired), timed("paged_s", probe.paged)), WAIT_S
            )
    await nc.close()
    return figures


def python_and_imports_s(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import services.deadlines.app, services.dispatcher.app"], env=env, check=True
    )
    return time.perf_counter() - started


def one_size(events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dispatch1310-restart-") as tmp:
        root = Path(tmp)
        fill_s = 0.0
        if events:
            with unsynced_server(root / "nats") as fill_url:
                asyncio.run(declare_streams(fill_url))
                fill_s = asyncio.run(fill(fill_url, events))
        server = EmbeddedNats(root / "nats").start()
        try:
            roster_path = root / "roster.yaml"
            roster_path.write_text(yaml.safe_dump(bench_roster(), allow_unicode=True))
            env = {
                **os.environ,
                "NATS_URL": server.url,
                "DISPATCH1310_ROSTER": str(roster_path),
                "DISPATCH1310_DATA": str(root / "data"),
                "DISPATCH1310_ACK_TIMEOUT": "600",
                "DISPATCH1310_MERGE_WINDOW": "0.001",  # the two probes are separate calls
                "DISPATCH1310_LOG_LEVEL": "WARNING",
            }
            asyncio.run(declare_streams(server.url))
            raw_s = asyncio.run(raw_read_s(server.url))
            last = asyncio.run(position_durable(server.url))
            first = asyncio.run(_start_until_fired(server.url, env, "probefirst", False, "b1-1"))
            imports_s = python_and_imports_s(env)
            restart = asyncio.run(_start_until_fired(server.url, env, "proberestart", True, "b2-2"))
        finally:
            server.stop()
    return {
        "events": last,
        "fill_s": round(fill_s, 1),
        "raw_read_once_s": round(raw_s, 3),
        # The floor under any start: a Python process importing both services, nothing else.
        "python_and_imports_s": round(imports_s, 3),
        "first_start": first,
        "restart": restart,
    }


def restart_bench(quick: bool) -> dict[str, Any]:
    wanted = os.environ.get("DISPATCH1310_BENCH_RESTART_SIZES")
    sizes = (
        [int(part) for part in wanted.split(",")]
        if wanted
        else list(sized(quick, full=(0, 100_000, 1_000_000), quick_size=(0, 12_000), smoke_size=(0, 1_200)))
    )
    runs = [one_size(n) for n in sizes]
    result: dict[str, Any] = {"services": list(SERVICES), "runs": runs}
    empty = next((r for r in runs if r["events"] == 0), None)
    largest = max(runs, key=lambda r: r["events"])
    fired_empty = empty and empty["restart"].get("deadline_fired_s")
    fired_largest = largest["restart"].get("deadline_fired_s")
    if fired_empty and fired_largest and largest is not empty:
        ratio = fired_largest / fired_empty
        result["goal"] = {
            "largest_events": largest["events"],
            "ratio_vs_empty": round(ratio, 2),
            "met": ratio <= 1.5 and fired_largest < 2.0,
        }
    return result
