"""The watchdog looks again at open calls nobody is paged for. A neighbour's call that is being
merged is such a call for a moment (its raise is being handled: the join is being written): the
watchdog must leave it to that handling, or the call is dispatched on its own and the building
gets two dispatches for one emergency (seen under load in the burst test)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from events.models import CallEvent, CallJoined
from tests.inprocess import FaultyStore, InProcessSystem


class SlowJoins(FaultyStore):
    """A store on which writing a join takes as long as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.joining = asyncio.Event()
        self.release = asyncio.Event()

    async def append(self, call_id: str, events: Sequence[CallEvent], expected_version: int) -> int:
        if any(isinstance(event, CallJoined) for event in events):
            self.joining.set()
            await self.release.wait()
        return await super().append(call_id, events, expected_version)


async def test_the_watchdog_does_not_page_a_call_whose_merge_is_being_written() -> None:
    system = InProcessSystem(random.Random(7))
    system.duplicate_rate = system.crash_rate = 0.0
    system.store = system.calls.store = store = SlowJoins()
    first = await system.raise_call("b12", "flood")
    await system.settle()
    second = await system.raise_call("b12", "flood")
    system._take_published()
    (raised,) = [item for item in system.shim.pending if item.event.call_id == second]
    system.shim.pending.clear()

    handling = asyncio.create_task(system.dispatcher.handle(raised.event, raised.seq))
    await asyncio.wait_for(store.joining.wait(), 5)  # the join is on its way to the store
    await system.dispatcher.reconcile()  # the watchdog's round comes meanwhile
    store.release.set()
    await asyncio.wait_for(handling, 5)
    await system.settle()

    state = await system.state(second)
    assert state.merged_into == first
    assert not state.assignments, "the merged call was dispatched on its own"
    assert system.check().ok


async def test_a_call_cancelled_before_the_dispatcher_saw_it_joins_nothing() -> None:
    """A neighbour taps and cancels at once (or the raise is handled late, after a restart):
    the cancelled call must not join the building's open call (its caller and kind would be
    added to an emergency they are no longer part of)."""
    system = InProcessSystem(random.Random(3))
    system.duplicate_rate = system.crash_rate = 0.0
    first = await system.raise_call("b12", "flood")
    await system.settle()
    second = await system.raise_call("b12", "fire")
    await system.close(second, "cancel")
    await system.settle()

    assert second not in (await system.state(first)).joined
    assert (await system.state(second)).status == "cancelled"
    assert system.check().ok
