"""Composition root of the notifier: channels configured from the environment.

``DISPATCH1310_WEBHOOK_SECRET`` signs webhooks (default: a development secret);
``DISPATCH1310_SMS_URL`` (+ ``DISPATCH1310_SMS_TOKEN``) selects the HTTP SMS gateway,
otherwise texts are logged (development).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import replace

import httpx
from faststream.nats import NatsRouter
from nats.js.api import DeliverPolicy

from services.common.answer_links import AnswerLinks, load_link_key
from services.common.consumer import subscribe_events
from services.common.roster import load_roster_file
from services.common.roster_store import RosterHolder
from services.common.service import BrokerService, Service, run_service, service_broker
from services.common.settings import Settings
from services.common.streams import connect, ensure_streams
from services.notifier.channels import Channel, HttpSms, LoggingSms, WebhookChannel
from services.notifier.handlers import Channels, Notifier
from services.notifier.rate_limit import PerPersonLimit

DURABLE = "notifier"
PARTITIONS = 8
# How long a message may go unacked before JetStream redelivers it: outlasts a webhook's
# retries, and a page held for a rate-limited phone is kept "in progress" until it is sent,
# so this is also how soon a held page is redelivered to the next notifier after a restart.
ACK_WAIT_S = 60.0


async def build(
    settings: Settings,
    sms: Channel | None = None,
    limit: PerPersonLimit | None = None,
    ack_wait_s: float = ACK_WAIT_S,
    **channels: Channel,
) -> Service:
    """``sms`` and ``channels`` (push=, voice=, wecom=, dingtalk=, webhook=) replace the
    configured providers (tests)."""
    assert settings.nats_url, "NATS_URL must be set for a service"
    nc = await connect(settings.nats_url, "notifier")
    await ensure_streams(nc.jetstream(), settings.replicas)
    rosters = await RosterHolder.follow(nc, load_roster_file(settings.roster_path))
    http = httpx.AsyncClient(timeout=5)
    webhook = WebhookChannel(http, os.environ.get("DISPATCH1310_WEBHOOK_SECRET", "dispatch1310-dev-secret"))
    sms_url = os.environ.get("DISPATCH1310_SMS_URL")
    chosen_sms = sms or (
        HttpSms(http, sms_url, os.environ.get("DISPATCH1310_SMS_TOKEN")) if sms_url else LoggingSms()
    )
    configured = Channels(sms=chosen_sms, webhook=webhook)
    links = AnswerLinks(load_link_key(settings.data_dir), settings.public_url)
    notifier = Notifier(nc, rosters, replace(configured, **channels), limit or PerPersonLimit(), links)
    router = NatsRouter()
    # A new notifier starts from now: it must not text people about last year's calls.
    # Calls are delivered concurrently (in order within a call), so a webhook being retried
    # (up to ~28 s: 5 tries of 5 s plus backoff) holds up only its own call, and the ack wait
    # outlasts those retries so a slow delivery is not redelivered while it is still trying.
    partitions = subscribe_events(
        router,
        nc,
        DURABLE,
        notifier.handle,
        deliver_policy=DeliverPolicy.NEW,
        partitions=PARTITIONS,
        ack_wait_s=ack_wait_s,
    )
    assert partitions is not None
    broker = service_broker(settings.nats_url)
    broker.include_router(router)
    # Closed in reverse: the notifier first, so held pages are given back (unacked) while NATS is up.
    closers: list[Callable[[], Awaitable[None]]] = [
        partitions.close,
        rosters.close,
        http.aclose,
        nc.close,
        notifier.close,
    ]
    return BrokerService(DURABLE, broker, closers)


def run(settings: Settings) -> None:
    run_service(lambda: build(settings))
