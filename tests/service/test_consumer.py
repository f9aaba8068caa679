"""The durable consumer under the dispatcher and the notifier (services/adapters/consumer.py), on a
real nats-server: a message is acked only once its handling is done, events of one call are
handled in stream order, a poison message is dead-lettered, and messages come in batches (a pull
request per batch, not per message)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from nats.aio.client import Client

from events import subjects
from events.models import Fact
from services.adapters.consumer import subscribe_events
from services.adapters.jetstream_store import JetStreamEventStore
from tests.factories import note, raised
from tests.support import wait_for


async def ack_pending(nc: Client, durable: str) -> tuple[int, int]:
    """(messages delivered and not acked, stream sequence of the ack floor)."""
    info = await nc.jetstream().consumer_info(subjects.CALLS_STREAM, durable)
    return info.num_ack_pending, info.ack_floor.stream_seq if info.ack_floor else 0


async def test_a_message_is_acked_only_once_its_handler_is_done(
    nc: Client, js_store: JetStreamEventStore
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def handle(event: Fact, seq: int) -> None:
        started.set()
        await release.wait()

    consumer = subscribe_events(nc, "slow", handle, partitions=2)
    await js_store.append("c1", [raised("c1", at=datetime.now(UTC))], 0)
    await consumer.start()
    try:
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.sleep(0.1)  # longer than acks wait to be written together
        assert await ack_pending(nc, "slow") == (1, 0)
        release.set()
        await wait_for(lambda: _acked(nc, "slow", 1), what="the ack once handled")
    finally:
        await consumer.stop()
        await consumer.close()


async def _acked(nc: Client, durable: str, seq: int) -> bool:
    return await ack_pending(nc, durable) == (0, seq)


async def test_events_of_a_call_come_in_stream_order_in_batches(
    nc: Client, js_store: JetStreamEventStore
) -> None:
    calls = [f"c{n}" for n in range(10)]
    version = {}
    for call_id in calls:
        version[call_id] = await js_store.append(call_id, [raised(call_id, at=datetime.now(UTC))], 0)
    for n in range(1, 30):  # 300 notes, the calls interleaved
        for call_id in calls:
            version[call_id] = await js_store.append(call_id, [note(call_id, n)], version[call_id])
    seen: dict[str, list[int]] = {call_id: [] for call_id in calls}

    async def handle(event: Fact, seq: int) -> None:
        seen[event.call_id].append(seq)  # type: ignore[attr-defined]
        await asyncio.sleep(0)

    consumer = subscribe_events(nc, "ordered", handle, partitions=4)
    await consumer.start()
    try:
        await wait_for(lambda: sum(map(len, seen.values())) == 300, timeout=20, what="every event handled")
        await wait_for(lambda: _acked(nc, "ordered", 300), timeout=10, what="every event acked")
    finally:
        await consumer.stop()
        await consumer.close()
    assert all(seqs == sorted(seqs) and len(seqs) == 30 for seqs in seen.values())
    assert consumer.pull.requests <= 300 // consumer.pull.batch + 3  # a request per batch


async def test_a_poison_message_is_dead_lettered_acked_and_the_next_one_handled(
    nc: Client, js_store: JetStreamEventStore
) -> None:
    js = nc.jetstream()
    dead = await js.subscribe("deadletter.poison-test")
    handled: list[str] = []

    async def handle(event: Fact, seq: int) -> None:
        handled.append(event.call_id)  # type: ignore[attr-defined]

    await js.publish("calls.bad.CallRaised", b"{not json")
    await js_store.append("good", [raised("good", at=datetime.now(UTC))], 0)
    consumer = subscribe_events(nc, "poison-test", handle, partitions=2)
    await consumer.start()
    try:
        letter = await dead.next_msg(timeout=10)
        assert letter.headers is not None and letter.headers["Dispatch1310-Reason"] == "not JSON"
        await wait_for(lambda: handled == ["good"], what="the good event handled")
        await wait_for(lambda: _acked(nc, "poison-test", 2), what="both acked")
    finally:
        await consumer.stop()
        await consumer.close()


async def test_a_handler_at_work_longer_than_the_ack_wait_is_not_redelivered_meanwhile(
    nc: Client, js_store: JetStreamEventStore
) -> None:
    """JetStream is told the message is in progress while its handler works (a webhook being
    retried): no second delivery runs the handler again in parallel."""
    calls: list[int] = []
    done = asyncio.Event()

    async def handle(event: Fact, seq: int) -> None:
        calls.append(seq)
        await asyncio.sleep(3.0)  # twice the ack wait
        done.set()

    await js_store.append("c1", [raised("c1", at=datetime.now(UTC))], 0)
    consumer = subscribe_events(nc, "in-progress", handle, partitions=2, ack_wait_s=1.5)
    await consumer.start()
    try:
        await asyncio.wait_for(done.wait(), 10)
        await wait_for(lambda: _acked(nc, "in-progress", 1), what="the ack once handled")
    finally:
        await consumer.stop()
        await consumer.close()
    assert calls == [1]


async def test_a_deleted_consumer_is_created_again_and_consuming_goes_on(
    nc: Client, js_store: JetStreamEventStore
) -> None:
    handled: list[str] = []

    async def handle(event: Fact, seq: int) -> None:
        handled.append(event.call_id)  # type: ignore[attr-defined]

    consumer = subscribe_events(nc, "deleted", handle, partitions=2)
    await consumer.start()
    try:
        await js_store.append("c1", [raised("c1", at=datetime.now(UTC))], 0)
        await wait_for(lambda: handled == ["c1"], what="the first event handled")
        await nc.jetstream().delete_consumer(subjects.CALLS_STREAM, "deleted")
        await js_store.append("c2", [raised("c2", at=datetime.now(UTC))], 0)
        # Created again as configured (from the start of the stream): c1 again (a handler
        # sees redeliveries anyway), then c2.
        await wait_for(lambda: "c2" in handled, timeout=10, what="the event after the deletion handled")
    finally:
        await consumer.stop()
        await consumer.close()
