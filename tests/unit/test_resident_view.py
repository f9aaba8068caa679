"""What the resident's call view says: who is theirs now (`handling`), when and how it closed."""

from __future__ import annotations

from datetime import timedelta

from events import commands as c
from events.models import Level
from services.domain.aggregate import CallState, decide, evolve
from services.domain.ids import SequentialIds
from services.intake.views import call_view
from tests.factories import T0, raised

CALL = "c1"
PHONES = {"g1": "13600000001", "g2": "13600000002", "p1": "13700000001", "r1": "119", "t1": "135"}


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

    def page(self, person: str, level: Level = "building", team: str | None = None) -> Call:
        return self.do(
            c.AssignResponder(
                call_id=CALL, responder_id=person, responder_name=f"name-{person}",
                phone=PHONES[person], level=level, dispatch_id=f"d-{person}", ack_timeout_s=45,
                team_id=team,
            )
        )  # fmt: skip

    def escalate(self) -> Call:
        return self.do(c.Escalate(call_id=CALL, reason="manual", by="s1"))

    def view(self) -> dict:  # type: ignore[type-arg]
        return call_view(self.state, self.now)


def handling(call: Call) -> tuple[str, str] | None:
    who = call.view()["handling"]
    return None if who is None else (who["id"], who["status"])


def test_nobody_paged_yet_is_nobody() -> None:
    assert Call().view()["handling"] is None


def test_the_person_being_paged_is_shown_with_name_and_phone() -> None:
    view = Call().page("g1").view()
    assert view["handling"] == {
        "id": "g1", "name": "name-g1", "phone": "13600000001", "level": "building", "status": "paged",
    }  # fmt: skip


def test_after_a_timeout_the_next_person_paged_is_shown_never_the_one_who_did_not_answer() -> None:
    call = Call().page("g1").do(c.TimeOutDispatch(call_id=CALL, dispatch_id="d-g1"))
    assert call.view()["handling"] is None  # not g1: they did not answer
    assert handling(call.page("g2")) == ("g2", "paged")


def test_after_an_escalation_the_level_now_handling_is_shown_not_the_one_still_paged_below() -> None:
    call = Call().page("g1").escalate()
    assert call.view()["contact"]["id"] == "g1"  # the contract's stage fact stays as it was
    assert call.view()["handling"] is None  # g1 never answered; district not paged yet
    assert handling(call.page("p1", "district")) == ("p1", "paged")


def test_someone_who_answered_below_is_shown_even_after_an_escalation() -> None:
    call = Call().page("g1").escalate().page("p1", "district")
    call.do(c.Accept(call_id=CALL, responder_id="g1"))
    assert handling(call) == ("g1", "accepted")


def test_whoever_is_furthest_along_is_shown() -> None:
    call = Call(kind="medical").page("g1").page("r1", "professional")
    assert handling(call) == ("g1", "paged")  # the level now handling first, professionals after
    call.do(c.Accept(call_id=CALL, responder_id="g1")).do(c.Accept(call_id=CALL, responder_id="r1"))
    assert handling(call) == ("g1", "accepted")
    call.do(c.Arrive(call_id=CALL, responder_id="r1"))
    assert handling(call) == ("r1", "arrived")


def test_a_professional_paged_at_once_is_shown_when_the_level_has_nobody_paged() -> None:
    call = Call(kind="fire").page("r1", "professional")
    assert handling(call) == ("r1", "paged")


def test_a_service_team_member_comes_after_the_level_s_own_people() -> None:
    call = Call(kind="dispute").page("t1", team="mediation").page("g1")
    assert handling(call) == ("g1", "paged")


def test_a_closed_call_says_when_it_closed_shows_who_came_and_no_one_still_paged() -> None:
    call = Call().page("g1").page("g2")
    call.do(c.Accept(call_id=CALL, responder_id="g2")).do(
        c.Resolve(call_id=CALL, by="s1", outcome="false_alarm", as_responder=False)
    )
    view = call.view()
    assert (view["status"], view["outcome"], view["closed_at"]) == (
        "resolved",
        "false_alarm",
        call.now.isoformat(),
    )
    assert handling(call) == ("g2", "accepted")
    cancelled = Call().page("g1").do(c.Cancel(call_id=CALL, by="caller")).view()
    assert (cancelled["status"], cancelled["handling"]) == ("cancelled", None)
    assert Call().view()["closed_at"] is None


def test_the_kinds_include_those_of_calls_that_joined() -> None:
    call = Call(kind="flood").do(
        c.Join(
            call_id=CALL, joined_call_id="c2", kind="medical", caller={"name": "x", "phone": "13800000001"}
        )
    )
    assert call.view()["kinds"] == ["flood", "medical"]
