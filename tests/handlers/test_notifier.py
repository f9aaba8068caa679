"""The notifier's handlers on fakes: each page is sent by its rules (push and SMS at once, voice
later while unanswered), each sending recorded on the call, failures dead-lettered, texts past
a phone's budget held and combined, never dropped. Time moves only by hand."""

from __future__ import annotations

from datetime import timedelta

from events import commands as c
from events.models import ResponderAssigned
from services.adapters.answer_links import AnswerLinks
from services.domain.roster import NotifyStep
from services.notifier.channels import Message
from services.notifier.rate_limit import PerPersonLimit
from tests.fakes import LINK_KEY, PUBLIC_URL, Capturing, Failing, FakeSystem, demo_roster

RESCUE_PHONE = "119"  # r1, the professional rescue team, paged at once for every medical call


def outcomes(events: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(e.type, e.responder_id, e.method) for e in events]


async def test_push_and_sms_go_at_once_and_voice_after_60_s_while_the_page_is_unanswered() -> None:
    system = FakeSystem(ack_timeout_s=90)  # the page lasts long enough for the default voice step
    sms, push, voice = Capturing(), Capturing(), Capturing()
    system.with_notifier(sms=sms, push=push, voice=voice)
    call_id = await system.raise_call("b12")
    (page,) = await system.events(call_id, "ResponderAssigned")
    assert [m.address for m in sms.sent] == ["13600000001"] and len(push.sent) == 1
    sent = await system.events(call_id, "NotificationSent")
    assert sorted((e.method, e.at) for e in sent) == [("push", page.at), ("sms", page.at)]
    assert [(e.dispatch_id, e.attempt) for e in sent] == [(page.dispatch_id, 1)] * 2
    assert "胜利街12号" in sms.sent[0].text  # every text carries the address

    await system.advance(59.999)
    assert voice.sent == []  # not before its time
    await system.advance(0.001)
    (spoken,) = voice.sent
    assert spoken.address == "13600000001" and "请按1" in spoken.text
    assert AnswerLinks(LINK_KEY, PUBLIC_URL).verify(spoken.reference) is not None  # answers by phone
    voiced = [e for e in await system.events(call_id, "NotificationSent") if e.method == "voice"]
    assert [(e.dispatch_id, e.at) for e in voiced] == [(page.dispatch_id, page.at + timedelta(seconds=60))]
    assert all(outcome.done() for outcome in system.bus.pending)  # every step ran: acked


async def test_no_later_step_once_the_person_answered_or_the_page_ended() -> None:
    system = FakeSystem(ack_timeout_s=90, merge_window_s=0)  # separate calls
    voice = Capturing()
    system.with_notifier(push=Capturing(), voice=voice)
    answered = await system.raise_call("b12")
    await system.advance(10)
    await system.do(c.Accept(call_id=answered, responder_id="g1"))
    cancelled = await system.raise_call("b14")
    await system.advance(10)
    await system.do(c.Cancel(call_id=cancelled, by="caller"))
    unanswered = await system.raise_call("b21")
    await system.advance(69)  # past every page's voice step (60 s), before any page times out (90 s)
    assert [m.call_id for m in voice.sent] == [unanswered]  # only the page still awaiting its answer
    for call_id in (answered, cancelled):
        assert "voice" not in {e.method for e in await system.events(call_id, "NotificationSent")}
    assert all(outcome.done() for outcome in system.bus.pending)  # the rules stopped: acked


async def test_a_redelivered_page_sends_nothing_again_nor_after_a_restart() -> None:
    system = FakeSystem(ack_timeout_s=90)
    sms, voice = Capturing(), Capturing()
    notifier = system.with_notifier(sms=sms, push=Capturing(), voice=voice)
    call_id = await system.raise_call("b12")
    await system.advance(60)
    (page,) = await system.events(call_id, "ResponderAssigned")
    recorded = len(await system.events(call_id, "NotificationSent"))
    assert recorded == 3
    assert await notifier.handle(page) is None  # redelivered after its steps ran
    restarted = system.with_notifier(sms=sms, push=Capturing(), voice=voice)
    assert await restarted.handle(page) is None  # a new notifier reads what was recorded
    assert len(sms.sent) == 1 and len(voice.sent) == 1
    assert len(await system.events(call_id, "NotificationSent")) == recorded


