"""What the notifier does with call events: a dispatch goes out on the person's channel."""

from __future__ import annotations

import time

import structlog
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError

from events import subjects
from events.models import Fact, ResponderAssigned
from services.common.roster_store import RosterHolder
from services.notifier.channels import Channel, DeliveryFailed, Notification
from services.notifier.rate_limit import PerPersonLimit

log = structlog.get_logger("notifier")
LEVEL_TEXT = {"building": "楼栋", "district": "片区", "community": "社区", "professional": "专业救援"}


class Notifier:
    def __init__(
        self, nc: Client, rosters: RosterHolder, webhook: Channel, sms: Channel, limit: PerPersonLimit
    ) -> None:
        self.nc = nc
        self.rosters = rosters
        self.webhook = webhook
        self.sms = sms
        self.limit = limit
        self._sent: set[str] = set()  # dispatch ids delivered by this process (fast path)

    async def handle(self, event: Fact, seq: int = 0) -> None:
        if not isinstance(event, ResponderAssigned) or await self._already_sent(event.dispatch_id):
            return
        person = self.rosters.roster.people.get(event.responder_id)
        if person is None:
            return
        if not self.limit.allow(person.id, time.monotonic()):
            log.warning("rate_limited", person=person.id, call_id=event.call_id)
            return
        drill = "【演练 DRILL】" if await self._is_drill(event.call_id) else ""
        text = f"{drill}1310 派单：请立即联系求助居民并前往（{LEVEL_TEXT.get(event.level, event.level)}）。call {event.call_id}"
        notification = Notification(
            person.id, event.call_id, event.dispatch_id, text, bool(drill), {"level": event.level}
        )
        channel, address = (self.webhook, person.webhook) if person.webhook else (self.sms, person.phone)
        if not address:
            return
        try:
            await channel.send(notification, address)
        except DeliveryFailed as exc:
            await self.nc.jetstream().publish(
                subjects.dead_letter_subject("notifier"),
                text.encode(),
                headers={
                    "Dispatch1310-Reason": str(exc)[:500],
                    "Dispatch1310-Subject": subjects.call_subject(event.call_id, event.type),
                    "Dispatch1310-Consumer": "notifier",
                },
            )
            log.error("delivery_failed", person=person.id, error=str(exc))
        await self._mark_sent(event.dispatch_id)

    async def _already_sent(self, dispatch_id: str) -> bool:
        """At least once: a crash between sending and marking sends again, never nothing."""
        if dispatch_id in self._sent:
            return True
        try:
            await (await self.nc.jetstream().key_value(subjects.NOTIFIER_BUCKET)).get(f"sent.{dispatch_id}")
        except KeyNotFoundError:
            return False
        self._sent.add(dispatch_id)
        return True

    async def _mark_sent(self, dispatch_id: str) -> None:
        self._sent.add(dispatch_id)
        bucket = await self.nc.jetstream().key_value(subjects.NOTIFIER_BUCKET)
        await bucket.put(f"sent.{dispatch_id}", b"1")

    async def _is_drill(self, call_id: str) -> bool:
        from services.common.jetstream_store import JetStreamEventStore

        stored, _ = await JetStreamEventStore(self.nc).load(call_id)
        first = stored[0].event if stored else None
        return bool(getattr(first, "drill", False))
