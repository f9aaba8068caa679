"""A flood must not slow a real call: raise -> ContactShared for genuine calls (each from an
address of its own) while one address floods the intake with new phones, beside the same
figure measured in the same run without the flood; and what the flood cost in pages."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import nats
from nats.aio.msg import Msg

from events import subjects
from services.bench.http_load import ConnectionPool
from services.bench.intake import open_loop, percentiles
from services.bench.scale import sized
from services.bench.system import bench_roster, process_system

FLOOD_ADDRESS = "127.0.0.2"


def flood_bench(quick: bool) -> dict[str, Any]:
    env = {
        "DISPATCH1310_MERGE_WINDOW": "0.001",
        "DISPATCH1310_ACK_TIMEOUT": "600",
        "DISPATCH1310_LOG_LEVEL": "WARNING",
        "DISPATCH1310_NEW_PHONES_PER_ADDRESS": "5",
    }
    with process_system(("intake", "dispatcher"), env, bench_roster()) as system:
        return asyncio.run(
            _run(system.http_url, system.nats.url, seconds=sized(quick, full=10, quick_size=3, smoke_size=1))
        )


async def _run(http_url: str, nats_url: str, seconds: float) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    contact_at: dict[str, float] = {}
    pages: dict[str, int] = {}

    async def on_contact(msg: Msg) -> None:
        contact_at.setdefault(subjects.call_id_of(msg.subject), time.perf_counter())

    async def on_page(msg: Msg) -> None:
        call_id = subjects.call_id_of(msg.subject)
        pages[call_id] = pages.get(call_id, 0) + 1

    await nc.subscribe(subjects.call_type_filter("ContactShared"), cb=on_contact)
    await nc.subscribe(subjects.call_type_filter("ResponderAssigned"), cb=on_page)
    counter = 0

    def body(prefix: str) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        return {
            "caller": {"name": "居民", "phone": f"{prefix}{counter:08d}"},
            "building_id": f"b{counter % 500}",
        }

    async def genuine(rate: float) -> list[float]:
        sent: dict[str, float] = {}

        async def one(i: int, scheduled: float) -> None:
            pool = await ConnectionPool(http_url, 1, source=f"127.0.{1 + i // 250}.{1 + i % 250}").open()
            try:
                status, data = await pool.post_json("/api/calls", body("139"))
            finally:
                pool.close()
            if status == 201:
                sent[json.loads(data)["call_id"]] = scheduled

        await open_loop(rate, seconds, one)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and any(cid not in contact_at for cid in sent):
            await asyncio.sleep(0.05)
        return [(contact_at[cid] - at) * 1000 for cid, at in sent.items() if cid in contact_at]

    async def flood(rate: float) -> tuple[int, int, list[str]]:
        pool = await ConnectionPool(http_url, 32, source=FLOOD_ADDRESS).open()
        held = stored = 0
        ids: list[str] = []

        async def one(i: int, scheduled: float) -> None:
            nonlocal held, stored
            status, data = await pool.post_json("/api/calls", body("137"))
            if status == 201:
                stored += 1
                view = json.loads(data)
                held += bool(view.get("held"))
                ids.append(view["call_id"])

        try:
            await open_loop(rate, seconds, one)
        finally:
            pool.close()
        return stored, held, ids

    quiet = await genuine(5)
    flooded, (stored, held, flood_ids) = await asyncio.gather(genuine(5), flood(100))
    await asyncio.sleep(1.0)  # the last pages of the flood's dispatched calls land
    await nc.close()
    return {
        "genuine_raise_to_contact_without_flood": percentiles(quiet),
        "genuine_raise_to_contact_during_flood": percentiles(flooded),
        "flood_offered_per_s": 100,
        "flood_calls_stored": stored,
        "flood_calls_held": held,
        "flood_pages_sent": sum(pages.get(cid, 0) for cid in flood_ids),
    }