async def test_a_restart_before_the_voice_step_rings_it_once_at_its_time() -> None:
    system = FakeSystem(ack_timeout_s=90)
    sms, voice = Capturing(), Capturing()
    first = system.with_notifier(sms=sms, push=Capturing(), voice=voice)
    call_id = await system.raise_call("b12")
    (page,) = await system.events(call_id, "ResponderAssigned")
    await system.advance(20)
    await first.close()  # stopped while the voice step waits: the page was never acked
    assert system.bus.pending[0].cancelled()  # not acked: JetStream will redeliver it
    second = system.with_notifier(sms=sms, push=Capturing(), voice=voice)
    outcome = await second.handle(page)  # JetStream gives the unacked page to the next notifier
    assert outcome is not None and voice.sent == [] and len(sms.sent) == 1  # only the unsent step
    system.bus.pending.append(outcome)
    await system.advance(40)
    assert [m.call_id for m in voice.sent] == [call_id] and len(sms.sent) == 1
    assert sorted(e.method for e in await system.events(call_id, "NotificationSent")) == [
        "push",
        "sms",
        "voice",
    ]


async def test_every_outcome_is_a_fact_on_the_call_and_every_failure_a_dead_letter() -> None:
    roster = demo_roster()
    r1, r2, *rest = roster.professional
    hooked = r1.model_copy(update={"webhook": "http://rescue.test/hook"})
    unreachable = r2.model_copy(update={"phone": ""})  # no webhook, no phone: only push is left
    system = FakeSystem(roster.model_copy(update={"professional": (hooked, unreachable, *rest)}))
    sms, webhook = Capturing(), RetriedOnce()
    system.with_notifier(sms=sms, webhook=webhook)  # no push service configured
    call_id = await system.raise_call("b12", kind="fire")  # professionals at once beside the building
    pages = {e.responder_id: e for e in await system.events(call_id, "ResponderAssigned")}
    failed = await system.events(call_id, "NotificationFailed")
    assert [(e.dispatch_id, e.method, e.error) for e in failed if e.responder_id == "r2"] == [
        (pages["r2"].dispatch_id, "push", "push: no push service configured")
    ]
    letters = [(d.call_id, d.method, d.error) for d in system.dead_letters.letters if d.person_id == "r2"]
    assert letters == [(call_id, "push", "push: no push service configured")]
    assert len(system.dead_letters.letters) == len(failed)  # every failure dead-lettered
    sent = await system.events(call_id, "NotificationSent")
    assert [(e.dispatch_id, e.method, e.attempt) for e in sent if e.responder_id == "r1"] == [
        (pages["r1"].dispatch_id, "webhook", 2)  # delivered on the second try
    ]
    assert [m.call_id for m in webhook.sent] == [call_id] and sms.to("119") == []
    # Each delivered again: nothing more is sent or recorded.
    assert system.notifier is not None
    for person in ("r1", "r2"):
        await system.notifier.handle(pages[person])
    assert len(await system.events(call_id, "NotificationFailed", "NotificationSent")) == len(failed) + len(
        sent
    )
    assert len(system.dead_letters.letters) == len(failed)


class RetriedOnce(Capturing):
    """A webhook answering 500 once, then 200: the channel reports two tries."""

    async def send(self, message: Message) -> int:
        await super().send(message)
        return 2


async def test_a_webhook_that_gives_up_is_recorded_failed_and_dead_lettered_once() -> None:
    roster = demo_roster()
    r1, *rest = roster.professional
    hooked = r1.model_copy(update={"webhook": "http://rescue.test/hook"})
    system = FakeSystem(roster.model_copy(update={"professional": (hooked, *rest)}))
    webhook = Failing("HTTP 500 after 3 attempt(s)", attempts=3)
    system.with_notifier(webhook=webhook)
    call_id = await system.raise_call("b12", kind="fire")
    (failed,) = [e for e in await system.events(call_id, "NotificationFailed") if e.responder_id == "r1"]
    assert (failed.method, failed.attempt, failed.error) == ("webhook", 3, "HTTP 500 after 3 attempt(s)")
    assert [d.method for d in system.dead_letters.letters if d.person_id == "r1"] == ["webhook"]
    page = next(e for e in await system.events(call_id, "ResponderAssigned") if e.responder_id == "r1")
    restarted = system.with_notifier(webhook=webhook)
    await restarted.handle(page)  # redelivered after a restart: not tried again
    assert len(webhook.tried) == 1
    assert [d.method for d in system.dead_letters.letters if d.person_id == "r1"] == ["webhook"]


async def test_a_drill_is_marked_in_every_text() -> None:
    system = FakeSystem()
    sms = Capturing()
    system.with_notifier(sms=sms, push=Capturing())
    await system.raise_call("b21", drill=True)
    assert [m.address for m in sms.sent] == ["13600000006"] and "演练" in sms.sent[0].text


