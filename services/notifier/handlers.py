"""What the notifier does with call events: a dispatch goes out on the person's channel, and
how it went is recorded on the call (``NotificationSent`` / ``NotificationFailed``).

A webhook (a rescue service's system) gets each page at once. A phone gets at most the rate
limit's budget of texts; past it pages are held (``pacing.Pacer``) and go as one combined
text when the window allows. A held page is returned to the consumer as a pending outcome,
so its message is acked only once the page was sent or recorded as failed: a restart
redelivers it, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog
from nats.aio.client import Client

from events import subjects
from events.commands import RecordNotification
from events.models import CallRaised, Fact, NotificationFailed, NotificationSent, ResponderAssigned
from services.common.calls import Calls
from services.common.clock import Clock, SystemClock
from services.common.event_store import StoredEvent
from services.common.ids import derive
from services.common.jetstream_store import JetStreamEventStore
from services.common.roster_store import RosterHolder
from services.notifier.channels import Channel, DeliveryFailed, Notification, Unreachable
from services.notifier.pacing import Batch, Pacer, Page
from services.notifier.rate_limit import PerPersonLimit
from services.notifier.texts import page_line, text_of

log = structlog.get_logger("notifier")


class Notifier:
    def __init__(
        self,
        nc: Client,
        rosters: RosterHolder,
        webhook: Channel,
        sms: Channel,
        limit: PerPersonLimit,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nc = nc
        self.rosters = rosters
        self.webhook = webhook
        self.sms = sms
        self.pacer = Pacer(limit)
        self.monotonic = monotonic
        self.store = JetStreamEventStore(nc)
        self.calls = Calls(self.store, clock or SystemClock())
        self._done: set[str] = set()  # dispatch ids whose outcome this process recorded (fast path)
        self._held: dict[str, asyncio.Future[None]] = {}  # dispatch id -> settled when sent/recorded
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, event: Fact, seq: int = 0) -> asyncio.Future[None] | None:
        """Send (or hold) the page of a ``ResponderAssigned``; a held page's pending outcome."""
        if not isinstance(event, ResponderAssigned) or event.dispatch_id in self._done:
            return None
        if event.dispatch_id in self._held:
            return self._held[event.dispatch_id]  # redelivered while held
        stored, _ = await self.store.load(event.call_id)
        if _recorded(stored, event.dispatch_id):  # at least once: a crash before this resends
            self._done.add(event.dispatch_id)
            return None
        person = self.rosters.roster.people.get(event.responder_id)
        webhook = person.webhook if person else None
        phone = person.phone if person else ""
        page = self._page(event, stored, webhook or phone)
        batch = Batch(event.responder_id, (page,))
        if webhook:
            await self._deliver(self.webhook, "webhook", batch, {"level": event.level})
        elif phone:
            now_batch = self.pacer.offer(page, self.monotonic())
            if now_batch is None:
                return self._hold(page)
            await self._deliver(self.sms, "sms", now_batch)
        else:
            reason = "no contact method" if person else f"{event.responder_id} is not in the roster"
            await self._deliver(Unreachable(reason), "none", batch)
        return None

    def _page(self, event: ResponderAssigned, stored: Sequence[StoredEvent], address: str) -> Page:
        raised = stored[0].event if stored and isinstance(stored[0].event, CallRaised) else None
        if raised is None:  # cannot happen for a stored call; still page, never drop
            line = page_line("other", "", event.level, event.call_id)
            return Page(event.responder_id, event.dispatch_id, event.call_id, address, line)
        building = self.rosters.roster.building(raised.building_id)
        place = building.name if building else raised.address or raised.building_id or ""
        line = page_line(raised.kind, place, event.level, event.call_id)
        return Page(event.responder_id, event.dispatch_id, event.call_id, address, line, raised.drill)

    def _hold(self, page: Page) -> asyncio.Future[None]:
        log.warning("page_held", person=page.person_id, call_id=page.call_id, held=self.pacer.held_count)
        held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held[page.dispatch_id] = held
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_when_due())
        self._wake.set()
        return held

    async def _flush_when_due(self) -> None:
        """Send each person's held pages as one text as soon as their window allows."""
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
            await self._deliver(self.sms, "sms", batch)
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

    async def _deliver(
        self, channel: Channel, method: str, batch: Batch, payload: dict[str, Any] | None = None
    ) -> None:
        """Send ``batch`` as one message, then record the outcome on each of its calls;
        a failure is dead-lettered (per page) before it is recorded."""
        text = text_of(batch)
        first = batch.pages[0]
        reference = (
            first.dispatch_id
            if len(batch.pages) == 1
            else derive("combined", *(p.dispatch_id for p in batch.pages))
        )
        notification = Notification(
            batch.person_id, first.call_id, reference, text, any(p.drill for p in batch.pages), payload or {}
        )
        error: str | None = None
        try:
            attempt = await channel.send(notification, batch.address) or 1
        except DeliveryFailed as exc:
            attempt, error = exc.attempts, str(exc)
            for page in batch.pages:
                await self._dead_letter(page, text, error)
        if len(batch.pages) > 1:
            log.info("pages_combined", person=batch.person_id, calls=[p.call_id for p in batch.pages])
        for page in batch.pages:
            await self.calls.execute(
                RecordNotification(
                    call_id=page.call_id,
                    responder_id=batch.person_id,
                    dispatch_id=page.dispatch_id,
                    method=method,
                    attempt=attempt,
                    error=error,
                )
            )
            self._done.add(page.dispatch_id)

    async def _dead_letter(self, page: Page, text: str, error: str) -> None:
        await self.nc.jetstream().publish(
            subjects.dead_letter_subject("notifier"),
            text.encode(),
            headers={
                "Dispatch1310-Reason": error[:500],
                "Dispatch1310-Subject": subjects.call_subject(page.call_id, ResponderAssigned.__name__),
                "Dispatch1310-Consumer": "notifier",
            },
        )
        log.error("delivery_failed", person=page.person_id, call_id=page.call_id, error=error)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop: pages still held stay unacked, so JetStream redelivers them to the next notifier."""
        tasks = [*self._tasks, *([self._flusher] if self._flusher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in self._held.values():
            outcome.cancel()
        self._held.clear()


def _recorded(stored: Sequence[StoredEvent], dispatch_id: str) -> bool:
    return any(
        isinstance(item.event, NotificationSent | NotificationFailed)
        and item.event.dispatch_id == dispatch_id
        for item in stored
    )
