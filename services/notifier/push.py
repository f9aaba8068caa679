"""Web Push (standard VAPID, RFC 8030/8291/8292): a page straight to each browser the person
subscribed, shown as a notification with Accept / Decline even when no page is open.

The payload is the page's contract JSON (``PageContent.payload()``), encrypted for each
browser (``aes128gcm``) and POSTed to its push service with a VAPID ``Authorization``. A push
service answering 404 or 410 says the subscription is gone: it is forgotten.
"""

from __future__ import annotations

import json
import os
from typing import Protocol

import http_ece
import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import ec

from services.adapters.push_subscriptions import PushSubscription, b64url_decode
from services.adapters.vapid import VapidKeys
from services.notifier.channels import DeliveryFailed, Message, NotSetUp

log = structlog.get_logger("notifier")

GONE = (404, 410)


class SubscriptionBook(Protocol):
    async def of(self, person_id: str) -> list[PushSubscription]: ...

    async def remove(self, person_id: str, endpoint: str) -> bool: ...


def encrypt(payload: bytes, subscription: PushSubscription) -> bytes:
    """RFC 8291: an ephemeral ECDH key per message, the browser's key and auth secret."""
    return bytes(
        http_ece.encrypt(
            payload,
            salt=os.urandom(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=b64url_decode(subscription.keys.p256dh),
            auth_secret=b64url_decode(subscription.keys.auth),
            version="aes128gcm",
        )
    )


class WebPushChannel:
    def __init__(
        self,
        http: httpx.AsyncClient,
        subscriptions: SubscriptionBook,
        vapid: VapidKeys,
        subject: str = "mailto:dispatch1310@localhost",
        ttl_s: int = 600,
    ) -> None:
        self.http = http
        self.subscriptions = subscriptions
        self.vapid = vapid
        self.subject = subject
        self.ttl_s = ttl_s

    async def send(self, message: Message) -> int | None:
        try:
            browsers = await self.subscriptions.of(message.person_id)
        except Exception as exc:
            raise DeliveryFailed(f"push: subscriptions unavailable: {exc!r}") from None
        if not browsers:
            raise NotSetUp("push: no browser subscribed")
        payload = json.dumps(message.first.payload(), ensure_ascii=False).encode()
        failures: list[str] = []
        for browser in browsers:
            failure = await self._push(message, browser, payload)
            if failure:
                failures.append(failure)
        if len(failures) == len(browsers):
            raise DeliveryFailed("push: " + "; ".join(failures))
        return None

    async def _push(self, message: Message, browser: PushSubscription, payload: bytes) -> str | None:
        """Push to one browser: None when its push service took it, else why not."""
        host = httpx.URL(browser.endpoint).host
        headers = {
            "TTL": str(self.ttl_s),
            "Urgency": "high",
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "aes128gcm",
            "Authorization": self.vapid.authorization(browser.endpoint, self.subject),
        }
        try:
            response = await self.http.post(
                browser.endpoint, content=encrypt(payload, browser), headers=headers
            )
        except httpx.HTTPError as exc:
            return f"{host}: {exc!r}"
        if response.status_code < 300:
            return None
        if response.status_code in GONE:
            log.info("push_subscription_gone", person_id=message.person_id, host=host)
            try:
                await self.subscriptions.remove(message.person_id, browser.endpoint)
            except Exception as exc:  # forgotten next time
                log.warning("push_forget_failed", person_id=message.person_id, error=repr(exc))
        return f"{host}: HTTP {response.status_code}"
