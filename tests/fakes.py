"""The services' handlers on fakes, in one process, on a manual clock (like cosmicpython's
``tests/unit/test_handlers.py``): the in-memory store stands for JetStream, a ``Bus`` delivers
every stored event once, in stream order, to the dispatcher, the deadline keeper, the notifier
and the audit projections, and time moves only when a test moves it.

What this leaves to the real server (tests/service, tests/e2e): JetStream's own semantics
(expected sequence, dedup, durable consumers, redelivery, dead letters, KV) and end-to-end runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from events import commands as c
from events.models import AvailabilityChanged, CallEvent
from services.adapters.answer_links import AnswerLinks
from services.adapters.roster_store import RosterHolder
from services.audit.projections import AuditState
from services.audit.projections import apply as audit_apply
from services.deadlines.keeper import DeadlineKeeper
from services.dispatcher.building_calls import EVENT_TYPES as IN_ORDER_TYPES
from services.dispatcher.handlers import Dispatcher
from services.domain.calls import Calls
from services.domain.clock import Clock, ManualClock
from services.domain.event_store import InMemoryEventStore
from services.domain.ids import SequentialIds
from services.domain.roster import EscalationPolicy, Roster, load_roster_file
from services.notifier.channels import Message
from services.notifier.content import PageContent
from services.notifier.handlers import Channels, Notifier
from services.notifier.rate_limit import PerPersonLimit
from services.runtime.settings import Settings, Targets
from tests.factories import T0

LINK_KEY = bytes(range(32))
PUBLIC_URL = "http://dispatch1310.test"


def demo_roster() -> Roster:
    return load_roster_file(None)


class FixedRosters:
    """The dispatcher's ``Rosters`` port: one roster, whose policy every call was raised under."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster

    async def policy(self, version: str) -> EscalationPolicy:
        return self.roster.escalation


# ---------------------------------------------------------------- notifier fakes


class Capturing:
    """A channel that delivers everything, remembering what it sent."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.sent if m.address == address]

    def call_ids(self) -> list[str]:
        return [page.call_id for m in self.sent for page in m.pages]


class Failing:
    """A channel whose provider is down: every send fails after ``attempts`` tries."""

    def __init__(self, error: str = "HTTP 500 after 3 attempt(s)", attempts: int = 3) -> None:
        self.error = error
        self.attempts = attempts
        self.tried: list[Message] = []

    async def send(self, message: Message) -> None:
        from services.notifier.channels import DeliveryFailed

        self.tried.append(message)
        raise DeliveryFailed(self.error, self.attempts)


@dataclass
class DeadLetter:
    call_id: str
    person_id: str
    method: str
    text: str
    error: str


@dataclass
class DeadLetterList:
    """The notifier's ``DeadLetters`` port as a list."""

    letters: list[DeadLetter] = field(default_factory=list)

    async def put(self, page: PageContent, method: str, text: str, error: str) -> None:
        self.letters.append(DeadLetter(page.call_id, page.person_id, method, text, error))


