"""The board's reach per call: what went out on which channel, and "nobody is being reached"."""

from __future__ import annotations

from datetime import timedelta

from events import commands as c
from services.domain.aggregate import CallState, decide, evolve
from services.domain.ids import SequentialIds
from services.intake.views import call_view, reach_view, unreached
from tests.factories import T0, raised

CALL = "c1"


class Call:
    """A call driven through ``decide``/``evolve``, a second apart."""

    def __init__(self, **fields: object) -> None:
        self.state = evolve(CallState(CALL), raised(CALL, **fields))
        self.ids = SequentialIds()
        self.now = T0

    def do(self, command: c.Command) -> Call:
        self.now += timedelta(seconds=1)
        for event in decide(self.state, command, self.now, self.ids):
            self.state = evolve(self.state, event)
        return self

    def page(self, person: str) -> Call:
        return self.do(
            c.AssignResponder(
                call_id=CALL, responder_id=person, responder_name=person, phone="1360000000",
                level="building", dispatch_id=f"d-{person}", ack_timeout_s=45,
            )
        )  # fmt: skip

    def sent(self, person: str, method: str, error: str | None = None, attempt: int = 1) -> Call:
        return self.do(
            c.RecordNotification(
                call_id=CALL, responder_id=person, dispatch_id=f"d-{person}", method=method,
                attempt=attempt, error=error,
            )
        )  # fmt: skip


def test_a_call_with_nobody_paged_is_unreached() -> None:
    assert unreached(Call().state)


def test_a_page_the_notifier_has_not_reported_on_yet_is_on_its_way() -> None:
    assert not unreached(Call().page("g1").state)


def test_every_channel_failed_for_the_only_page_is_unreached() -> None:
    call = Call().page("g1").sent("g1", "push", "no subscription").sent("g1", "sms", "provider 500")
    assert unreached(call.state)
    assert [(r["method"], r["ok"], r["error"]) for r in reach_view(call.state)] == [
        ("push", False, "no subscription"),
        ("sms", False, "provider 500"),
    ]


def test_one_channel_that_went_out_is_enough() -> None:
    call = Call().page("g1").sent("g1", "push", "gone").sent("g1", "sms")
    assert not unreached(call.state)


def test_a_retry_that_went_out_replaces_the_failure() -> None:
    call = Call().page("g1").sent("g1", "sms", "timeout").sent("g1", "sms", attempt=2)
    assert not unreached(call.state)
    assert [(r["method"], r["attempt"], r["ok"]) for r in reach_view(call.state)] == [("sms", 2, True)]


def test_every_page_awaiting_an_answer_must_have_failed() -> None:
    call = Call().page("g1").page("g2").sent("g1", "sms", "bad number")
    assert not unreached(call.state)  # g2's page is still on its way
    call.sent("g2", "push", "no subscription")
    assert unreached(call.state)


def test_someone_who_accepted_is_reached_whatever_failed() -> None:
    call = Call().page("g1").sent("g1", "sms", "bad number").do(c.Accept(call_id=CALL, responder_id="g1"))
    assert not unreached(call.state)


def test_pages_that_ended_leave_nobody_being_reached() -> None:
    call = Call().page("g1").sent("g1", "sms").do(c.Decline(call_id=CALL, responder_id="g1"))
    assert unreached(call.state)
    call = Call().page("g1").sent("g1", "sms").do(c.TimeOutDispatch(call_id=CALL, dispatch_id="d-g1"))
    assert unreached(call.state)


def test_a_group_robot_does_not_reach_the_person_paged() -> None:
    call = Call().page("g1").sent("g1", "sms", "bad number")
    call.sent("g1", "wecom-robot")  # the district's group was told (recorded on g1's page)
    assert unreached(call.state)


def test_a_held_or_closed_call_is_not_flagged() -> None:
    assert not unreached(Call(held="flood").state)
    call = Call().do(c.Resolve(call_id=CALL, by="s1", as_responder=False))
    assert not unreached(call.state)


def test_the_call_json_carries_reach_and_the_flag() -> None:
    call = Call().page("g1").sent("g1", "sms", "provider 500")
    view = call_view(call.state, call.now)
    assert view["unreached"] is True
    (sms,) = view["reach"]
    assert sms == {
        "responder_id": "g1",
        "dispatch_id": "d-g1",
        "method": "sms",
        "attempt": 1,
        "ok": False,
        "error": "provider 500",
        "at": call.now.isoformat(),
    }
