"""The audit on a real nats-server: live projections equal a replay from sequence 1, also
after the audit was stopped mid-run and resumed from its checkpoint; reports over HTTP."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from nats.aio.client import Client

from events import commands as c
from events.models import AvailabilityChanged, DutyOverrideSet, StageTimes
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.responder_facts import append_fact
from services.audit.app import AuditService
from services.audit.app import build as build_audit
from services.audit.replay import replay
from services.domain.calls import Calls
from services.domain.clock import SystemClock
from tests.service.conftest import System
from tests.support import bearer, running, wait_for


async def simulate_calls(calls: Calls, first: int, count: int, rng: random.Random) -> None:
    """Mixed outcomes: handled, late, false alarm, cancelled, drill, never answered."""
    for n in range(first, first + count):
        now = calls.clock.now()
        call_id = f"sim{n}"
        due = StageTimes(
            contact=now + timedelta(seconds=60),
            reach=now + timedelta(seconds=180),
            onsite=now + timedelta(seconds=600),
        )
        await calls.execute(
            c.RaiseCall(
                call_id=call_id,
                caller={"name": "居民", "phone": "1"},
                building_id=f"b{n % 7}",
                district_id=f"d{n % 3}",
                drill=n % 10 == 0,
                due=due,
                policy_version="test",
            )  # type: ignore[arg-type]
        )
        person = f"g{n % 5}"
        roll = rng.random()
        if roll < 0.1:
            await calls.execute(c.Cancel(call_id=call_id, by="caller"))
            continue
        await calls.execute(
            c.AssignResponder(
                call_id=call_id,
                responder_id=person,
                responder_name=person,
                level="building",
                dispatch_id=f"d-{call_id}",
                ack_timeout_s=45,
            )
        )
        if roll < 0.2:
            continue  # nobody answers
        if roll < 0.3:
            await calls.execute(c.Decline(call_id=call_id, responder_id=person))
            continue
        await calls.execute(c.Accept(call_id=call_id, responder_id=person))
        if roll < 0.8:
            await calls.execute(c.Arrive(call_id=call_id, responder_id=person))
        outcome = "false_alarm" if roll > 0.95 else "handled"
        await calls.execute(c.Resolve(call_id=call_id, by="s1", outcome=outcome, as_responder=False))


async def live_seq(service: AuditService) -> int:
    return service.state.last_seq


async def test_live_projection_equals_replay_even_across_an_audit_restart(
    nats_server, nc: Client, system_settings
) -> None:  # type: ignore[no-untyped-def]
    calls = Calls(JetStreamEventStore(nc), SystemClock())
    rng = random.Random(1310)
    first = await build_audit(system_settings)
    assert isinstance(first, AuditService)
    assert first.resumed_from == 0
    # Stopped mid-run: the calls keep coming while it stops, checkpoints and is down.
    traffic = asyncio.create_task(simulate_calls(calls, 0, 200, rng))
    async with running(first):
        await wait_for(lambda: first.state.last_seq > 300, timeout=30, what="the audit folding live traffic")
    stopped_at = first.state.last_seq
    await traffic
    # While it is down the duty desk changes too.
    now = calls.clock.now()
    await append_fact(
        nc, AvailabilityChanged(event_id="a1", at=now, responder_id="g1", status="away", by="g1")
    )
    await append_fact(
        nc,
        DutyOverrideSet(
            event_id="o1", at=now, person_id="c3", starts=now, ends=now + timedelta(hours=8), by="s1"
        ),
    )
    second = await build_audit(system_settings)
    assert isinstance(second, AuditService)
    async with running(second):
        # It resumed from its checkpoint, not from sequence 1 ...
        assert second.resumed_from == stopped_at
        last = (await nc.jetstream().stream_info("CALLS")).state.last_seq
        assert last > stopped_at
        await wait_for(lambda: second.state.last_seq >= last, what="audit caught up")
        result = await replay(nc)
        print(f"\nreplay: {result.events} events in {result.seconds:.3f}s = {result.events_per_s} events/s")
        assert result.live is not None and result.differences == []
        assert len(result.rebuilt["content"]["calls"]) == 200
        # Availability and duty overrides are rebuilt too.
        assert result.rebuilt["content"]["availability"]["g1"]["status"] == "away"
        assert [o["person_id"] for o in result.rebuilt["content"]["duty_overrides"]] == ["c3"]
        # Nothing lost or double counted: every call once, every stored event folded once.
        assert second.state.events == last


async def test_compliance_report_points_and_csv_over_http(system: System) -> None:
    audit = await build_audit(system.settings)
    async with running(audit):
        call_id = (await system.raise_call("b12"))["call_id"]
        await system.log.wait_type(call_id, "ResponderAssigned")
        g1 = bearer("demo-g1")
        for action in ("accept", "arrive", "resolve"):
            assert (
                await system.http.post(f"/api/calls/{call_id}/{action}", json={}, headers=g1)
            ).status_code == 200
        await system.log.wait_type(call_id, "CallResolved")
        supervisor = bearer("demo-supervisor")

        async def reported() -> dict | None:
            body = (
                await system.http.get(
                    "/api/reports/compliance", params={"group_by": "district"}, headers=supervisor
                )
            ).json()
            return body if body["stages"]["onsite"]["met"] == 1 else None

        body = await wait_for(reported, what="the report to count the call")
        assert body["calls"] == 1 and body["stages"]["contact"]["percent_within_target"] == 100.0
        assert body["groups"]["d1"]["calls"] == 1
        csv_text = (
            await system.http.get("/api/reports/compliance", params={"format": "csv"}, headers=supervisor)
        ).text
        assert any(row.startswith("all,contact,1,1,0") for row in csv_text.splitlines())
        points = (await system.http.get("/api/points", headers=supervisor)).json()
        assert {
            "person_id": "g1",
            "community_id": "jsb",
            "quarter": f"{body_year(body)}",
            "points": 5,
        } in points["quarterly"]
        assert (await system.http.get("/api/reports/compliance", headers=g1)).status_code == 403
        bad = await system.http.get(
            "/api/reports/compliance", params={"from": "yesterday"}, headers=supervisor
        )
        assert bad.status_code == 422


def body_year(body: dict) -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"
