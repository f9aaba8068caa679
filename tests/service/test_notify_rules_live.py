"""Notification rules against the real server: a later step survives a notifier restart (JetStream
redelivers the unacked page), and the consumer takes a new ack wait (issue 17). That a later step
goes while the page awaits its answer, and never once the person answered: tested on a manual
clock, on fakes (tests/handlers/test_notifier.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.adapters.embedded_nats import EmbeddedNats
from services.domain.roster import DEMO_ROSTER
from services.notifier.channels import Message
from services.runtime.settings import Settings
from tests.conftest import System
from tests.support import bearer, make_settings


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    return make_settings(nats_server.url, tmp_path, merge_window_s=0.0)  # two separate calls


class Capturing:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def test_a_voice_step_survives_a_notifier_restart(system: System) -> None:
    """The notifier stops while a page's voice call waits: the next notifier is given the page
    again (after the short ack wait) and rings it, once."""
    import yaml

    from services.notifier.app import build
    from tests.support import running, wait_for

    roster = yaml.safe_load(DEMO_ROSTER.read_text())
    for person in roster["districts"][0]["buildings"][0]["members"]:
        person["notify"] = [{"method": "sms", "after_s": 0}, {"method": "voice", "after_s": 3}]
    loaded = await system.http.post(
        "/api/roster", content=yaml.safe_dump(roster, allow_unicode=True), headers=bearer("demo-supervisor")
    )
    assert loaded.status_code == 200, loaded.text
    settings = system.settings
    sms, voice = Capturing(), Capturing()
    async with running(await build(settings, sms=sms, voice=voice, ack_wait_s=1.0)):
        call_id = (await system.raise_call("b12"))["call_id"]
        await wait_for(lambda: sms.sent, timeout=10, what="the page's text")
    assert voice.sent == []  # stopped before the voice step's time
    async with running(await build(settings, sms=sms, voice=voice, ack_wait_s=1.0)):
        await wait_for(lambda: voice.sent, timeout=15, what="the voice call rung by the next notifier")
        sent = await system.log.wait_type(call_id, "NotificationSent", count=2)
    assert [m.call_id for m in voice.sent] == [call_id] and len(sms.sent) == 1
    assert sorted(e.method for e in sent) == ["sms", "voice"]
    # No browser subscribed to push: skipped (they have SMS and voice), not recorded as failed.
    assert not [i for i in await system.log.of(call_id) if i.event.type == "NotificationFailed"]


async def test_an_existing_consumer_takes_the_new_ack_wait(system: System) -> None:
    from nats.js.api import ConsumerConfig

    from services.adapters.consumer import keep_ack_wait

    js = system.nc.jetstream()
    await js.add_consumer("CALLS", ConsumerConfig(durable_name="old-notifier", ack_wait=60.0))
    await keep_ack_wait(system.nc, "CALLS", "old-notifier", 10.0)
    assert (await js.consumer_info("CALLS", "old-notifier")).config.ack_wait == 10.0
    await keep_ack_wait(system.nc, "CALLS", "no-such-consumer", 10.0)  # nothing to update
