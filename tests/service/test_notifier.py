"""Notifier channels against local HTTP servers: signed webhook, retry, dead letter, SMS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import httpx
from nats.js.api import ConsumerConfig, DeliverPolicy
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.adapters.answer_links import AnswerLinks, load_link_key
from services.adapters.consumer import partition_of
from services.adapters.signing import sign as webhook_signature
from services.domain.ids import call_id_for_key
from services.notifier.channels import HttpSms, Message, WebhookChannel
from services.notifier.content import PageContent
from services.notifier.rate_limit import PerPersonLimit
from tests.conftest import System
from tests.support import serving_fake, wait_for

SECRET = "test-webhook-secret"


def links_for(system: System) -> AnswerLinks:
    settings = system.settings
    return AnswerLinks(load_link_key(settings.data_dir), settings.public_url)


@dataclass
class FakeReceiver:
    """A local HTTP server answering with the statuses it is told to, recording requests."""

    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@asynccontextmanager
async def receiver(statuses: list[int]) -> AsyncIterator[FakeReceiver]:
    fake = FakeReceiver(statuses)

    async def hook(request: Request) -> JSONResponse:
        fake.received.append((dict(request.headers), await request.body()))
        status = fake.statuses.pop(0) if fake.statuses else 200
        return JSONResponse({"ok": status < 300}, status_code=status)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serving_fake(app, "fake receiver") as url:
        fake.url = f"{url}/hook"
        yield fake


PAGE = PageContent(
    "c1", "dispatch-1", "r1", "fire", "胜利街3栋", "胜利街12号", "王", "13800000000", "", "professional",
    None, "http://127.0.0.1/a/t",
)  # fmt: skip
NOTE = Message("r1", "", "1310 派单", (PAGE,), "dispatch-1")


async def test_webhook_is_signed_and_retried_after_a_500() -> None:
    async with receiver([500, 200]) as fake, httpx.AsyncClient() as http:
        await WebhookChannel(http, SECRET, attempts=3, backoff_s=0.01).send(replace(NOTE, address=fake.url))
        assert len(fake.received) == 2
        headers, body = fake.received[-1]
        expected = webhook_signature(SECRET, headers["x-dispatch1310-timestamp"], body)
        assert headers["x-dispatch1310-signature"] == expected
        sent = json.loads(body)
        assert sent["call_id"] == "c1" and headers["idempotency-key"] == "dispatch-1"
        assert sent["address"] == "胜利街12号" and sent["answer_url"] == "http://127.0.0.1/a/t"


async def test_webhook_gives_up_after_the_limit(system: System) -> None:
    from services.adapters.roster_store import RosterHolder
    from services.domain.roster import load_roster_file
    from services.notifier.handlers import Channels, Notifier

    async with receiver([500] * 10) as fake, httpx.AsyncClient() as http:
        roster = load_roster_file(None)
        professional = roster.professional[0].model_copy(update={"webhook": fake.url})
        patched = roster.model_copy(update={"professional": (professional, *roster.professional[1:])})
        notifier = Notifier(
            system.nc,
            RosterHolder(patched),
            Channels(
                sms=WebhookChannel(http, SECRET),
                webhook=WebhookChannel(http, SECRET, attempts=3, backoff_s=0.01),
            ),
            PerPersonLimit(),
            links_for(system),
        )
        js = system.nc.jetstream()
        dead = await js.subscribe(
            "deadletter.notifier", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        call_id = (await system.raise_call("b12", kind="fire"))["call_id"]
        assigned = [
            a
            for a in await system.log.wait_type(call_id, "ResponderAssigned", count=3)
            if a.responder_id == "r1"
        ]
        await notifier.handle(assigned[0])
        assert len(fake.received) == 3
        letter = await dead.next_msg(timeout=5)
        assert "HTTP 500 after 3 attempt(s)" in letter.headers["Dispatch1310-Reason"]
        await notifier.handle(assigned[0])  # redelivered: not sent again
        assert len(fake.received) == 3
        restarted = Notifier(
            system.nc,
            RosterHolder(patched),
            Channels(
                sms=WebhookChannel(http, SECRET),
                webhook=WebhookChannel(http, SECRET, attempts=3, backoff_s=0.01),
            ),
            PerPersonLimit(),
            links_for(system),
        )
        await restarted.handle(assigned[0])  # redelivered after a restart: still not sent again
        assert len(fake.received) == 3


async def test_http_sms_adapter_posts_to_the_gateway() -> None:
    async with receiver([202]) as fake, httpx.AsyncClient() as http:
        await HttpSms(http, fake.url, "sms-token").send(replace(NOTE, address="13600000001"))
        headers, body = fake.received[0]
        assert headers["authorization"] == "Bearer sms-token"
        assert json.loads(body) == {"to": "13600000001", "text": "1310 派单", "reference": "dispatch-1"}


def test_per_person_rate_limit() -> None:
    limit = PerPersonLimit(max_messages=2, per_s=60)
    assert [limit.allow("g1", t) for t in (0, 1, 2)] == [True, True, False]
    assert limit.allow("g2", 2) and limit.allow("g1", 61)


async def test_dispatch_goes_out_by_sms_marked_as_drill(system: System) -> None:
    from services.notifier.app import build
    from services.notifier.channels import LoggingSms
    from tests.support import running

    sms = LoggingSms()
    async with running(await build(system.settings, sms=sms)):
        await system.raise_call("b21", drill=True)
        await wait_for(lambda: sms.sent, what="an SMS")
    assert sms.sent[0][0] == "13600000006" and "演练" in sms.sent[0][1]


class StuckSms:
    """An SMS gateway that hangs on one number and delivers the rest."""

    def __init__(self, stuck_on: str) -> None:
        self.stuck_on = stuck_on
        self.sent: list[tuple[str, str]] = []
        self.release = asyncio.Event()

    async def send(self, message: Message) -> None:
        if message.address == self.stuck_on:
            await self.release.wait()
        self.sent.append((message.address, message.call_id))


async def test_a_hung_delivery_holds_up_only_its_own_call(system: System) -> None:
    from services.domain.phones import normalise_phone
    from services.notifier.app import PARTITIONS, build
    from tests.support import running

    sms = StuckSms(stuck_on="13600000001")  # g1, first at b12
    async with running(await build(system.settings, sms=sms)):
        stuck = (await system.raise_call("b12"))["call_id"]
        await system.log.wait_type(stuck, "ResponderAssigned")
        # Another building's call, whose id (fixed by its Idempotency-Key) falls in another
        # partition than the hung one.
        phone = "13910000000"
        scoped = normalise_phone(phone)  # an Idempotency-Key is scoped by the normalised phone
        key = next(
            f"k{n}"
            for n in range(100)
            if partition_of(call_id_for_key(f"{scoped}/k{n}"), PARTITIONS) != partition_of(stuck, PARTITIONS)
        )
        body = {"caller": {"name": "李", "phone": phone}, "building_id": "b21"}
        response = await system.http.post("/api/calls", json=body, headers={"Idempotency-Key": key})
        other = response.json()["call_id"]
        assert other == call_id_for_key(f"{scoped}/{key}")
        await wait_for(
            lambda: any(cid == other for _, cid in sms.sent), timeout=2, what="the other call's SMS"
        )
        assert not any(cid == stuck for _, cid in sms.sent)
        sms.release.set()
        await wait_for(lambda: any(cid == stuck for _, cid in sms.sent), timeout=2, what="the hung SMS")
