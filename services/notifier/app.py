"""Composition root of the notifier: channels configured by the settings.

``DISPATCH1310_WEBHOOK_SECRET`` signs webhooks (unset: see ``bootstrap.webhook_secret``); SMS by
``DISPATCH1310_SMS_PROVIDER`` (``twilio``, ``http`` with ``DISPATCH1310_SMS_URL``, else logged)
and voice by ``DISPATCH1310_VOICE_URL`` (else logged): ``Settings.sms``/``.voice``, providers.py.
Web Push signs with the data dir's VAPID key; group robots need no setting (their URLs are in
the roster).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import httpx
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from events import subjects
from services.adapters.answer_links import AnswerLinks
from services.adapters.consumer import keep_ack_wait, subscribe_events
from services.adapters.push_subscriptions import PushSubscriptions
from services.adapters.roster_store import RosterHolder
from services.adapters.vapid import load_vapid
from services.notifier.channels import Channel, WebhookChannel
from services.notifier.handlers import Channels, Notifier
from services.notifier.providers import sms_channel, voice_channel
from services.notifier.push import WebPushChannel
from services.notifier.rate_limit import PerPersonLimit
from services.notifier.robots import DingTalkRobot, WeComRobot
from services.runtime.bootstrap import bootstrap
from services.runtime.service import BrokerService, Service, run_service
from services.runtime.settings import Settings

DURABLE = "notifier"
PAGES = subjects.call_type_filter("ResponderAssigned")  # what ``Notifier.handle`` acts on
PARTITIONS = 8
# How long a message may go unacked before JetStream redelivers it. The consumer tells
# JetStream "in progress" while a page is being sent (a webhook retried), while its later steps
# wait (voice after a while) and while its text is held for a rate-limited phone; so this is
# only how soon the pages of a notifier that died come back to the next one: soon enough for
# a voice step still to ring before its page ends.
ACK_WAIT_S = 10.0


async def build(
    settings: Settings,
    sms: Channel | None = None,
    limit: PerPersonLimit | None = None,
    ack_wait_s: float = ACK_WAIT_S,
    **channels: Channel,
) -> Service:
    """``sms`` and ``channels`` (push=, voice=, wecom=, dingtalk=, webhook=) replace the
    configured providers (tests)."""
    return await bootstrap(
        "notifier", settings, compose, sms=sms, limit=limit, ack_wait_s=ack_wait_s, channels=channels
    )


async def compose(
    *,
    settings: Settings,
    nc: Client,
    rosters: RosterHolder,
    links: AnswerLinks,
    webhook_secret: str,
    sms: Channel | None,
    limit: PerPersonLimit | None,
    ack_wait_s: float,
    channels: dict[str, Channel],
) -> Service:
    http = httpx.AsyncClient(timeout=5)
    configured = Channels(
        sms=sms or sms_channel(http, settings.sms),
        webhook=WebhookChannel(http, webhook_secret),
        push=WebPushChannel(http, await PushSubscriptions.open(nc), load_vapid(settings.data_dir)),
        voice=voice_channel(http, settings.voice, f"{settings.public_url}/api/inbound/voice"),
        wecom=WeComRobot(http),
        dingtalk=DingTalkRobot(http),
    )
    notifier = Notifier(nc, rosters, replace(configured, **channels), limit or PerPersonLimit(), links)
    # A new notifier starts from now: it must not text people about last year's calls.
    # Calls are delivered concurrently (in order within a call), so a webhook being retried
    # (up to ~28 s: 5 tries of 5 s plus backoff) holds up only its own call, and is kept "in
    # progress" so it is not redelivered while it is still trying.
    # It acts on pages only: JetStream hands it no other event of a call.
    events = subscribe_events(
        nc,
        DURABLE,
        notifier.handle,
        subject=PAGES,
        deliver_policy=DeliverPolicy.NEW,
        partitions=PARTITIONS,
        ack_wait_s=ack_wait_s,
    )
    await keep_ack_wait(nc, subjects.CALLS_STREAM, DURABLE, ack_wait_s, filter_subject=PAGES)
    # Closed in reverse: the notifier first, so held pages are given back (unacked) while NATS is
    # up; then handlings at work are dropped (redelivered); NATS is closed last.
    closers: list[Callable[[], Awaitable[None]]] = [
        nc.close,
        http.aclose,
        rosters.close,
        events.close,
        notifier.close,
    ]
    return BrokerService(DURABLE, events, closers)


def run(settings: Settings, on_started: Callable[[], None] | None = None) -> None:
    run_service(lambda: build(settings), on_started)
