"""The EventStore contract, run on the in-memory fake and on a real JetStream server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from events import codec, subjects
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.streams import connect, ensure_streams
from services.domain.event_store import ConcurrencyConflict, EventStore, InMemoryEventStore
from tests.factories import note, raised


@pytest.fixture(params=["memory", "jetstream"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
    else:
        server = request.getfixturevalue("nats_server")
        nc = await connect(server.url, "contract")
        await ensure_streams(nc.jetstream())
        yield JetStreamEventStore(nc)
        await nc.close()


async def test_events_load_in_append_order(store: EventStore) -> None:
    version = await store.append("c1", [raised("c1")], 0)
    version = await store.append("c1", [note("c1", 1), note("c1", 2)], version)
    events, loaded_version = await store.load("c1")
    assert [e.event.event_id for e in events] == ["c1-raised", "c1-note-1", "c1-note-2"]
    assert loaded_version == version == events[-1].seq
    assert [e.seq for e in events] == sorted(e.seq for e in events)


async def test_unknown_call_loads_empty_at_version_zero(store: EventStore) -> None:
    assert await store.load("nobody") == ([], 0)


async def test_stale_version_conflicts(store: EventStore) -> None:
    version = await store.append("c1", [raised("c1")], 0)
    await store.append("c1", [note("c1", 1)], version)
    with pytest.raises(ConcurrencyConflict):
        await store.append("c1", [note("c1", 2)], version)
    events, _ = await store.load("c1")
    assert len(events) == 2


async def test_two_concurrent_appenders_exactly_one_wins(store: EventStore) -> None:
    version = await store.append("c1", [raised("c1")], 0)
    results = await asyncio.gather(
        *(store.append("c1", [note("c1", n)], version) for n in range(5)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1 and len(losers) == 4
    events, _ = await store.load("c1")
    assert len(events) == 2


async def test_retried_append_is_idempotent(store: EventStore) -> None:
    version = await store.append("c1", [raised("c1"), note("c1", 1)], 0)
    again = await store.append("c1", [raised("c1"), note("c1", 1)], 0)
    assert again == version
    events, _ = await store.load("c1")
    assert [e.event.event_id for e in events] == ["c1-raised", "c1-note-1"]


async def test_retry_after_partial_append_completes_it(store: EventStore) -> None:
    await store.append("c1", [raised("c1")], 0)
    version = await store.append("c1", [raised("c1"), note("c1", 1)], 0)
    events, current = await store.load("c1")
    assert [e.event.event_id for e in events] == ["c1-raised", "c1-note-1"]
    assert current == version


async def test_an_append_interrupted_with_nothing_after_it_is_completed_on_retry(store: EventStore) -> None:
    version = await store.append("c1", [raised("c1")], 0)
    await store.append("c1", [note("c1", 1)], version)  # our first event made it, then we died
    await store.append("c1", [note("c1", 1), note("c1", 2)], version)  # the retry of [1, 2]
    events, _ = await store.load("c1")
    assert [e.event.event_id for e in events] == ["c1-raised", "c1-note-1", "c1-note-2"]


async def test_an_append_interrupted_by_another_writer_conflicts_on_retry(store: EventStore) -> None:
    """The rest was decided on a state someone else has since changed: decide again."""
    version = await store.append("c1", [raised("c1")], 0)
    await store.append("c1", [note("c1", 1)], version)  # our first event made it ...
    await store.append("c1", [note("c1", 9)], (await store.load("c1"))[1])  # ... then someone else wrote
    with pytest.raises(ConcurrencyConflict):
        await store.append("c1", [note("c1", 1), note("c1", 2)], version)  # the retry of [1, 2]
    events, _ = await store.load("c1")
    assert [e.event.event_id for e in events] == ["c1-raised", "c1-note-1", "c1-note-9"]


async def test_new_call_conflicts_when_id_taken_by_other_event(store: EventStore) -> None:
    await store.append("c1", [raised("c1")], 0)
    with pytest.raises(ConcurrencyConflict):
        await store.append("c1", [raised("c1", event_id="someone-else")], 0)


async def fill_calls(store: EventStore, call_ids: list[str], per_call: int = 20) -> None:
    """Set-up: ``per_call`` events on each call, the calls' events interleaved in the stream.
    On JetStream published all at once and awaited together (the appends' contract is tested
    above; one acknowledged, fsynced append after another made this take ~25 s on a busy disk)."""
    histories = [[raised(call_id)] + [note(call_id, n) for n in range(1, per_call)] for call_id in call_ids]
    if not isinstance(store, JetStreamEventStore):
        await asyncio.gather(*(store.append(h[0].call_id, h, 0) for h in histories))
        return
    acks = [
        await store.js.publish_async(subjects.call_subject(event.call_id, event.type), codec.encode(event))
        for n in range(per_call)
        for event in (history[n] for history in histories)
    ]
    await asyncio.gather(*acks)


async def test_load_one_call_among_ten_thousand_events(store: EventStore) -> None:
    await fill_calls(store, [f"other{n}" for n in range(250)])
    await store.append("target", [raised("target")], 0)
    await fill_calls(store, [f"other{n}" for n in range(250, 500)])
    events, _ = await store.load("target")
    assert [e.event.event_id for e in events] == ["target-raised"]
    other, _ = await store.load("other7")
    assert len(other) == 20
    assert [e.event.event_id for e in other] == ["other7-raised"] + [f"other7-note-{n}" for n in range(1, 20)]


async def test_read_all_streams_every_event_from_a_sequence(store: EventStore) -> None:
    v1 = await store.append("a", [raised("a")], 0)
    await store.append("b", [raised("b")], 0)
    await store.append("a", [note("a", 1)], v1)
    everything = [item async for item in store.read_all(1)]
    assert [i.event.event_id for i in everything] == ["a-raised", "b-raised", "a-note-1"]
    tail = [item async for item in store.read_all(everything[1].seq)]
    assert [i.event.event_id for i in tail] == ["b-raised", "a-note-1"]


async def test_jetstream_append_survives_kill_9(nats_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    nc = await connect(nats_server.url, "durability")
    await ensure_streams(nc.jetstream())
    await JetStreamEventStore(nc).append("c1", [raised("c1")], 0)
    await nc.close()
    nats_server.kill()
    nats_server.start()
    nc = await connect(nats_server.url, "durability")
    try:
        events, _ = await JetStreamEventStore(nc).load("c1")
        assert [e.event.event_id for e in events] == ["c1-raised"]
    finally:
        await nc.close()


async def test_a_poison_message_on_a_call_does_not_block_its_later_appends(nats_server) -> None:  # type: ignore[no-untyped-def]
    nc = await connect(nats_server.url, "poison")
    await ensure_streams(nc.jetstream())
    store = JetStreamEventStore(nc)
    try:
        version = await store.append("c1", [raised("c1")], 0)
        # A type this version does not know (a newer writer during a rolling upgrade, or garbage).
        poison = await nc.jetstream().publish("calls.c1.SomethingNew", b'{"type": "SomethingNew"}')
        events, loaded = await store.load("c1")
        assert [e.event.event_id for e in events] == ["c1-raised"]
        assert loaded == poison.seq > version
        await store.append("c1", [note("c1", 1)], loaded)
        events, _ = await store.load("c1")
        assert [e.event.event_id for e in events] == ["c1-raised", "c1-note-1"]
    finally:
        await nc.close()
