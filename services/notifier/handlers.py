"""What the notifier does with call events: each page (``ResponderAssigned``) is sent by its
rules (rules.py) on the person's channels and to the district's group robots, and each
sending is recorded on the call (``NotificationSent`` / ``NotificationFailed``).

Steps due now are sent before the message is acked. Later steps (voice after a while) and
texts held for a rate-limited phone run in the background: the message's pending outcome is
returned to the consumer, so it is acked only once every step ran or the rules stopped, and
a restart redelivers it (only unrecorded steps run again; a step whose time passed while the
notifier was down runs at once if the page still awaits its answer).

A phone gets at most the rate limit's budget of texts; past it texts are held
(``pacing.Pacer``) and go as one combined text when the window allows: never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from nats.aio.client import Client

from events.commands import RecordNotification
from events.models import Fact, ResponderAssigned
from services.adapters.answer_links import AnswerLinks
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.roster_store import RosterHolder
from services.domain.aggregate import CallState, fold
from services.domain.calls import Calls
from services.domain.clock import Clock, SystemClock
from services.domain.event_store import ConcurrencyConflict, EventStore, StoredEvent
from services.domain.ids import derive
from services.notifier.channels import Channel, DeliveryFailed, Message, NotSetUp, Unreachable
from services.notifier.content import PageContent, page_content
from services.notifier.dead_letters import DeadLetters, JetStreamDeadLetters
from services.notifier.pacing import Batch, Pacer, Page
from services.notifier.rate_limit import PerPersonLimit
from services.notifier.rules import Step, plan, recorded_methods, should_send
from services.notifier.texts import markdown_text, sms_text, voice_text
from services.runtime import metrics

log = structlog.get_logger("notifier")
LATEST_KEPT = 2000  # calls whose last seen state is kept, to record outcomes without a reload


NO_PUSH = Unreachable("push: no push service configured")
NO_VOICE = Unreachable("voice: no voice provider configured")
NO_ROBOT = Unreachable("no robot channel configured")


@dataclass(frozen=True)
class Channels:
    """One channel per method; a method without a provider is ``Unreachable`` (recorded as failed)."""

    sms: Channel
    webhook: Channel
    push: Channel = NO_PUSH
    voice: Channel = NO_VOICE
    wecom: Channel = NO_ROBOT
    dingtalk: Channel = NO_ROBOT

    def of(self, name: str) -> Channel:
        channel: Channel = getattr(self, name)
        return channel


async def _sleep_until(clock: Clock, at: datetime) -> None:
    await asyncio.sleep(max((at - clock.now()).total_seconds(), 0.0))


class Notifier:
    """``nc`` gives the store and the dead letters on JetStream; ``store=`` and ``dead_letters=``
    stand in for them (tests on fakes pass ``nc=None`` and both)."""

    def __init__(
        self,
        nc: Client | None,
        rosters: RosterHolder,
        channels: Channels,
        limit: PerPersonLimit,
        links: AnswerLinks,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep_until: Callable[[Clock, datetime], Awaitable[None]] = _sleep_until,
        *,
        store: EventStore | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        if store is None or dead_letters is None:
            assert nc is not None, "give nc, or both store= and dead_letters="
            store = JetStreamEventStore(nc) if store is None else store
            dead_letters = JetStreamDeadLetters(nc) if dead_letters is None else dead_letters
        self.rosters = rosters
        self.channels = channels
        self.links = links
        self.clock = clock or SystemClock()
        self.pacer = Pacer(limit)
        self.monotonic = monotonic
        self.sleep_until = sleep_until
        self.store = store
        self.dead_letters = dead_letters
        self.calls = Calls(self.store, self.clock)
        self._done: set[str] = set()  # dispatch ids whose every step ran here (fast path)
        self._running: dict[str, asyncio.Future[None]] = {}  # dispatch id -> later steps
        self._held: dict[str, asyncio.Future[None]] = {}  # dispatch id -> its held text sent
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._latest: OrderedDict[str, tuple[CallState, int]] = OrderedDict()  # call -> as last seen
        self._locks = [asyncio.Lock() for _ in range(64)]  # outcomes of one call, one at a time

    async def handle(self, event: Fact, seq: int = 0) -> asyncio.Future[None] | None:
        """Send the steps of a page due now; the pending outcome of its later steps, if any."""
        if not isinstance(event, ResponderAssigned) or event.dispatch_id in self._done:
            return None
        running = self._running.get(event.dispatch_id)
        if running is not None:
            return running  # redelivered while its later steps wait
        state, stored = await self._load(event.call_id)
        done = recorded_methods((item.event for item in stored), event.dispatch_id)
        roster = self.rosters.roster
        person = roster.people.get(event.responder_id)
        building_id = state.raised.building_id if state.raised else None
        steps = [s for s in plan(event, person, roster, building_id) if s.method not in done]
        if person is None and "none" not in done:
            steps.append(Step("none", "none", event.at, first_word=True))
        content = page_content(state, event, roster, self.links.url(event.call_id, event.dispatch_id))
        now = self.clock.now()
        later = [step for step in steps if step.at > now]
        # Due now, all at once (push, SMS and the robots go together): a late step of a page
        # already answered or ended is not sent (the rules stopped).
        due = [step for step in steps if step.at <= now and should_send(step, state, event.dispatch_id)]
        outcomes = await asyncio.gather(*(self._send(step, content) for step in due))
        # a text past the phone's budget waits for its window, in the background
        later = [step for step, held in zip(due, outcomes, strict=True) if held is not None] + later
        if not later:
            self._done.add(event.dispatch_id)
            return None
        outcome = self._spawn(self._run_later(event, content, later))
        self._running[event.dispatch_id] = outcome
        outcome.add_done_callback(lambda _: self._running.pop(event.dispatch_id, None))
        return outcome

    async def _load(self, call_id: str) -> tuple[CallState, list[StoredEvent]]:
        stored, version = await self.store.load(call_id)
        state = fold(call_id, (item.event for item in stored))
        self._remember(call_id, state, version)
        return state, list(stored)

    async def _run_later(self, page: ResponderAssigned, content: PageContent, steps: list[Step]) -> None:
        for step in steps:
            held = self._held.get(page.dispatch_id) if step.channel == "sms" else None
            if held is not None:
                await held  # its text goes when the phone's window allows
                continue
            await self.sleep_until(self.clock, step.at)
            state, stored = await self._load(page.call_id)
            if step.method in recorded_methods((item.event for item in stored), page.dispatch_id):
                continue  # another notifier sent it meanwhile
            if not should_send(step, state, page.dispatch_id):
                log.info("rules_stopped", call_id=page.call_id, person=page.responder_id, step=step.method)
                break
            held = await self._send(step, content)
            if held is not None:
                await held
        self._done.add(page.dispatch_id)

    async def _send(self, step: Step, content: PageContent) -> asyncio.Future[None] | None:
        """Send one step now and record it; a text past the phone's budget is held instead
        (its pending outcome returned)."""
        person_id, now = content.person_id, self.clock.now()
        if step.channel == "sms":
            page = Page(person_id, content.dispatch_id, content.call_id, step.address, content)
            batch = self.pacer.offer(page, self.monotonic())
            if batch is None:
                return self._hold(page)
            await self._deliver_batch(batch)
            return None
        if step.channel == "none":
            channel: Channel = Unreachable(f"{person_id} is not in the roster")
            text = sms_text([content], now)
        else:
            channel = self.channels.of(step.channel)
            text = self._render(step.channel, content, now)
        reference = (
            self.links.token(content.call_id, content.dispatch_id)
            if step.channel == "voice"
            else content.dispatch_id
        )
        message = Message(person_id, step.address, text, (content,), reference, step.secret)
        await self._deliver(channel, step.method, message, optional=step.optional)
        return None

    @staticmethod
    def _render(channel: str, content: PageContent, now: datetime) -> str:
        if channel == "voice":
            return voice_text(content, now)
        if channel in ("wecom", "dingtalk"):
            return markdown_text([content], now)
        return sms_text([content], now)

    async def _deliver_batch(self, batch: Batch) -> None:
        contents = tuple(page.content for page in batch.pages)
        reference = (
            contents[0].dispatch_id
            if len(contents) == 1
            else derive("combined", *(c.dispatch_id for c in contents))
        )
        text = sms_text(contents, self.clock.now())
        message = Message(batch.person_id, batch.address, text, contents, reference)
        if len(contents) > 1:
            log.info("pages_combined", person=batch.person_id, calls=[c.call_id for c in contents])
        await self._deliver(self.channels.sms, "sms", message)

    async def _deliver(self, channel: Channel, method: str, message: Message, optional: bool = False) -> None:
        """Send ``message``, then record the outcome on each of its pages' calls; a failure is
        dead-lettered (per page) before it is recorded. An ``optional`` step the person has not
        set up is skipped: nothing was tried, nothing is recorded."""
        error: str | None = None
        try:
            attempt = await channel.send(message) or 1
        except DeliveryFailed as exc:
            if optional and isinstance(exc, NotSetUp):
                log.debug("step_not_set_up", person=message.person_id, method=method, reason=str(exc))
                return
            attempt, error = exc.attempts, str(exc)
            for page in message.pages:
                await self.dead_letters.put(page, method, message.text, error)
        for page in message.pages:
            await self._record(
                RecordNotification(
                    call_id=page.call_id,
                    responder_id=message.person_id,
                    dispatch_id=page.dispatch_id,
                    method=method,
                    attempt=attempt,
                    error=error,
                )
            )

    async def _record(self, command: RecordNotification) -> None:
        """Append one outcome, on the call as last loaded or written here when that is still
        its end (no reload per outcome), else as loaded now. Outcomes of one call are recorded
        one at a time: the steps of a page, sent together, do not race each other."""
        call_id = command.call_id
        async with self._locks[hash(call_id) % len(self._locks)]:
            known = self._latest.pop(call_id, None)
            for _ in range(8):
                state, version = known if known is not None else await self.calls.load(call_id)
                try:
                    state, version, recorded = await self.calls.apply(state, version, command)
                except ConcurrencyConflict:
                    known = None
                    continue
                for _ in recorded:  # none when already recorded (a redelivery)
                    metrics.page_recorded(command.method, sent=command.error is None)
                self._remember(call_id, state, version)
                return
            raise ConcurrencyConflict(call_id, version)

    def _remember(self, call_id: str, state: CallState, version: int) -> None:
        self._latest[call_id] = (state, version)
        self._latest.move_to_end(call_id)
        while len(self._latest) > LATEST_KEPT:
            self._latest.popitem(last=False)

    def wake(self) -> None:
        """Look at held texts again now. The flusher wakes by itself when the next is due on
        ``monotonic``; tests that move time by hand call this after moving it."""
        self._wake.set()

    def _hold(self, page: Page) -> asyncio.Future[None]:
        log.warning("page_held", person=page.person_id, call_id=page.call_id, held=self.pacer.held_count)
        held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held[page.dispatch_id] = held
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_when_due())
        self._wake.set()
        return held

    async def _flush_when_due(self) -> None:
        """Send each person's held texts as one text as soon as their window allows."""
        while True:
            self._wake.clear()
            now = self.monotonic()
            for batch in self.pacer.due(now):
                self._spawn(self._flush(batch))
            due_at = self.pacer.next_due(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if due_at is None else due_at - now)

    async def _flush(self, batch: Batch) -> None:
        failure: Exception | None = None
        try:
            await self._deliver_batch(batch)
        except Exception as exc:  # not recorded: the consumer redelivers these messages
            failure = exc
        for page in batch.pages:  # held until now, so a redelivery meanwhile waits for this
            outcome = self._held.pop(page.dispatch_id, None)
            if outcome is None or outcome.done():
                continue
            if failure is None:
                outcome.set_result(None)
            else:
                outcome.set_exception(failure)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Stop: pages still waiting stay unacked, so JetStream redelivers them to the next notifier."""
        tasks = [*self._tasks, *([self._flusher] if self._flusher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in self._held.values():
            outcome.cancel()
        self._held.clear()
