"""The audit's projections fed by the dispatcher and the deadline keeper on fakes: the
compliance figures, responder statistics and points of a run whose every time is known
(a manual clock), and the live fold equal to a replay, also across a checkpoint."""

from __future__ import annotations

from typing import Any

from events import commands as c
from services.audit import checkpoint
from services.audit.projections import AuditState, apply
from services.audit.queries import answer
from services.audit.replay import compare, rebuild
from services.audit.summaries import digest
from services.runtime.settings import Targets
from tests.fakes import FakeSystem

TARGETS = Targets(60, 180, 600)


async def a_morning(system: FakeSystem) -> dict[str, str]:
    """Six calls with known outcomes (seconds from the first raise in comments)."""
    handled = await system.raise_call("b12", kind="flood")  # g1: contact 0, accepts 30, arrives 300
    unanswered = await system.raise_call("b21", kind="flood")  # nobody answers: reach and onsite missed
    drill = await system.raise_call("b14", kind="fire", drill=True)
    await system.advance(10)
    merged = await system.raise_call("b12", kind="flood")  # a neighbour at 10 s: merged into ``handled``
    cancelled = await system.raise_call("b22", kind="other")
    await system.do(c.Cancel(call_id=cancelled, by="caller"))
    false_alarm = await system.raise_call("b22", kind="other")
    await system.do(c.Resolve(call_id=false_alarm, by="s1", outcome="false_alarm", as_responder=False))
    await system.advance(20)
    await system.do(c.Accept(call_id=handled, responder_id="g1"))
    await system.do(c.Accept(call_id=drill, responder_id="g3"))
    await system.advance(270)
    await system.do(c.Arrive(call_id=handled, responder_id="g1"))
    await system.advance(60)
    await system.do(c.Resolve(call_id=handled, by="g1", outcome="handled"))
    await system.advance(400)  # past every due time
    return {
        "handled": handled,
        "unanswered": unanswered,
        "drill": drill,
        "merged": merged,
        "cancelled": cancelled,
        "false_alarm": false_alarm,
    }


def report(system: FakeSystem, **params: Any) -> Any:
    return answer(system.audit, "report", params, system.clock.now())


async def test_compliance_figures_of_a_run_on_the_manual_clock() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=45)
    await a_morning(system)
    body = report(system, group_by="district")
    # Judged: the handled and the unanswered call; the rest are counted apart.
    assert (body["calls"], body["cancelled"], body["false_alarms"], body["merged"], body["drills"]) == (
        2,
        1,
        1,
        1,
        0,
    )
    stages = body["stages"]
    assert (stages["contact"]["met"], stages["contact"]["missed"]) == (2, 0)  # both shared at once
    assert stages["contact"]["percent_within_target"] == 100.0
    assert (stages["reach"]["met"], stages["reach"]["missed"], stages["reach"]["percent_within_target"]) == (
        1,
        1,
        50.0,
    )
    assert stages["reach"]["p50_s"] == 30.0  # the handled call's accept
    assert (stages["onsite"]["met"], stages["onsite"]["missed"], stages["onsite"]["p50_s"]) == (1, 1, 300.0)
    assert body["groups"]["d1"]["stages"]["reach"]["percent_within_target"] == 100.0
    assert body["groups"]["d2"]["stages"]["reach"]["percent_within_target"] == 0.0
    with_drills = report(system, include_drills=True)
    assert (with_drills["calls"], with_drills["drills"]) == (3, 1)
    assert with_drills["stages"]["reach"]["met"] == 2  # the drill's accept at 30 s


async def test_responder_figures_and_points_of_the_same_run() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=45)
    await a_morning(system)
    stats = {row["id"]: row for row in answer(system.audit, "responders", {}, system.clock.now())}
    g1 = stats["g1"]
    assert (g1["received"], g1["accepted"], g1["arrived"], g1["median_accept_s"], g1["median_arrive_s"]) == (
        1,
        1,
        1,
        30.0,
        300.0,
    )
    assert stats["g4"]["timed_out"] == 1 and stats["g4"]["accepted"] == 0  # the unanswered call
    # These calls carry no ``community_id`` (as if stored before counties): read through the
    # roster, they count under their buildings' community.
    points = answer(system.audit, "points", {}, system.clock.now(), system.roster.known_community)
    assert points["quarterly"] == [
        {"person_id": "g1", "community_id": "jsb", "quarter": "2026-Q2", "points": 5}  # 1 + 2 + 2
    ]
    assert {e["reason"] for e in points["ledger"]} == {"accepted", "arrived", "resolved"}  # no drill points


async def test_the_live_fold_equals_a_replay_also_across_a_checkpoint_and_redeliveries() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=45)
    calls = await a_morning(system)
    # A second audit that stopped halfway, resumed from its checkpoint, and was given some
    # events again (a redelivery after the restart): the same projections.
    halfway = system.store.last_seq // 2
    resumed = AuditState()
    async for item in system.store.read_all(1, halfway):
        apply(resumed, item.seq, item.event)
    restored = checkpoint.loads(checkpoint.dumps(resumed))
    assert restored is not None and restored.last_seq == halfway
    async for item in system.store.read_all(halfway - 5):
        apply(restored, item.seq, item.event)
    rebuilt, _ = await rebuild(system.store, system.store.last_seq)  # type: ignore[arg-type]
    assert compare(digest(rebuilt), digest(system.audit)) == []
    assert compare(digest(rebuilt), digest(restored)) == []
    assert rebuilt.events == system.store.last_seq and len(rebuilt.calls) == len(calls)


async def test_a_merged_call_counts_on_the_call_it_joined_until_it_stands_alone_again() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=45)
    first = await system.raise_call("b12", kind="other")
    await system.advance(5)
    fire = await system.raise_call("b12", kind="fire")
    body = report(system)
    assert (body["calls"], body["merged"]) == (1, 1)
    await system.advance(5)
    await system.do(c.Cancel(call_id=first, by="caller"))  # the fire stands alone, dispatched anew
    unmerged = (await system.events(fire, "CallUnmerged"))[0]
    body = report(system)
    assert (body["calls"], body["merged"], body["cancelled"]) == (1, 0, 1)
    assert body["stages"]["contact"]["met"] == 1  # its own contact, shared at once
    assert system.audit.calls[fire].due["onsite"] == unmerged.due.onsite  # judged on its restarted clock
