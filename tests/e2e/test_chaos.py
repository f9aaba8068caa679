"""Chaos: a surge runs while each service and then NATS are killed with SIGKILL and restarted.
Afterwards nothing acknowledged is lost, every overdue stage has exactly one DeadlineMissed,
no dispatch was paged twice, and a replay equals the live audit."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest

from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.verify import verify_stream
from services.audit.replay import replay
from services.bench.system import process_system
from services.domain.invariants import Limits
from services.runtime.processes import wait_healthy
from tests.support import expected_misses, wait_for

pytestmark = pytest.mark.chaos
BUILDINGS = ["b12", "b14", "b21", "b22", "no-such-building"]


async def test_surge_survives_kill_9_of_every_service_and_nats(tmp_path: Path) -> None:
    env = {
        "DISPATCH1310_TARGETS": "1,2,4",
        "DISPATCH1310_ACK_TIMEOUT": "1.5",
        "DISPATCH1310_MERGE_WINDOW": "0.001",
        "DISPATCH1310_NEW_PHONES_PER_ADDRESS": "1000000",  # a town behind one address: no holding
        "DISPATCH1310_SWEEP": "0.5",
        "DISPATCH1310_LOG_LEVEL": "WARNING",
    }
    accepted: list[str] = []
    refused = Counter[str]()
    with process_system(env=env, supervise=True) as system:
        server, group, base = system.nats, system.processes, system.http_url

        async def surge(seconds: float) -> None:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                n = 0
                end = asyncio.get_running_loop().time() + seconds
                while asyncio.get_running_loop().time() < end:
                    n += 1
                    body = {
                        "caller": {"name": f"居民{n}", "phone": f"138{n:08d}"},
                        "building_id": BUILDINGS[n % len(BUILDINGS)],
                    }
                    try:
                        response = await http.post("/api/calls", json=body)
                        if response.status_code == 201:
                            accepted.append(response.json()["call_id"])
                        else:
                            refused[str(response.status_code)] += 1
                    except httpx.HTTPError as exc:
                        refused[type(exc).__name__] += 1
                    await asyncio.sleep(0.08)

        async def chaos() -> None:
            # Killed services come back through the supervisor, as under `dispatch1310 up`;
            # so does one that gives up starting because NATS died in the middle of it.
            for name in ("dispatcher", "deadlines", "audit", "notifier", "intake"):
                await asyncio.sleep(1.5)
                killed = group.children[name]
                os.kill(killed.pid, signal.SIGKILL)
                await wait_for(
                    lambda: group.children[name] is not killed,  # noqa: B023 (awaited here)
                    timeout=10,
                    what=f"{name} respawned",
                )
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)
            server.kill()
            await asyncio.sleep(1.0)
            server.start()

        await asyncio.gather(surge(16), chaos())
        assert wait_healthy(base, 30), f"intake not healthy after the chaos; exited: {group.dead()}"
        nc = await nats.connect(server.url)
        store = JetStreamEventStore(nc)

        async def settled() -> bool:
            for call_id in accepted:
                events = [item.event for item in (await store.load(call_id))[0]]
                if sum(expected_misses(events).values()) > sum(e.type == "DeadlineMissed" for e in events):
                    return False
            return True

        try:
            await wait_for(settled, timeout=60, interval=0.5, what="every overdue stage recorded")
        except AssertionError:
            for call_id in accepted:
                events = [item.event for item in (await store.load(call_id))[0]]
                if sum(expected_misses(events).values()) > sum(e.type == "DeadlineMissed" for e in events):
                    print(
                        "\nunsettled",
                        call_id,
                        [(e.type, e.at.isoformat()[11:23]) for e in events],
                        events[0].due,
                    )
                    break
            raise
        missed = paged_twice = late_contacts = 0
        for call_id in accepted:
            events = [item.event for item in (await store.load(call_id))[0]]
            types = [e.type for e in events]
            assert types[0] == "CallRaised", f"acknowledged call {call_id} lost"
            stages = Counter(e.stage for e in events if e.type == "DeadlineMissed")  # type: ignore[attr-defined]
            expected = expected_misses(events)
            assert stages == expected, (call_id, types)
            missed += sum(stages.values())
            late_contacts += expected["contact"]
            dispatches = Counter(e.dispatch_id for e in events if e.type == "ResponderAssigned")  # type: ignore[attr-defined]
            paged_twice += sum(1 for count in dispatches.values() if count > 1)
        assert paged_twice == 0
        result = await wait_for(lambda: _replayed(nc), timeout=30, interval=0.5, what="replay equal to live")
        # The safety checker over the whole history: nobody abandoned while services and NATS
        # died (a gap longer than 15 s would be one), one step at a time, one outcome per stage.
        # Page delivery is not required here: pages the notifier held when it was killed come
        # back after its ack wait (60 s); that path has its own service test.
        report, _ = await verify_stream(nc, datetime.now(UTC), Limits(slack_s=15, notifications=False))
        for violation in report.violations[:3]:  # what happened, for whoever reads a failure
            stored, _ = await store.load(violation.call_id)
            print(
                "\nviolation",
                violation,
                [
                    (
                        i.seq,
                        i.event.type,
                        getattr(i.event, "reason", ""),
                        getattr(i.event, "from_level", ""),
                        getattr(i.event, "to_level", ""),
                        i.event.at.isoformat()[11:23],
                    )
                    for i in stored
                ],
            )
        assert report.ok, [f"{v.call_id} {v.invariant}: {v.detail}" for v in report.violations]
        print(
            f"\nchaos: {len(accepted)} calls acknowledged, refused {dict(refused)}, {missed} DeadlineMissed "
            f"(exactly one per overdue stage; {late_contacts} contacts late while the dispatcher was down), "
            f"0 dispatches paged twice, replay of {result.events} events equals live"
        )
        await nc.close()


async def _replayed(nc: nats.NATS):  # type: ignore[no-untyped-def]
    result = await replay(nc)
    return result if result.live is not None and not result.differences else None
