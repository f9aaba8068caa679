"""Model-based: random traffic over the in-process system, invariants checked after every step.

Residents raise calls (neighbours at once: merges), responders accept, decline, go away and come
back, the desk assigns, escalates, resolves and cancels, time passes (pages time out, deadlines
fire); the dispatcher gets its messages reordered, twice, and crashes between appends. After
every step the safety checker reads the whole log: nobody abandoned, nothing jumps, nobody
paged twice, one outcome per stage, merged calls keep their own close.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtime.settings import Targets
from tests.inprocess import InProcessSystem

BUILDINGS = ("b12", "b14", "b21", "b22", None)
KINDS = ("flood", "fire", "medical", "other", "dispute", "elderly_missing")
PEOPLE = ("g1", "g2", "v1", "g3", "v2", "p1", "p2", "p3", "p4", "c1", "c2", "c3", "r1", "r2", "t1", "t2")
STEPS = (
    "raise",
    "raise_same",
    "answer",
    "time",
    "time",
    "away",
    "back",
    "close",
    "escalate",
    "assign",
    "watchdog",
)

SCENARIOS = {"examples": 0, "calls": 0, "steps": 0, "deliveries": 0}


def describe(report) -> str:  # pragma: no cover - only on failure
    return "\n".join(f"{v.call_id} {v.invariant}: {v.detail} {v.seqs}" for v in report.violations)


async def run(data: st.DataObject, seed: int) -> None:
    # Stage targets on multiples of the ack timeout: deadlines fall due together with page
    # timeouts, so the clock races the dispatcher escalating an exhausted level.
    system = InProcessSystem(random.Random(seed), ack_timeout_s=30.0, targets=Targets(60.0, 120.0, 180.0))
    steps = data.draw(st.integers(5, 50), label="steps")
    for _ in range(steps):
        step = data.draw(st.sampled_from(STEPS), label="step")
        open_calls = system.raised
        if step in ("raise", "raise_same") or not open_calls:
            building = (
                (await system.state(open_calls[-1])).raised.building_id
                if step == "raise_same" and open_calls
                else data.draw(st.sampled_from(BUILDINGS), label="building")
            )
            await system.raise_call(building, data.draw(st.sampled_from(KINDS), label="kind"))
        elif step == "answer":
            verb = data.draw(
                st.sampled_from(("accept", "decline", "decline", "enroute", "arrive")), label="verb"
            )
            await system.answer(data.draw(st.sampled_from(open_calls), label="call"), verb)
        elif step == "time":
            await system.advance(data.draw(st.floats(0.5, 400.0), label="seconds"))
        elif step in ("away", "back"):
            await system.set_away(data.draw(st.sampled_from(PEOPLE), label="person"), step == "away")
        elif step == "close":
            how = data.draw(st.sampled_from(("cancel", "handled", "false_alarm")), label="how")
            await system.close(data.draw(st.sampled_from(open_calls), label="call"), how)
        elif step == "escalate":
            await system.escalate(data.draw(st.sampled_from(open_calls), label="call"))
        elif step == "assign":
            call = data.draw(st.sampled_from(open_calls), label="call")
            await system.assign_by_hand(call, data.draw(st.sampled_from(PEOPLE), label="person"))
        elif step == "watchdog":
            await system.dispatcher.reconcile()
        await system.settle()
        report = system.check()
        assert report.ok, f"after {step}:\n{describe(report)}"
    # Let the rest of the night pass: every call still ends up handled or on record.
    await system.advance(1200)
    report = system.check()
    assert report.ok, f"at the end:\n{describe(report)}"
    SCENARIOS["examples"] += 1
    SCENARIOS["calls"] += len(system.raised)
    SCENARIOS["steps"] += steps
    SCENARIOS["deliveries"] += system.shim.delivered


@pytest.mark.timeout(900)  # ~15 s alone; a slow or busy machine must not cut it mid-example
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_no_call_is_ever_abandoned_whatever_the_delivery_order(data: st.DataObject, seed: int) -> None:
    asyncio.run(run(data, seed))


def test_report_how_much_was_checked() -> None:
    """Runs after the property above (same module, file order): prints what it covered."""
    print(f"\nmodel-based scenarios: {SCENARIOS}")
