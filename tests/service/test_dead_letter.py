"""A poison message goes to a dead-letter subject with its reason and never stalls a consumer."""

from __future__ import annotations

from nats.js.api import ConsumerConfig, DeliverPolicy

from tests.service.conftest import System


async def test_poison_message_is_dead_lettered_and_the_dispatcher_moves_on(system: System) -> None:
    js = system.nc.jetstream()
    dead = await js.subscribe(
        "deadletter.dispatcher", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    await js.publish("calls.poison1.CallRaised", b"{not json")
    await js.publish("calls.poison2.CallExploded", b'{"type": "CallExploded", "call_id": "poison2"}')
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ContactShared", timeout=10)
    first = await dead.next_msg(timeout=10)
    second = await dead.next_msg(timeout=10)
    reasons = {
        first.headers["Dispatch1310-Subject"]: first.headers["Dispatch1310-Reason"],
        second.headers["Dispatch1310-Subject"]: second.headers["Dispatch1310-Reason"],
    }
    assert reasons == {
        "calls.poison1.CallRaised": "not JSON",
        "calls.poison2.CallExploded": "unknown event type 'CallExploded'",
    }
    assert first.data == b"{not json"


async def test_a_forged_event_is_dead_lettered_and_never_believed(system: System) -> None:
    """A ``CallResolved`` body published on ``calls.<id>.ContactShared`` (or on another call's
    subject) closes nothing: every reader refuses it, the dispatcher dead-letters it, and
    ``verify`` names it."""
    from datetime import UTC, datetime

    from events import codec
    from events.models import CallResolved
    from services.adapters.verify import verify_stream
    from services.domain.invariants import Limits

    js = system.nc.jetstream()
    dead = await js.subscribe(
        "deadletter.dispatcher", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ContactShared", timeout=10)
    other = (await system.raise_call("b21"))["call_id"]
    forged = CallResolved(event_id="forged-1", call_id=call_id, at=datetime.now(UTC), by="mallory")
    await js.publish(f"calls.{call_id}.ContactShared", codec.encode(forged))
    await js.publish(
        f"calls.{other}.CallResolved", codec.encode(forged.model_copy(update={"event_id": "forged-2"}))
    )
    letters = [await dead.next_msg(timeout=10) for _ in range(2)]
    reasons = sorted(m.headers["Dispatch1310-Reason"] for m in letters)
    assert reasons == [
        f"body of {call_id} disagrees with subject calls.{other}.CallResolved",
        f"body type CallResolved disagrees with subject calls.{call_id}.ContactShared",
    ]
    for cid in (call_id, other):
        view = (await system.http.get(f"/api/calls/{cid}")).json()
        assert view["status"] == "open", view
        assert "CallResolved" not in await system.log.types(cid)
    # A new page still goes out on the call the forger tried to close.
    await system.http.post(
        f"/api/calls/{call_id}/decline",
        json={"responder_id": "g1"},
        headers={"Authorization": "Bearer demo-g1"},
    )
    await system.log.wait_type(call_id, "ResponderAssigned", count=2, timeout=10)
    report, _ = await verify_stream(system.nc, datetime.now(UTC), Limits(notifications=False))
    forged_found = {v.call_id for v in report.violations if v.invariant == "subject_agrees"}
    assert forged_found == {call_id, other}, report.violations
