"""Past a person's rate limit pages are held and combined, never dropped (issue 15, defect 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.embedded_nats import EmbeddedNats
from services.common.settings import Settings
from services.notifier.channels import Message
from services.notifier.rate_limit import PerPersonLimit
from tests.conftest import System
from tests.support import make_settings, running, wait_for

RESCUE_PHONE = "119"  # r1, the professional rescue team, paged at once for every medical call


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    # Seven separate emergencies, not one call and six duplicates of it.
    return make_settings(nats_server.url, tmp_path, merge_window_s=0.0)


class CapturingSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: Message) -> None:
        self.sent.append((message.address, message.text))

    def texts_to(self, phone: str) -> list[str]:
        return [text for address, text in self.sent if address == phone]


async def test_seven_medical_calls_all_reach_the_rescue_team(system: System) -> None:
    from services.notifier.app import build

    sms = CapturingSms()
    # The real budget (5 a minute) over a window short enough for a test.
    limit = PerPersonLimit(max_messages=5, per_s=3.0)
    async with running(await build(system.settings, sms=sms, limit=limit)):
        calls = []
        for n in range(7):
            raised = await system.raise_call(
                "b12", kind="medical", caller={"name": f"居民{n}", "phone": f"1380000000{n}"}
            )
            calls.append(raised["call_id"])

        def reached() -> set[str]:
            return {cid for cid in calls for text in sms.texts_to(RESCUE_PHONE) if cid in text}

        await wait_for(lambda: len(reached()) == 7, timeout=20, what="all 7 calls texted to the rescue team")
        for call_id in calls:
            assigned = [
                a
                for a in await system.log.wait_type(call_id, "ResponderAssigned", count=3)
                if a.responder_id == "r1"
            ]
            sent = await system.log.wait_type(call_id, "NotificationSent", count=1)
            assert any(s.dispatch_id == assigned[0].dispatch_id and s.method == "sms" for s in sent), call_id
        # Each call reaches the team exactly once, alone or in a combined text.
        for call_id in calls:
            assert sum(call_id in text for text in sms.texts_to(RESCUE_PHONE)) == 1, call_id


class RefusalsSeen(PerPersonLimit):
    """The real limit, noting whom it refused (so a test knows a page is being held)."""

    def __init__(self, max_messages: int, per_s: float) -> None:
        super().__init__(max_messages, per_s)
        self.refused: list[str] = []

    def allow(self, person_id: str, now: float) -> bool:
        allowed = super().allow(person_id, now)
        if not allowed:
            self.refused.append(person_id)
        return allowed


async def test_a_held_page_survives_a_notifier_restart(system: System) -> None:
    from services.notifier.app import build

    sms = CapturingSms()
    first_limit = RefusalsSeen(max_messages=1, per_s=600.0)  # the second page waits 10 minutes
    first = await build(system.settings, sms=sms, limit=first_limit, ack_wait_s=2.0)
    async with running(first):
        sent_at_once = (await system.raise_call("b12", kind="medical"))["call_id"]
        await wait_for(lambda: sms.texts_to(RESCUE_PHONE), timeout=10, what="the first text")
        held = (await system.raise_call("b21", kind="medical"))["call_id"]
        await wait_for(lambda: "r1" in first_limit.refused, timeout=10, what="the second page held")
    assert all(held not in text for text in sms.texts_to(RESCUE_PHONE))

    # A new notifier (a fresh process: an empty window) is given the unacked page again.
    async with running(await build(system.settings, sms=sms, ack_wait_s=2.0)):
        await wait_for(
            lambda: any(held in text for text in sms.texts_to(RESCUE_PHONE)),
            timeout=15,
            what="the held page sent by the restarted notifier",
        )
        assigned = [
            a
            for a in await system.log.wait_type(held, "ResponderAssigned", count=3)
            if a.responder_id == "r1"
        ]
        sent = await system.log.wait_type(held, "NotificationSent")
        assert [s.dispatch_id for s in sent if s.responder_id == "r1"] == [assigned[0].dispatch_id]
    assert sum(sent_at_once in text for text in sms.texts_to(RESCUE_PHONE)) == 1


async def test_every_page_outcome_is_a_fact_on_the_call(system: System) -> None:
    """Sent by webhook (after a retry), or dead-lettered when there is no way to reach the person."""
    import httpx
    from nats.js.api import ConsumerConfig, DeliverPolicy

    from services.common.roster import load_roster_file
    from services.common.roster_store import RosterHolder
    from services.notifier.channels import WebhookChannel
    from services.notifier.handlers import Channels, Notifier
    from tests.service.test_notifier import SECRET, links_for, receiver

    async with receiver([500, 200]) as fake, httpx.AsyncClient() as http:
        roster = load_roster_file(None)
        r1, r2, *rest = roster.professional
        hooked = r1.model_copy(update={"webhook": fake.url})
        unreachable = r2.model_copy(update={"phone": ""})  # no webhook, no phone
        patched = roster.model_copy(update={"professional": (hooked, unreachable, *rest)})
        sms = CapturingSms()
        notifier = Notifier(
            system.nc,
            RosterHolder(patched),
            Channels(sms=sms, webhook=WebhookChannel(http, SECRET, attempts=3, backoff_s=0.01)),
            PerPersonLimit(),
            links_for(system),
        )
        dead = await system.nc.jetstream().subscribe(
            "deadletter.notifier", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        call_id = (await system.raise_call("b12", kind="fire"))["call_id"]
        assigned = {
            a.responder_id: a for a in await system.log.wait_type(call_id, "ResponderAssigned", count=3)
        }
        for person in ("r1", "r2", "r1", "r2"):  # each twice: a redelivery records nothing more
            await notifier.handle(assigned[person])

        events = [item.event for item in await system.log.of(call_id)]
        sent = [e for e in events if e.type == "NotificationSent"]
        failed = [e for e in events if e.type == "NotificationFailed"]
        assert [(e.responder_id, e.dispatch_id, e.method, e.attempt) for e in sent] == [
            ("r1", assigned["r1"].dispatch_id, "webhook", 2)
        ]
        assert [(e.responder_id, e.dispatch_id, e.method, e.error) for e in failed] == [
            ("r2", assigned["r2"].dispatch_id, "push", "push: no push service configured")
        ]  # no phone, no webhook: only push is left, and it failed
        letter = await dead.next_msg(timeout=5)
        assert letter.headers["Dispatch1310-Reason"] == "push: no push service configured"
        assert len(fake.received) == 2 and sms.sent == []


async def test_the_notifier_user_may_record_what_it_sent(tmp_path: Path) -> None:
    """With least-privilege NATS users (as ``up`` runs), the notifier's records are stored."""
    from services.common.jetstream_store import JetStreamEventStore
    from services.common.nats_auth import ADMIN, authorization_block, load_passwords, url_with_user
    from services.common.streams import connect, ensure_streams
    from services.dispatcher.app import build as build_dispatcher
    from services.notifier.app import build
    from tests.support import EventLog, serving_intake

    passwords = load_passwords(tmp_path)
    server = EmbeddedNats(tmp_path / "nats", extra_config=authorization_block(passwords)).start()
    try:
        as_user = {user: url_with_user(server.url, user, passwords[user]) for user in passwords}
        admin = await connect(as_user[ADMIN], "admin")
        await ensure_streams(admin.jetstream(), update=True)
        settings = make_settings(as_user["intake"], tmp_path)
        dispatcher = await build_dispatcher(settings.with_(nats_url=as_user["dispatcher"]))
        sms = CapturingSms()
        notifier = await build(settings.with_(nats_url=as_user["notifier"]), sms=sms)
        try:
            async with serving_intake(settings) as http, running(dispatcher), running(notifier):
                body = {"caller": {"name": "王", "phone": "13800000000"}, "building_id": "b12"}
                response = await http.post("/api/calls", json=body)
                assert response.status_code == 201, response.text
                log = EventLog(JetStreamEventStore(admin))
                sent = await log.wait_type(response.json()["call_id"], "NotificationSent", timeout=10)
                assert sent[0].responder_id == "g1" and sent[0].method == "sms"
        finally:
            await admin.close()
    finally:
        server.stop()
