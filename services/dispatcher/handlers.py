"""The dispatcher's reactions to call events, thin over the pure domain.

Every decision is taken on the call's stored events (loaded and folded in sequence order at
the moment of deciding), never on the order or number of deliveries: a delivered event only
says "look at this call again". Appends carry the version decided on; a lost race plans again
on the reloaded call. A watchdog looks again at open calls nobody is being paged for, so a
lost delivery or a crash between two appends cannot leave a call alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from events import commands as c
from events.models import (
    AvailabilityChanged,
    CallCancelled,
    CallEvent,
    CallHeld,
    CallJoined,
    CallMerged,
    CallRaised,
    CallReleased,
    CallResolved,
    CallUnmerged,
    DispatchDeclined,
    DispatchTimedOut,
    EscalationRaised,
    Fact,
)
from services.dispatcher.building_calls import CLOSING, BuildingCalls
from services.dispatcher.domain import Availability, could_page, dispatch_id, plan, settle_joined
from services.dispatcher.open_calls import OpenCalls
from services.domain.aggregate import ENGAGED, CallState, DomainError
from services.domain.calls import Calls
from services.domain.duty import DutyBook, on_duty
from services.domain.event_store import ConcurrencyConflict
from services.domain.roster import EscalationPolicy, Roster
from services.runtime.settings import Settings

log = structlog.get_logger("dispatcher")
MAX_PLANS = 8
MAX_JOIN_ROUNDS = 16  # of the store's own retries each: enough for a building's whole burst


class Rosters(Protocol):
    """The current roster, and the escalation policy a call was raised under."""

    @property
    def roster(self) -> Roster: ...

    async def policy(self, version: str) -> EscalationPolicy: ...


class Dispatcher:
    def __init__(self, calls: Calls, rosters: Rosters, settings: Settings) -> None:
        self.calls = calls
        self.rosters = rosters
        self.settings = settings
        self.open_calls = OpenCalls()
        self.buildings = BuildingCalls(settings.merge_window_s)
        self.duplicates: dict[str, str | None] = {}  # call -> the call it duplicates, decided in order
        self.duty = DutyBook()
        self.live = False  # act on availability facts only once caught up with their history
        self.raising: set[str] = set()  # calls whose raise is being handled (merge or first page)
        self._tasks: set[asyncio.Task[None]] = set()
        page = self.page_event
        self.handlers: dict[type[Fact], Callable[[CallEvent], Awaitable[None]]] = {
            CallRaised: self.on_raised,
            DispatchDeclined: page,
            DispatchTimedOut: page,
            EscalationRaised: page,
            CallJoined: page,  # a more serious kind joined: page what it needs
            CallUnmerged: page,  # stands alone again: dispatch it on its own
            CallResolved: self.on_closed,
            CallCancelled: self.on_closed,
            CallMerged: self.on_merged,
            CallHeld: self.on_held,
            CallReleased: page,  # the desk released it: dispatch it now
        }

    # ------------------------------------------------------------ deliveries

    async def handle(self, event: Fact, seq: int = 0) -> None:
        if not isinstance(event, CallEvent):
            return
        if isinstance(event, CLOSING):  # normally seen in stream order already; idempotent
            self.buildings.observe(event)
        self.open_calls.apply(event, seq)
        handler = self.handlers.get(type(event))
        if handler is not None:
            await handler(event)

    def in_stream_order(self, event: Fact, seq: int = 0) -> None:
        """Fed in stream order, before calls are handled concurrently: which calls are open per
        building, and whether a new call duplicates one of them. Neighbours who tap at the
        same moment thus get one dispatch, not one each."""
        if not isinstance(event, CallEvent):
            return
        primary = self.buildings.observe(event)
        if isinstance(event, CallRaised) and event.call_id not in self.duplicates:
            self.duplicates[event.call_id] = primary

    async def on_raised(self, event: CallEvent) -> None:
        assert isinstance(event, CallRaised)
        if event.held is not None:
            return  # waits for the desk (see on_held)
        self.raising.add(event.call_id)
        try:
            await self._first_look(event)
        finally:
            self.raising.discard(event.call_id)

    async def _first_look(self, event: CallRaised) -> None:
        """Merge a neighbour's call into the open one it duplicates, else dispatch it."""
        if event.call_id in self.duplicates:  # decided in stream order
            primary = self.duplicates.pop(event.call_id)
        else:  # a redelivery after its decision was used: decide again
            primary = self.buildings.observe(event)
        if primary is not None and not self.buildings.is_open(primary):
            primary = None  # closed since (resolved a moment after this call came in)
        if primary is not None:
            own, _ = await self.calls.load(event.call_id)
            if not own.is_open and own.merged_into != primary:
                return  # closed before it was looked at (cancelled at once, or seen late): joins nothing
            if own.assignments:
                primary = None  # dispatched on its own already (a redelivery): stays so
        if primary is not None:
            join = c.Join(call_id=primary, joined_call_id=event.call_id, kind=event.kind, caller=event.caller)
            try:
                await self._join(join)
            except DomainError:  # closed meanwhile: this call stands alone
                primary = None
        if primary is None:
            self.buildings.register(event)
            # Planned on the raise as delivered when that is all there is of the call (no load).
            await self.page(event.call_id, self.open_calls.as_raised(event.call_id))
            return
        log.info("call_merged", into=primary)
        try:
            await self.calls.execute(c.Merge(call_id=event.call_id, into_call_id=primary))
        except DomainError as exc:  # closed between the join and the merge: nothing to merge
            log.info("merge_refused", into=primary, reason=str(exc))
        await self.page(event.call_id)  # dispatched on its own if the merge was refused
        await self.settle(primary)  # the call joined may have closed since the join

    async def _join(self, join: c.Join) -> None:
        """Join the primary, however many neighbours race to join it at the same moment: a lost
        race means another writer got through, so the queue of writers only shortens. Giving up
        would leave this call unmerged and nobody paged, for the watchdog to dispatch on its own:
        a second dispatch for one building (found on fakes: twelve neighbours at once)."""
        for attempt in range(MAX_JOIN_ROUNDS):
            try:
                await self.calls.execute(join)
                return
            except ConcurrencyConflict:
                if attempt == MAX_JOIN_ROUNDS - 1:
                    raise

    async def page_event(self, event: CallEvent) -> None:
        await self.page(event.call_id)

    async def on_closed(self, event: CallEvent) -> None:
        await self.settle(event.call_id)

    async def on_held(self, event: CallEvent) -> None:
        """Nobody is paged for a held call, but the duty officer on duty is told at once, once
        per flood (on the flood's first held call)."""
        assert isinstance(event, CallHeld)
        if not event.first_of_flood:
            return
        roster = self.rosters.roster
        raised = (await self.calls.load(event.call_id))[0].raised
        community = roster.call_community(raised.community_id, raised.building_id) if raised else roster.desk
        officer_id = self.availability(community.id).officer(community.id)  # the held call's community's desk
        officer = roster.people.get(officer_id) if officer_id else None
        if officer is None:
            return
        page = c.AssignResponder(
            call_id=event.call_id,
            responder_id=officer.id,
            responder_name=officer.name,
            phone=officer.phone,
            level="community",
            dispatch_id=dispatch_id(event.call_id, "community", officer.id, "flood"),
            ack_timeout_s=self.settings.ack_timeout_s,
            note="可疑呼叫洪流：请在值班台甄别（放行或误报） flood of calls held for triage on the board",
        )
        try:
            await self.calls.execute(page)
        except DomainError as exc:
            log.info("flood_page_refused", call_id=event.call_id, reason=str(exc))

    async def on_merged(self, event: CallEvent) -> None:
        assert isinstance(event, CallMerged)
        await self.settle(event.into_call_id)

    # ------------------------------------------------------------ decisions on the stored call

    async def page(self, call_id: str, known: tuple[CallState, int] | None = None) -> None:
        """Page whoever the call needs now (or escalate), planned on its stored events.

        ``known`` (a state and its version, the raise as delivered) is planned on first, without
        a load: an append expecting its version is refused if the call has moved on since, and
        the call is then loaded and planned again. One case gets through: a command whose events
        are all stored already (a redelivered raise deciding again what was decided then) is
        taken as done, and the state after it is not the stored one. So only the first command
        planned on ``known`` is applied: a repeat is then a no-op (the events since brought their
        own pages when delivered), and the rest is planned on the call loaded."""
        for _ in range(MAX_PLANS):
            on_known = known is not None
            state, version = known if known is not None else await self.calls.load(call_id)
            known = None
            if state.raised is None or not state.is_open:
                return
            raised = state.raised
            policy = await self.rosters.policy(raised.policy_version)
            roster = self.rosters.roster
            community = roster.call_community(raised.community_id, raised.building_id, raised.district_id)
            commands = plan(
                state, roster, self.settings.ack_timeout_s, self.availability(community.id), policy
            )
            rest = on_known and len(commands) > 1
            try:
                for command in commands[:1] if rest else commands:
                    state, version, events = await self.calls.apply(state, version, command)
                    if events:
                        log.info(
                            "paged",
                            call_id=call_id,
                            command=type(command).__name__,
                            responder=getattr(command, "responder_id", None),
                        )
            except ConcurrencyConflict:
                continue  # someone else wrote: plan again on what is stored now
            except DomainError as exc:
                log.info("command_refused", call_id=call_id, reason=str(exc))
            if not rest:
                return
        log.warning("page_gave_up_after_conflicts", call_id=call_id)

    async def settle(self, primary_id: str) -> None:
        """Once a call with merged calls has closed, settle each of them (see ``settle_joined``)."""
        state, _ = await self.calls.load(primary_id)
        for command in settle_joined(state, self.calls.clock.now(), self.settings.targets):
            try:
                await self.calls.execute(command)
            except DomainError as exc:
                log.info("settle_refused", call_id=command.call_id, reason=str(exc))

    def awaiting_first_look(self, call_id: str) -> bool:
        """A call whose raise is being handled: open with nobody paged, rightly, until its merge
        (or its first page) is written. Looking again would dispatch it on its own, and its merge
        would then be refused. A handling that fails ends here too, so the watchdog looks at the
        call again before its redelivery: never abandoned, at worst dispatched on its own."""
        return call_id in self.raising

    # ------------------------------------------------------------ people

    def availability(self, community_id: str | None = None) -> Availability:
        """Who is away, busy and on duty now; in a county, the officer on duty at
        ``community_id``'s desk (one community's only: 50 desks cost 0.6 ms a page)."""
        now = self.calls.clock.now()
        roster = self.rosters.roster
        desk = on_duty(roster.desk, self.duty.overrides, now)
        community = roster.community_by_id(community_id) if roster.is_county else None
        officers = {community.id: on_duty(community, self.duty.overrides, now).on_duty} if community else {}
        return Availability(
            away=self.duty.away_ids(now),
            busy=self.open_calls.busy(),
            on_duty=desk.on_duty.id if desk.on_duty else None,
            on_duty_in={cid: officer.id for cid, officer in officers.items() if officer},
        )

    def on_responder_fact(self, fact: Fact, seq: int = 0) -> None:
        self.duty = self.duty.apply(fact)
        if self.live and isinstance(fact, AvailabilityChanged):
            task = asyncio.create_task(self.on_availability(fact))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def on_availability(self, fact: AvailabilityChanged) -> None:
        """Going away while paged counts as a decline; someone becoming available is paged at
        once for an open call nobody holds (the plan decides whether they belong to its level)."""
        if fact.status == "away":
            for call_id in self.open_calls.paged_on(fact.responder_id):
                await self._decline_away(call_id, fact.responder_id)
        else:  # open calls nobody has accepted: the plan pages them if they belong to its level
            roster = self.rosters.roster
            for call_id in self.open_calls.unheld(ENGAGED):
                state = self.open_calls.states.get(call_id)
                if self.awaiting_first_look(call_id):
                    continue
                if state is not None and could_page(state, roster, fact.responder_id):
                    await self.page(call_id)

    async def _decline_away(self, call_id: str, person_id: str) -> None:
        command = c.Decline(call_id=call_id, responder_id=person_id, note="away")
        try:
            await self.calls.execute(command)
        except DomainError as exc:
            log.info("away_decline_refused", call_id=call_id, reason=str(exc))

    # ------------------------------------------------------------ watchdog

    async def reconcile(self) -> None:
        """Look again at every call that could be stalled: open with nobody paged or holding it,
        paged to someone now away, paged with no contact shown to the caller, or merged into a
        call that has closed."""
        away = self.duty.away_ids(self.calls.clock.now())
        for call_id, person_id in self.open_calls.paged_pairs():
            if person_id in away:
                await self._decline_away(call_id, person_id)
        for call_id in [*self.open_calls.unheld(), *self.open_calls.without_contact()]:
            if not self.awaiting_first_look(call_id):
                await self.page(call_id)
        for primary_id in self.open_calls.merged_into():
            await self.settle(primary_id)

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reconcile()
            except Exception as exc:  # the store away: try again next round
                log.warning("watchdog_failed", error=repr(exc))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