class FakeTime:
    """The notifier's time on a manual clock: ``sleep_until`` returns when a test has moved the
    clock past its moment, ``monotonic`` counts seconds of that clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.start = clock.now()
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self.woken: list[Callable[[], None]] = []  # told when the clock moved

    def monotonic(self) -> float:
        return (self.clock.now() - self.start).total_seconds()

    async def sleep_until(self, clock: Clock, at: datetime) -> None:
        while clock.now() < at:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sleepers.append((at, future))
            await future

    def next_wake(self) -> datetime | None:
        """The earliest moment a sleeper waits for (None: nobody sleeps)."""
        waiting = [at for at, future in self._sleepers if not future.done()]
        return min(waiting) if waiting else None

    def moved(self) -> None:
        now, waiting = self.clock.now(), self._sleepers
        self._sleepers = [(at, f) for at, f in waiting if at > now and not f.done()]
        for at, future in waiting:
            if at <= now and not future.done():
                future.set_result(None)
        for wake in self.woken:
            wake()


# ---------------------------------------------------------------- the system


@dataclass
class Bus:
    """What the durable consumers deliver: each stored event once, in stream order."""

    delivered: int = 0  # the stream sequence delivered up to
    pending: list[asyncio.Future[None]] = field(default_factory=list)  # notifier steps in flight


class FakeSystem:
    def __init__(
        self,
        roster: Roster | None = None,
        targets: Targets = Targets(60.0, 180.0, 600.0),
        ack_timeout_s: float = 45.0,
        merge_window_s: float = 300.0,
        start: datetime = T0,
        store: InMemoryEventStore | None = None,
    ) -> None:
        self.clock = ManualClock(start)
        self.store = store or InMemoryEventStore()
        self.calls = Calls(self.store, self.clock, SequentialIds("e"))
        self.roster = roster or demo_roster()
        self.settings = Settings(targets=targets, ack_timeout_s=ack_timeout_s, merge_window_s=merge_window_s)
        self.dispatcher = Dispatcher(self.calls, FixedRosters(self.roster), self.settings)
        self.keeper = DeadlineKeeper(self.calls, sweep_interval_s=3600)
        self.keepers = [self.keeper]  # a second one: scale-out, two keepers racing
        self.audit = AuditState()
        self.time = FakeTime(self.clock)
        self.notifier: Notifier | None = None
        self.dead_letters = DeadLetterList()  # shared by a notifier and the one after its restart
        self.bus = Bus()
        self._raised = 0

    # ------------------------------------------------------------ consumers

    def with_notifier(
        self,
        sms: Any = None,
        limit: PerPersonLimit | None = None,
        **channels: Any,
    ) -> Notifier:
        """Start a notifier (a new one replaces the last: a restart) on fake channels."""
        notifier = Notifier(
            None,
            RosterHolder(self.roster),
            Channels(sms=sms or Capturing(), webhook=channels.pop("webhook", Capturing()), **channels),
            limit or PerPersonLimit(),
            AnswerLinks(LINK_KEY, PUBLIC_URL),
            clock=self.clock,
            monotonic=self.time.monotonic,
            sleep_until=self.time.sleep_until,
            store=self.store,
            dead_letters=self.dead_letters,
        )
        self.time.woken = [notifier.wake]
        self.notifier = notifier
        return notifier

    async def settle(self) -> None:
        """Deliver everything stored and not yet delivered, in stream order, until nothing new
        is stored; then let the notifier's background steps run as far as the clock allows."""
        while True:
            progressed = False
            async for item in self.store.read_all(self.bus.delivered + 1):
                self.bus.delivered = item.seq
                progressed = True
                await self.deliver(item.event, item.seq)
            await self._let_run()
            if self.bus.delivered == self.store.last_seq and not progressed:
                return

    async def deliver(self, event: CallEvent, seq: int) -> None:
        if type(event).__name__ in IN_ORDER_TYPES:
            self.dispatcher.in_stream_order(event, seq)
        for keeper in self.keepers:
            keeper.on_fact(event, seq)
        audit_apply(self.audit, seq, event)
        await self.dispatcher.handle(event, seq)
        if self.notifier is not None:
            outcome = await self.notifier.handle(event, seq)
            if outcome is not None:
                self.bus.pending.append(outcome)

    async def _let_run(self) -> None:
        """Let background work (the keeper's firings, the notifier's later steps and held texts)
        run until it waits on the clock again: no wall-clock time passes."""
        await self._keepers_idle()
        for _ in range(50):  # each round: one hop of a background task (no I/O behind the fakes)
            await asyncio.sleep(0)
        await self._keepers_idle()

    async def _keepers_idle(self) -> None:
        for keeper in self.keepers:
            await keeper.wheel.idle()

    def _fire_due(self) -> None:
        for keeper in self.keepers:
            keeper.wheel.fire_due()

    # ------------------------------------------------------------ time

    async def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``, stopping at every due timer on the way and firing it
        exactly at its due time (as the keeper's timer wheel does), settling after each."""
        target = self.clock.now() + timedelta(seconds=seconds)
        await self.settle()
        while (due := self._next_stop()) is not None and due <= target:
            self.clock.set(max(due, self.clock.now()))
            self.time.moved()
            self._fire_due()
            await self.settle()
        self.clock.set(target)
        self.time.moved()
        self._fire_due()
        await self.settle()

    def _next_stop(self) -> datetime | None:
        dues = [keeper.wheel.next_due() for keeper in self.keepers]
        stops = [t for t in (*dues, self._next_sleeper()) if t is not None]
        return min(stops) if stops else None

    def _next_sleeper(self) -> datetime | None:
        wake = self.time.next_wake()
        pending = [wake] if wake is not None else []
        if self.notifier is not None and (held := self.notifier.pacer.next_due(self.time.monotonic())):
            pending.append(self.time.start + timedelta(seconds=held))
        return min(pending) if pending else None

    # ------------------------------------------------------------ what people do

    async def raise_call(
        self, building_id: str | None = "b12", kind: str = "other", settle: bool = True, **fields: Any
    ) -> str:
        """A resident raises a call (as the intake does), and the system settles (unless told not to)."""
        self._raised += 1
        call_id = fields.pop("call_id", f"call{self._raised}")
        staffed = self.roster.staffed_levels(building_id, None)
        district = self.roster.district_of(building_id)
        command = c.RaiseCall(
            call_id=call_id,
            caller=fields.pop("caller", {"name": "王阿姨", "phone": f"1380000{self._raised:04d}"}),
            building_id=building_id,
            district_id=district.id if district else None,
            kind=kind,
            due=self.settings.targets.due_from(self.clock.now()),
            policy_version=self.roster.escalation.version,
            level=staffed[0] if staffed else "professional",
            **fields,
        )
        await self.calls.execute(command)
        if settle:
            await self.settle()
        return call_id

    async def do(self, command: c.Command) -> list[CallEvent]:
        """Someone acts on a call (through the intake); the system settles."""
        _, events = await self.calls.execute(command)
        await self.settle()
        return events

    async def set_away(self, person_id: str, away: bool = True) -> None:
        fact = AvailabilityChanged(
            event_id=f"avail-{person_id}-{self.clock.now().isoformat()}-{away}",
            at=self.clock.now(),
            responder_id=person_id,
            status="away" if away else "available",
            by=person_id,
        )
        self.dispatcher.on_responder_fact(fact)
        await self.dispatcher.on_availability(fact)
        await self.settle()

    # ------------------------------------------------------------ what is stored

    async def events(self, call_id: str, *types: str) -> list[Any]:
        stored, _ = await self.store.load(call_id)
        return [item.event for item in stored if not types or item.event.type in types]

    async def types(self, call_id: str) -> list[str]:
        return [e.type for e in await self.events(call_id)]

    async def pages(self, call_id: str) -> list[tuple[str, str]]:
        """(person, level) of every page of the call, in order."""
        return [(e.responder_id, e.level) for e in await self.events(call_id, "ResponderAssigned")]


def ids(events: Iterable[Any], attribute: str = "responder_id") -> list[Any]:
    return [getattr(e, attribute) for e in events]
