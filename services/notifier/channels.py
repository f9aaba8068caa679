"""Channels behind one interface: ``send(message)`` delivers or raises ``DeliveryFailed``.

SSE fan-out is built into the intake (``/api/responders/{id}/stream``); channels reach people
who are not looking at a page: Web Push (push.py), SMS and voice providers (providers.py),
group robots (robots.py), and here a signed, retried webhook and the generic SMS gateway.
The notifier renders each message's text for its channel (texts.py); a channel only sends.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Protocol

import httpx
import structlog

from services.adapters.signing import sign
from services.notifier.content import PageContent

log = structlog.get_logger("notifier")


class DeliveryFailed(Exception):
    def __init__(self, reason: str, attempts: int = 1) -> None:
        super().__init__(reason)
        self.attempts = attempts


class NotSetUp(DeliveryFailed):
    """The person has not set this channel up (no browser subscribed to push): nothing was
    tried. Recorded as a failure only when the page has no other way to reach them."""


@dataclass(frozen=True)
class Message:
    """One sending on one channel: to ``address`` (a phone, a URL; "" for push, which goes to
    the person's subscribed browsers), saying ``text`` about ``pages`` (one page, or several
    combined into one text). ``reference`` is the page's dispatch id (or the combined pages'
    id); ``secret`` signs a DingTalk robot's URL."""

    person_id: str
    address: str
    text: str
    pages: tuple[PageContent, ...]
    reference: str
    secret: str | None = None

    @property
    def first(self) -> PageContent:
        return self.pages[0]

    @property
    def call_id(self) -> str:
        return self.pages[0].call_id

    @property
    def drill(self) -> bool:
        return any(page.drill for page in self.pages)


class Channel(Protocol):
    async def send(self, message: Message) -> int | None:
        """Deliver or raise DeliveryFailed; may return how many tries it took."""
        ...


class Unreachable:
    """No channel at all (no webhook, no phone): every send fails with ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def send(self, message: Message) -> int | None:
        raise DeliveryFailed(self.reason)


class WebhookChannel:
    """POST JSON, signed (HMAC-SHA256 over "<timestamp>.<body>"), retried with backoff."""

    def __init__(
        self, http: httpx.AsyncClient, secret: str, attempts: int = 5, backoff_s: float = 0.2
    ) -> None:
        self.http = http
        self.secret = secret
        self.attempts = attempts
        self.backoff_s = backoff_s

    async def send(self, message: Message) -> int | None:
        address = message.address
        body = json.dumps(
            {
                **message.first.payload(),
                "dispatch_id": message.reference,
                "person_id": message.person_id,
                "text": message.text,
                "drill": message.drill,
            },
            ensure_ascii=False,
        ).encode()
        last = ""
        for attempt in range(1, self.attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Dispatch1310-Timestamp": timestamp,
                "X-Dispatch1310-Signature": sign(self.secret, timestamp, body),
                "Idempotency-Key": message.reference,
            }
            try:
                response = await self.http.post(address, content=body, headers=headers)
                if response.status_code < 300:
                    return attempt
                last = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses this message: retrying will not help
            except httpx.HTTPError as exc:
                last = repr(exc)
            if attempt < self.attempts:
                log.warning("webhook_retry", attempt=attempt, error=last, call_id=message.call_id)
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise DeliveryFailed(f"webhook {address}: {last} after {attempt} attempt(s)", attempts=attempt)


class LoggingSms:
    """Development SMS: logs the text it would send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: Message) -> int | None:
        self.sent.append((message.address, message.text))
        log.info("sms_dev", to=message.address, text=message.text, call_id=message.call_id)
        return None


class HttpSms:
    """A generic HTTP SMS gateway: POST {"to", "text", "reference"} with a bearer token."""

    def __init__(self, http: httpx.AsyncClient, url: str, token: str | None) -> None:
        self.http = http
        self.url = url
        self.token = token

    async def send(self, message: Message) -> int | None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = await self.http.post(
                self.url,
                json={"to": message.address, "text": message.text, "reference": message.reference},
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"sms gateway: {exc!r}") from None
        if response.status_code >= 300:
            raise DeliveryFailed(f"sms gateway: HTTP {response.status_code}")
        return None
