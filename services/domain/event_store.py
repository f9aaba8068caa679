"""The event store contract and its in-memory fake.

A call is an aggregate whose events live under ``calls.<call_id>.>``. Its *version* is the
stream sequence of its last event (0 for a call with no events): ``append`` must name the
version it decided on, so two writers racing on one call cannot both win.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from events.models import CallEvent


class ConcurrencyConflict(Exception):
    """Someone appended to the call since ``expected_version``: reload, re-decide, retry."""

    def __init__(self, call_id: str, expected: int, actual: int | None = None) -> None:
        super().__init__(f"call {call_id}: expected version {expected}, store has {actual}")
        self.call_id = call_id
        self.expected = expected
        self.actual = actual


class StoreUnavailable(Exception):
    """The store could not be reached in time; nothing was acknowledged."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event: CallEvent


class EventStore(Protocol):
    async def append(self, call_id: str, events: Sequence[CallEvent], expected_version: int) -> int:
        """Store ``events`` after ``expected_version``; returns the new version.

        Appending events that are already stored (same ``event_id``s, e.g. a retry) is a
        no-op returning the current version. A stale ``expected_version`` raises
        ConcurrencyConflict.
        """
        ...

    async def load(self, call_id: str) -> tuple[list[StoredEvent], int]:
        """The call's events in order and its version (0 if it has none)."""
        ...

    def read_all(self, from_seq: int = 1, until_seq: int | None = None) -> AsyncIterator[StoredEvent]:
        """Every call event from ``from_seq`` up to ``until_seq`` (default: the end at call time)."""
        ...


def already_stored(stored: Sequence[StoredEvent], events: Sequence[CallEvent]) -> list[CallEvent] | None:
    """For a retried append: the events still missing, or None if the append truly conflicts.

    A retry may find all its events stored (return []) or a prefix of them that is still the
    end of the call's log (a writer that died, or lost its connection, between two events of
    one decision: return the rest, which completes the decision as if it had been atomic).
    A prefix followed by someone else's write is a conflict: the rest was decided on a state
    that no longer holds (a second escalation from a level the call has left), so the writer
    must decide again. So is a prefix of the same ids but other content (the same derived
    event decided again by another writer, at another time).
    """
    ids = [item.event.event_id for item in stored]
    present = [event.event_id in ids for event in events]
    if not any(present):
        return None
    first_missing = present.index(False) if False in present else len(present)
    if first_missing == len(present):
        return []
    if any(present[first_missing:]):
        return None
    # The stored prefix must be this decision's own events, not events of the same (derived)
    # ids that another writer decided later on another state: a keeper's [DeadlineMissed,
    # EscalationRaised] must not be completed over a DeadlineMissed another keeper stored
    # without escalating (the call had climbed meanwhile): that writer decides again.
    prefix = list(events[:first_missing])
    if [item.event for item in stored[-len(prefix) :]] != prefix:
        return None
    return list(events[first_missing:])


PublishOne = Callable[[CallEvent, int], Awaitable[int]]
Load = Callable[[str], Awaitable[tuple[list[StoredEvent], int]]]


async def append_one_by_one(
    publish: PublishOne, load: Load, call_id: str, events: Sequence[CallEvent], expected_version: int
) -> int:
    """Append ``events`` one message at a time, each expecting the version the last left.

    A conflict on a retry of events already (partly) stored completes or no-ops (see
    ``already_stored``); any other conflict is the caller's to resolve by deciding again.
    """
    version = expected_version
    for event in events:
        if event.call_id != call_id:
            raise ValueError(f"event of call {event.call_id} appended to call {call_id}")
        try:
            version = await publish(event, version)
        except ConcurrencyConflict:
            stored, current = await load(call_id)
            missing = already_stored(stored, events)
            if missing is None:
                raise
            if not missing:
                return current
            return await append_one_by_one(publish, load, call_id, missing, current)
    return version


class InMemoryEventStore:
    """The same contract, in a list: for unit tests and the pure parts of services."""

    def __init__(self) -> None:
        self._log: list[StoredEvent] = []
        self._by_call: dict[str, list[StoredEvent]] = {}
        self._lock = asyncio.Lock()

    async def append(self, call_id: str, events: Sequence[CallEvent], expected_version: int) -> int:
        async with self._lock:
            stored = self._by_call.get(call_id, [])
            version = stored[-1].seq if stored else 0
            if expected_version != version:
                missing = already_stored(stored, events)
                if missing is None:
                    raise ConcurrencyConflict(call_id, expected_version, version)
                events = missing
            for event in events:
                if event.call_id != call_id:
                    raise ValueError(f"event of call {event.call_id} appended to call {call_id}")
                item = StoredEvent(len(self._log) + 1, event)
                self._log.append(item)
                self._by_call.setdefault(call_id, []).append(item)
                version = item.seq
            return version

    async def load(self, call_id: str) -> tuple[list[StoredEvent], int]:
        stored = list(self._by_call.get(call_id, []))
        return stored, stored[-1].seq if stored else 0

    async def read_all(self, from_seq: int = 1, until_seq: int | None = None) -> AsyncIterator[StoredEvent]:
        end = len(self._log) if until_seq is None else min(len(self._log), until_seq)
        for item in self._log[max(from_seq, 1) - 1 : end]:
            yield item

    @property
    def last_seq(self) -> int:
        return len(self._log)
