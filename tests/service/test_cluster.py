"""A 3-node NATS cluster from the same wheel, streams R3: lose a node mid-surge, lose nothing,
and the 1310 clock keeps firing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.adapters.embedded_nats import EmbeddedCluster
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.streams import connect, ensure_streams
from services.adapters.verify import verify_stream
from services.deadlines.app import build as build_deadlines
from services.dispatcher.app import build as build_dispatcher
from services.domain.invariants import Limits
from tests.support import EventLog, expected_misses, make_settings, running, serving_intake, wait_for


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(tmp_path / "cluster", size=3) as nodes:
        yield nodes


async def test_losing_the_stream_leader_mid_surge_loses_no_acknowledged_call(
    cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    admin = await connect(cluster.url, "admin")
    await ensure_streams(admin.jetstream(), replicas=3)
    settings = make_settings(cluster.url, tmp_path, replicas=3)
    dispatcher = await build_dispatcher(settings)
    deadlines = await build_deadlines(settings)
    accepted: list[str] = []
    refused = 0
    async with serving_intake(settings) as http, running(dispatcher), running(deadlines):

        async def raise_calls(count: int, offset: int) -> None:
            nonlocal refused
            for n in range(count):
                body = {
                    "caller": {"name": f"居民{n}", "phone": f"1390000{offset + n:04d}"},
                    "building_id": f"b{n % 50}",
                }
                response = await http.post("/api/calls", json=body)
                if response.status_code == 201:
                    accepted.append(response.json()["call_id"])
                else:
                    assert response.status_code == 503, response.text
                    refused += 1
                await asyncio.sleep(0.02)

        await raise_calls(30, 0)
        leader = (await admin.jetstream().stream_info("CALLS")).cluster.leader  # type: ignore[union-attr]
        victim = next(i for i, node in enumerate(cluster.nodes) if node.name == leader)
        cluster.nodes[victim].kill()
        before_kill = len(accepted)
        killed_at = asyncio.get_running_loop().time()
        await raise_calls(40, 1000)
        took = asyncio.get_running_loop().time() - killed_at
        after_kill = len(accepted) - before_kill
        print(
            f"\ncluster: {before_kill} calls, then killed stream leader {leader}; {after_kill} accepted "
            f"after in {took:.1f}s, {refused} refused (503)"
        )
        assert after_kill >= 35, "intake stopped accepting calls after losing one node"
        log = EventLog(JetStreamEventStore(admin))
        for call_id in accepted:
            assert "CallRaised" in await log.types(call_id), f"acknowledged call {call_id} lost"
        await wait_for(lambda: _all_contacted(log, accepted[-5:]), timeout=10, what="dispatch after failover")
        # Nobody accepts: every call that was not merged misses reach (1.5 s) and onsite (3 s),
        # whether its due time fell before, during or after the failover, each exactly once.
        await wait_for(lambda: _all_missed(log, accepted), timeout=20, what="deadlines after failover")
        primaries = 0
        for call_id in accepted:
            events = await log.of(call_id)
            if any(item.event.type == "CallMerged" for item in events):
                continue
            primaries += 1
            stages = Counter(item.event.stage for item in events if item.event.type == "DeadlineMissed")  # type: ignore[attr-defined]
            # Contact too where the failover delayed the first page past its due time.
            assert stages == expected_misses([item.event for item in events]), (call_id, stages)
        print(f"cluster: {primaries} calls dispatched, each missed reach and onsite exactly once")
        report, _ = await verify_stream(admin, datetime.now(UTC), Limits(slack_s=15, notifications=False))
        assert report.ok, [f"{v.call_id} {v.invariant}: {v.detail}" for v in report.violations]
    await admin.close()


async def _all_contacted(log: EventLog, call_ids: list[str]) -> bool:
    for call_id in call_ids:
        types = await log.types(call_id)
        if "ContactShared" not in types and "CallMerged" not in types:
            return False
    return True


async def _all_missed(log: EventLog, call_ids: list[str]) -> bool:
    """Every miss each call owes is stored (not just two: a call whose contact the failover made
    late owes three, and its onsite miss may come after the other two)."""
    for call_id in call_ids:
        events = [item.event for item in await log.of(call_id)]
        if any(e.type == "CallMerged" for e in events):
            continue
        stages = Counter(e.stage for e in events if e.type == "DeadlineMissed")
        if expected_misses(events) - stages:
            return False
    return True
