"""Which sendings a page gets, and when (pure).

A page (``ResponderAssigned``) is sent by the person's ``notify`` steps, each ``after_s``
seconds after the page (``Person.rules``: push and SMS at once, voice later, by default),
and to every group robot of the call's district at once. A step at 0 s is the page's first
word and always goes; a later step goes only while the page still awaits the person's
answer: the rules stop once they answer, or the page ends (timed out, the call closed).

Each step is recorded once per page and method (``NotificationSent``/``NotificationFailed``),
so a redelivered or restarted page runs only the steps not yet recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from events.models import CallEvent, NotificationFailed, NotificationSent, ResponderAssigned
from services.domain.aggregate import CallState
from services.domain.roster import Person, Roster


@dataclass(frozen=True)
class Step:
    method: str  # a contact method ("push", "sms", …) or a district robot ("wecom-robot", …)
    channel: str  # the channel that sends it: push, sms, voice, webhook, wecom, dingtalk
    at: datetime
    address: str = ""
    secret: str | None = None
    first_word: bool = False  # at the page's start: sent even if the person answered meanwhile
    optional: bool = False  # not set up by the person (push with no browser): skipped, not failed


def plan(
    page: ResponderAssigned, person: Person | None, roster: Roster, building_id: str | None
) -> list[Step]:
    """Every sending of ``page``, earliest first (robots first among equals)."""
    steps: list[Step] = []
    district = roster.district_of(building_id)
    counts: dict[str, int] = {}
    for robot in district.robots if district else ():
        counts[robot.type] = counts.get(robot.type, 0) + 1
        n = counts[robot.type]
        method = f"{robot.type}-robot" + (f"-{n}" if n > 1 else "")
        steps.append(Step(method, robot.type, page.at, robot.url, robot.secret, first_word=True))
    if person is None:
        return steps
    rules = person.rules(page.ack_timeout_s)
    for rule in rules:
        at = page.at + timedelta(seconds=rule.after_s)
        address = "" if rule.method == "push" else person.address_of(rule.method) or ""
        # Push is one way among others for most people: when they have not subscribed a
        # browser it is skipped; for someone it is the only way to reach, it is a failure.
        optional = rule.method == "push" and len(rules) > 1
        steps.append(
            Step(rule.method, rule.method, at, address, first_word=rule.after_s == 0, optional=optional)
        )
    return sorted(steps, key=lambda step: step.at)


def recorded_methods(events: Iterable[CallEvent], dispatch_id: str) -> set[str]:
    return {
        event.method
        for event in events
        if isinstance(event, NotificationSent | NotificationFailed) and event.dispatch_id == dispatch_id
    }


def awaiting_answer(state: CallState, dispatch_id: str) -> bool:
    """The page still waits for its person: rules go on."""
    assignment = state.assignment_by_dispatch(dispatch_id)
    return state.is_open and assignment is not None and assignment.status == "paged"


def should_send(step: Step, state: CallState, dispatch_id: str) -> bool:
    return step.first_word or awaiting_answer(state, dispatch_id)