async def test_past_the_budget_texts_are_held_and_combined_never_dropped() -> None:
    system = FakeSystem(merge_window_s=0, ack_timeout_s=3600)  # seven separate emergencies, unanswered
    sms = Capturing()
    system.with_notifier(sms=sms, push=Capturing(), limit=PerPersonLimit(max_messages=5, per_s=60))
    calls = []
    for _ in range(7):
        calls.append(await system.raise_call("b12", kind="medical"))
        await system.advance(1)
    texts = [m for m in sms.to(RESCUE_PHONE)]
    assert [len(m.pages) for m in texts] == [1] * 5  # the budget: five texts a minute
    assert system.notifier is not None
    r1_pages = [await _page_of(system, call_id, "r1") for call_id in calls]
    held = [system.notifier.pacer.is_held(page.dispatch_id) for page in r1_pages]
    assert held == [False] * 5 + [True] * 2  # two pages wait (not acked), not dropped
    await system.advance(60 - 7 - 0.001)
    assert len(sms.to(RESCUE_PHONE)) == 5  # the window has not moved yet
    await system.advance(0.001)
    texts = sms.to(RESCUE_PHONE)
    assert [len(m.pages) for m in texts] == [1, 1, 1, 1, 1, 2]  # the two held go as one text
    combined = texts[-1]
    assert [p.call_id for p in combined.pages] == calls[5:] and all(cid in combined.text for cid in calls[5:])
    # Each call reaches the team exactly once, and each page's sending is on its own call.
    for call_id, page in zip(calls, r1_pages, strict=True):
        assert sum(call_id in m.text for m in texts) == 1, call_id
        sent = [e for e in await system.events(call_id, "NotificationSent") if e.responder_id == "r1"]
        assert [e.dispatch_id for e in sent if e.method == "sms"] == [page.dispatch_id]
    assert not any(system.notifier.pacer.is_held(page.dispatch_id) for page in r1_pages)


async def test_a_held_text_survives_a_notifier_restart_and_goes_once() -> None:
    system = FakeSystem(merge_window_s=0)
    sms = Capturing()
    system.with_notifier(sms=sms, push=Capturing(), limit=PerPersonLimit(max_messages=1, per_s=600))
    sent_at_once = await system.raise_call("b12", kind="medical")
    held = await system.raise_call("b21", kind="medical")
    assert [m.call_id for m in sms.to(RESCUE_PHONE)] == [sent_at_once]  # the second waits 10 minutes
    page = next(e for e in await system.events(held, "ResponderAssigned") if e.responder_id == "r1")
    assert system.notifier is not None
    await system.notifier.close()  # its held page stays unacked
    restarted = system.with_notifier(sms=sms, push=Capturing())  # a fresh process: an empty window
    await restarted.handle(page)  # JetStream gives the unacked page again: its text goes at once
    assert [m.call_id for m in sms.to(RESCUE_PHONE)] == [sent_at_once, held]
    sent = [e for e in await system.events(held, "NotificationSent") if e.responder_id == "r1"]
    assert [e.dispatch_id for e in sent if e.method == "sms"] == [page.dispatch_id]


async def _page_of(system: FakeSystem, call_id: str, person: str) -> ResponderAssigned:
    pages = await system.events(call_id, "ResponderAssigned")
    return next(e for e in pages if e.responder_id == person)


async def test_a_step_due_after_the_page_timed_out_is_not_sent() -> None:
    roster = demo_roster()
    district = roster.districts[1]
    b21 = district.buildings[0]
    rules = (NotifyStep(method="sms"), NotifyStep(method="voice", after_s=100))  # past the ack timeout
    g4 = b21.members[0].model_copy(update={"notify": rules})
    building = b21.model_copy(update={"members": (g4, *b21.members[1:])})
    patched = district.model_copy(update={"buildings": (building, *district.buildings[1:])})
    system = FakeSystem(
        roster.model_copy(update={"districts": (roster.districts[0], patched)}), ack_timeout_s=90
    )
    sms, voice = Capturing(), Capturing()
    system.with_notifier(sms=sms, voice=voice)
    call_id = await system.raise_call("b21")
    await system.advance(100)
    (timed_out,) = await system.events(call_id, "DispatchTimedOut")
    assert timed_out.responder_id == "g4"
    assert "13600000006" in [m.address for m in sms.sent] and voice.to("13600000006") == []
    g4_outcomes = [
        e.method for e in await system.events(call_id, "NotificationSent") if e.responder_id == "g4"
    ]
    assert g4_outcomes == ["sms"]
