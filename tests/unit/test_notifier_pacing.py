"""Pacing pages to one phone: held past the budget, combined, never dropped (manual time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from events import commands as c
from services.domain.aggregate import decide as decide_call
from services.domain.aggregate import evolve, fold
from services.domain.ids import SequentialIds, derive
from services.notifier.content import PageContent
from services.notifier.pacing import Batch, Pacer, Page
from services.notifier.rate_limit import PerPersonLimit
from services.notifier.texts import sms_text
from tests.factories import T0, raised


def page(person: str, n: int) -> Page:
    content = PageContent(
        f"call-{n}", f"d-{person}-{n}", person, "medical", "胜利街3栋", "胜利街12号", "王", "138",
        "", "professional", T0, f"http://x/a/call-{n}",
    )  # fmt: skip
    return Page(person, f"d-{person}-{n}", f"call-{n}", "119", content)


def text_of(batch: Batch) -> str:
    return sms_text([p.content for p in batch.pages], T0)


def run(pacer: Pacer, arrivals: list[tuple[float, Page]]) -> list[tuple[float, Batch]]:
    """A notifier's life on a manual clock (seconds, moved by hand): pages arrive, and held
    pages are flushed exactly when ``next_due`` says, as the flush loop does. Returns every
    batch sent with its time."""
    now = 0.0
    sent: list[tuple[float, Batch]] = []
    pending = sorted(arrivals, key=lambda item: item[0])
    while pending or pacer.held_count:
        due_at = pacer.next_due(now)
        if pending and (due_at is None or pending[0][0] < due_at):
            now, arriving = pending.pop(0)
            batch = pacer.offer(arriving, now)
            if batch is not None:
                sent.append((now, batch))
        else:
            assert due_at is not None and due_at >= now
            now = due_at
            batches = pacer.due(now)
            assert batches, "next_due promised a batch"
            sent.extend((now, batch) for batch in batches)
    return sent


def test_past_the_budget_pages_are_combined_into_one_text_when_the_window_allows() -> None:
    pacer = Pacer(PerPersonLimit(max_messages=5, per_s=60))
    sent = run(pacer, [(float(n), page("r1", n)) for n in range(7)])
    assert [(at, len(batch.pages)) for at, batch in sent] == [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (60, 2)]
    combined = text_of(sent[-1][1])
    assert "call-5" in combined and "call-6" in combined and "合并" in combined
    assert "急救 medical" in combined and "胜利街12号" in combined


def test_a_page_arriving_while_others_are_held_goes_with_them_in_order() -> None:
    pacer = Pacer(PerPersonLimit(max_messages=1, per_s=10))
    assert pacer.offer(page("r1", 1), 0.0) is not None
    assert pacer.offer(page("r1", 2), 1.0) is None
    assert pacer.offer(page("r1", 2), 2.0) is None  # redelivered: held once
    assert pacer.offer(page("g1", 9), 2.0) is not None  # another person's budget
    assert pacer.due(9.9) == []
    assert pacer.next_due(9.9) == 10.0
    (batch,) = pacer.due(10.0)
    assert [p.dispatch_id for p in batch.pages] == ["d-r1-2"] and pacer.held_count == 0


arrivals = st.lists(
    st.tuples(st.floats(0, 300, allow_nan=False), st.sampled_from(["r1", "r2", "g1"])), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(arrivals, st.integers(1, 6), st.sampled_from([1.0, 7.5, 60.0]))
def test_every_page_is_sent_exactly_once_within_the_window_and_never_over_the_limit(
    times: list[tuple[float, str]], max_messages: int, per_s: float
) -> None:
    pages = [(at, page(person, n)) for n, (at, person) in enumerate(times)]
    arrived = {p.dispatch_id: at for at, p in pages}
    sent = run(Pacer(PerPersonLimit(max_messages, per_s)), pages)

    dispatches = [p.dispatch_id for _, batch in sent for p in batch.pages]
    assert sorted(dispatches) == sorted(arrived)  # each page exactly once: none lost, none twice
    for at, batch in sent:
        assert {p.person_id for p in batch.pages} == {batch.person_id}
        for p in batch.pages:
            assert arrived[p.dispatch_id] <= at <= arrived[p.dispatch_id] + per_s
    for person in {person for _, person in times}:
        texts = sorted(at for at, batch in sent if batch.person_id == person)
        for i, start in enumerate(texts):  # any window of per_s seconds holds at most the limit
            assert len([t for t in texts[i:] if t < start + per_s]) <= max_messages


def test_a_notification_is_recorded_once_per_dispatch_and_method_even_on_a_closed_call() -> None:
    ids = SequentialIds()
    state = fold("c1", [raised("c1")])
    state = evolve(state, decide_call(state, c.Cancel(call_id="c1", by="caller"), T0, ids)[0])
    record = c.RecordNotification(call_id="c1", responder_id="r1", dispatch_id="d1", method="sms")
    (sent,) = decide_call(state, record, T0 + timedelta(seconds=5), ids)
    assert sent.type == "NotificationSent" and sent.event_id == derive("d1", "notified", "sms")
    failed = record.model_copy(update={"method": "none", "error": "no contact method"})
    (dead,) = decide_call(state, failed, T0, ids)
    assert dead.type == "NotificationFailed" and dead.error == "no contact method"
    after = evolve(state, sent)  # the call stays closed; only what reached whom is noted
    assert replace(after, notices={}) == replace(state, events=state.events + 1)
    assert [(n.responder_id, n.method, n.ok) for n in after.notices.values()] == [("r1", "sms", True)]
