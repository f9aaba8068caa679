"""The dispatcher's memory of open calls: who is busy, and where to look again.

A cache of the stream (folded in sequence order, see OpenCallStates), used to find calls to
look at; every decision on a call is taken on its freshly loaded events, never on this.
"""

from __future__ import annotations

from collections.abc import Iterator

from events.models import CallEvent
from services.domain.aggregate import ACTIVE, CallState
from services.domain.open_calls import OpenCallStates


class OpenCalls:
    """Folded from every call event the dispatcher sees (and rebuilt from the stream at start)."""

    def __init__(self) -> None:
        self.states = OpenCallStates()
        self._holding: dict[str, set[str]] = {}  # person -> open calls they are paged on or engaged in

    def apply(self, event: CallEvent, seq: int) -> None:
        folded = self.states.apply(event, seq)
        if folded is not None:
            self._update_holders(folded[0], folded[1])

    def _update_holders(self, before: CallState | None, state: CallState) -> None:
        people = set(state.assignments) | (set(before.assignments) if before else set())
        for person in people:
            assignment = state.assignments.get(person)
            calls = self._holding.setdefault(person, set())
            if state.is_open and assignment is not None and assignment.status in ACTIVE:
                calls.add(state.call_id)
            else:
                calls.discard(state.call_id)
            if not calls:
                del self._holding[person]

    def as_raised(self, call_id: str) -> tuple[CallState, int] | None:
        """The call and its version as its raise left it, when the raise is all this memory has
        of it; else None. Safe to decide on without a load: a raise is a call's first event
        (appended on an empty call), so if nothing was appended since, this is the whole call;
        if something was, an append expecting this version is refused (a ConcurrencyConflict:
        the caller loads and decides again). What the memory cannot show is a gap (an earlier
        event not yet delivered), which is why anything but a lone raise is loaded."""
        state = self.states.get(call_id)
        if state is None or state.raised is None or self.states.folded_count(call_id) != 1:
            return None
        seq = self.states.first_seq(call_id)
        return (state, seq) if seq else None

    def busy(self) -> frozenset[str]:
        return frozenset(self._holding)

    def paged_on(self, person_id: str) -> list[str]:
        """Open calls on which ``person_id`` is paged and has not answered."""
        return [call_id for call_id, person in self.paged_pairs() if person == person_id]

    def paged_pairs(self) -> Iterator[tuple[str, str]]:
        for state in list(self.states.values()):
            if state.is_open:
                for person, assignment in state.assignments.items():
                    if assignment.status == "paged":
                        yield state.call_id, person

    def unheld(self, statuses: frozenset[str] = ACTIVE) -> list[str]:
        """Open calls with nobody in ``statuses`` (by default: nobody paged or engaged)."""
        return [
            state.call_id
            for state in list(self.states.values())
            if state.is_open and not any(a.status in statuses for a in state.assignments.values())
        ]

    def without_contact(self) -> list[str]:
        """Open calls someone is paged for whose caller was never shown whom to contact (a
        crash between a page's two appends)."""
        return [
            state.call_id
            for state in list(self.states.values())
            if state.is_open
            and state.contact is None
            and any(a.status in ACTIVE for a in state.assignments.values())
        ]

    def merged_into(self) -> set[str]:
        """The calls that merged calls joined (to settle those merged calls if they closed)."""
        return {
            state.merged_into
            for state in list(self.states.values())
            if state.status == "merged" and state.merged_into
        }
