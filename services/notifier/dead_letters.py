"""Where a page that could not be delivered goes: ``deadletter.notifier`` on JetStream.

A port, so the notifier's handlers run on fakes in tests (a list) and on NATS in the service.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from nats.aio.client import Client

from events import subjects
from events.models import ResponderAssigned
from services.notifier.content import PageContent
from services.runtime import metrics

log = structlog.get_logger("notifier")


class DeadLetters(Protocol):
    async def put(self, page: PageContent, method: str, text: str, error: str) -> None:
        """Keep ``text`` that could not go to ``page``'s person by ``method``, with the reason."""
        ...


class JetStreamDeadLetters:
    def __init__(self, nc: Client) -> None:
        self.nc = nc

    async def put(self, page: PageContent, method: str, text: str, error: str) -> None:
        await self.nc.jetstream().publish(
            subjects.dead_letter_subject("notifier"),
            text.encode(),
            headers={
                "Dispatch1310-Reason": error[:500],
                "Dispatch1310-Subject": subjects.call_subject(page.call_id, ResponderAssigned.__name__),
                "Dispatch1310-Consumer": "notifier",
                "Dispatch1310-Method": method,
            },
        )
        metrics.dead_lettered("notifier")
        log.error("delivery_failed", person=page.person_id, call_id=page.call_id, method=method, error=error)
