"""The notifier with least-privilege NATS users. Past a person's rate limit pages are held and
combined, never dropped (issue 15, defect 3): tested on a manual clock, on fakes
(tests/handlers/test_notifier.py)."""

from __future__ import annotations

from pathlib import Path

from services.adapters.embedded_nats import EmbeddedNats
from services.notifier.channels import Message
from tests.support import make_settings, running


class CapturingSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: Message) -> None:
        self.sent.append((message.address, message.text))


async def test_the_notifier_user_may_record_what_it_sent(tmp_path: Path) -> None:
    """With least-privilege NATS users (as ``up`` runs), the notifier's records are stored."""
    from services.adapters.jetstream_store import JetStreamEventStore
    from services.adapters.nats_auth import ADMIN, authorization_block, load_passwords, url_with_user
    from services.adapters.streams import connect, ensure_streams
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
