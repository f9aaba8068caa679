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
