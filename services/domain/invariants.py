"""The safety invariants a dispatcher owes its users, checked over the stored event log.

One pure checker, used by ``dispatch1310 verify`` on a live system, by the model-based tests
on fakes, and at the end of every end-to-end run: record what happened, then check the history
(as Jepsen's checkers do), rather than asserting one path.

Invariants (each violation names the call, the invariant and the events involved):

- ``subject_agrees``: every stored message decodes, and its body's type and call id are those of
  its subject ``calls.<call_id>.<Type>`` (a forged or misfiled message is never believed).
- ``raised_first``: a call's first event is its ``CallRaised``.
- ``own_close``: a call ends only by its own close (``CallResolved``/``CallCancelled`` on itself);
  a call merged into another is never left merged once the call it joined has closed.
- ``nothing_after_close``: after a call closed nothing more is paged, escalated, shared or missed.
- ``no_paging_gap``: while a call is open and nobody holds it (accepted, en route, arrived), someone
  is being paged (a page counts until its ack timeout); no gap longer than ``slack_s``. At the top
  level with everyone there answered, the chain has run out: reported apart (``attention``).
- ``one_step``: each ``EscalationRaised`` goes from the call's level to the next one up.
- ``paged_once``: nobody is paged twice for one call, unless the desk assigned them by hand (``by``).
- ``contact_shared``: once someone is paged, the caller is shown whom to contact (a
  ``ContactShared``) within ``slack_s`` of the first page, while the call is open.
- ``one_outcome``: each stage has one outcome: at most one ``DeadlineMissed``, none when its
  milestone came in time, and one recorded within ``slack_s`` of a due time passed unmet while open.
- ``away_declined``: a person who goes away while paged has that page declined within ``slack_s``.
- ``page_delivered`` (when ``notifications`` is on): every page has a ``NotificationSent`` or a
  ``NotificationFailed`` (dead-lettered) within ``delivery_slack_s``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from events import codec
from events.models import (
    STAGES,
    CallCancelled,
    CallEvent,
    CallRaised,
    CallResolved,
    ContactShared,
    DeadlineMissed,
    DispatchAccepted,
    DispatchDeclined,
    DispatchTimedOut,
    EscalationRaised,
    NotificationFailed,
    NotificationSent,
    ResponderAssigned,
    next_level,
)
from services.domain.aggregate import ENGAGED, CallState, evolve

NEVER_AFTER_CLOSE = (ResponderAssigned, EscalationRaised, ContactShared, DeadlineMissed)
CLOSES = (CallResolved, CallCancelled)


@dataclass(frozen=True, slots=True)
class Record:
    """One stored message: its stream sequence, subject and raw body."""

    seq: int
    subject: str
    data: bytes


@dataclass(frozen=True)
class Violation:
    call_id: str
    invariant: str
    detail: str
    seqs: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "call_id": self.call_id,
            "invariant": self.invariant,
            "detail": self.detail,
            "seqs": list(self.seqs),
        }


@dataclass
class Report:
    calls: int = 0
    events: int = 0
    violations: list[Violation] = field(default_factory=list)
    attention: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class Limits:
    slack_s: float = 10.0
    delivery_slack_s: float = 90.0
    notifications: bool = True


def decode_records(records: Iterable[Record], report: Report) -> dict[str, list[tuple[int, CallEvent]]]:
    """Group decodable, subject-agreeing call events by call; report every other message."""
    calls: dict[str, list[tuple[int, CallEvent]]] = defaultdict(list)
    for record in records:
        report.events += 1
        parts = record.subject.split(".")
        call_id = parts[1] if len(parts) == 3 else record.subject
        try:
            event = codec.decode_message(record.subject, record.data)
        except codec.DecodeError as exc:
            report.violations.append(Violation(call_id, "subject_agrees", exc.reason, (record.seq,)))
            continue
        if not isinstance(event, CallEvent):
            detail = f"{event.type} is not a call event"
            report.violations.append(Violation(call_id, "subject_agrees", detail, (record.seq,)))
            continue
        calls[call_id].append((record.seq, event))
    return calls


# person -> their availability changes in stream order: (at, away?)
Away = dict[str, list[tuple[datetime, bool]]]


def check_records(
    records: Iterable[Record], now: datetime, limits: Limits = Limits(), away: Away | None = None
) -> Report:
    report = Report()
    calls = decode_records(records, report)
    check_calls(calls, now, limits, report, away or {})
    return report


def check_calls(
    calls: dict[str, list[tuple[int, CallEvent]]],
    now: datetime,
    limits: Limits,
    report: Report,
    away: Away | None = None,
) -> Report:
    states: dict[str, CallState] = {}
    for call_id, items in calls.items():
        items.sort(key=lambda item: item[0])
        report.calls += 1
        states[call_id] = check_call(call_id, items, now, limits, report, away or {})
    return check_merged(states, now, limits, report)


def check_merged(states: dict[str, CallState], now: datetime, limits: Limits, report: Report) -> Report:
    """Merged calls whose joined call closed more than ``slack_s`` ago (``own_close``)."""
    closes = {call_id: state for call_id, state in states.items() if state.is_closed}
    slack = timedelta(seconds=limits.slack_s)
    for call_id, state in states.items():
        if state.status != "merged" or state.merged_into is None:
            continue
        primary = closes.get(state.merged_into)
        if primary is not None and primary.closed_at is not None and now - primary.closed_at > slack:
            report.violations.append(
                Violation(
                    call_id,
                    "own_close",
                    f"still merged into {state.merged_into}, which closed ({primary.status}) at "
                    f"{primary.closed_at.isoformat()}",
                )
            )
    return report


def check_call(
    call_id: str,
    items: list[tuple[int, CallEvent]],
    now: datetime,
    limits: Limits,
    report: Report,
    away: Away,
) -> CallState:
    """Check one call's events (in sequence order) as of ``now``; its state after them.

    A pure function of its arguments: a caller checking a growing log may keep the verdict of
    a call whose events, ``now`` and ``away`` are unchanged."""

    def flag(invariant: str, detail: str, *seqs: int) -> None:
        report.violations.append(Violation(call_id, invariant, detail, seqs))

    slack = timedelta(seconds=limits.slack_s)
    first_seq, first = items[0]
    if not isinstance(first, CallRaised):
        flag("raised_first", f"first event is {first.type}", first_seq)
        return CallState(call_id)
    state = CallState(call_id)
    gap = _Gap(slack)
    page_seq: dict[str, int] = {}
    delivered: set[str] = set()
    missed_seq: dict[str, int] = {}
    first_page: tuple[int, datetime] | None = None
    contact_at: datetime | None = None

    def paged_until(responder_id: str, end: datetime, seq: int) -> None:
        """A page of ``responder_id`` ended at ``end``: were they away meanwhile, undeclined?"""
        assignment = state.assignments.get(responder_id)
        if assignment is None or assignment.status != "paged":
            return
        changes = away.get(responder_id, ())
        for index, (went_away, is_away) in enumerate(changes):
            if not is_away or went_away < assignment.assigned_at:
                continue
            back = next((at for at, gone in changes[index + 1 :] if not gone), None)
            stayed_until = min(end, back) if back is not None else end
            if stayed_until - went_away > slack:  # away (while still paged) longer than the slack
                flag("away_declined", f"{responder_id} went away at {went_away.isoformat()} while paged", seq)
                return

    for index, (seq, event) in enumerate(items):
        if isinstance(event, DispatchAccepted | DispatchDeclined | DispatchTimedOut):
            paged_until(event.responder_id, event.at, seq)
        if isinstance(event, CLOSES) and not state.is_closed:
            for responder_id in list(state.assignments):
                paged_until(responder_id, event.at, seq)
        if state.is_closed and isinstance(event, NEVER_AFTER_CLOSE):
            flag("nothing_after_close", f"{event.type} after the call was {state.status}", seq)
        if state.is_closed and isinstance(event, CLOSES):
            flag("own_close", "closed twice", seq)
        if isinstance(event, EscalationRaised) and (
            event.from_level != state.level or event.to_level != next_level(event.from_level)
        ):
            flag("one_step", f"{event.from_level} -> {event.to_level} while at {state.level}", seq)
        if isinstance(event, ContactShared) and contact_at is None:
            contact_at = event.at
        if isinstance(event, ResponderAssigned):
            if first_page is None:
                first_page = (seq, event.at)
            earlier = state.assignments.get(event.responder_id)
            if earlier is not None and event.by is None:
                flag("paged_once", f"{event.responder_id} paged again", page_seq[event.responder_id], seq)
            page_seq[event.responder_id] = seq
        if isinstance(event, NotificationSent | NotificationFailed):
            delivered.add(event.dispatch_id)
        if isinstance(event, DeadlineMissed):
            if event.stage in missed_seq:
                flag("one_outcome", f"two DeadlineMissed for {event.stage}", missed_seq[event.stage], seq)
            missed_seq[event.stage] = seq
            met = state.met.get(event.stage)
            if met is not None and state.raised is not None and met <= state.raised.due.of(event.stage):
                flag("one_outcome", f"{event.stage} missed though met in time", seq)
        state = evolve(state, event)
        until = items[index + 1][1].at if index + 1 < len(items) else now
        gap.segment(state, event.at, until, seq)
        _unfired_deadlines(state, event.at, until, slack, missed_seq, flag, seq)
    if state.is_open:
        for responder_id in list(state.assignments):
            paged_until(responder_id, now, items[-1][0])
    if first_page is not None:
        first_paged_seq, paged_at = first_page
        shown_by = contact_at or state.closed_at or now  # closed_at is set only once closed
        if shown_by - paged_at > slack:
            flag("contact_shared", "paged, but the caller was not shown whom to contact", first_paged_seq)
    for found in gap.found:
        (report.attention if found.top else report.violations).append(
            Violation(call_id, "no_paging_gap", found.detail, found.seqs)
        )
    if limits.notifications:
        delivery_slack = timedelta(seconds=limits.delivery_slack_s)
        for assignment in state.assignments.values():
            if assignment.dispatch_id not in delivered and now - assignment.assigned_at > delivery_slack:
                flag(
                    "page_delivered",
                    f"page of {assignment.responder_id} neither sent nor dead-lettered",
                    page_seq.get(assignment.responder_id, 0),
                )
    return state


def _unfired_deadlines(
    state: CallState,
    start: datetime,
    end: datetime,
    slack: timedelta,
    missed_seq: dict[str, int],
    flag: Callable[..., None],
    seq: int,
) -> None:
    """A stage whose due time (+ slack) passed unmet and unrecorded while the call was open."""
    raised = state.raised
    if raised is None or not state.is_open or state.held is not None:
        return
    for stage in STAGES:
        due = raised.due.of(stage)
        if stage in state.met or stage in state.missed or stage in missed_seq:
            continue
        if start <= due + slack < end:
            flag("one_outcome", f"{stage} due {due.isoformat()} passed with no DeadlineMissed", seq)


@dataclass
class _Found:
    detail: str
    seqs: tuple[int, ...]
    top: bool


class _Gap:
    """Tracks the time an open call spends with nobody paged (within their ack window) or
    holding it; reports each stretch longer than the slack once."""

    def __init__(self, slack: timedelta) -> None:
        self.slack = slack
        self.since: datetime | None = None
        self.since_seq = 0
        self.reported = False
        self.found: list[_Found] = []

    def segment(self, state: CallState, start: datetime, end: datetime, seq: int) -> None:
        if not state.is_open or state.held is not None:  # a held call waits for the desk
            self.since = None
            return
        covered_until = _covered_until(state)
        if covered_until is not None and covered_until >= end:
            self.since = None
            return
        uncovered_from = max(start, covered_until) if covered_until is not None else start
        if self.since is None or (covered_until is not None and covered_until > start):
            self.since, self.since_seq, self.reported = uncovered_from, seq, False
        if not self.reported and end - self.since > self.slack:
            self.reported = True
            top = state.level == "professional"
            what = "the chain has run out at the top level" if top else "nobody paged or holding the call"
            self.found.append(
                _Found(
                    f"{what} for {(end - self.since).total_seconds():.1f} s from {self.since.isoformat()}",
                    (self.since_seq,),
                    top,
                )
            )


def _covered_until(state: CallState) -> datetime | None:
    """Until when someone is on the call: forever if someone holds it, else the latest ack due
    of an unanswered page; None if nobody at all."""
    latest: datetime | None = None
    for assignment in state.assignments.values():
        if assignment.status in ENGAGED:
            return datetime.max.replace(tzinfo=assignment.assigned_at.tzinfo)
        if assignment.status == "paged" and (latest is None or assignment.ack_due > latest):
            latest = assignment.ack_due
    return latest


__all__ = [
    "Limits",
    "Record",
    "Report",
    "Violation",
    "check_call",
    "check_calls",
    "check_merged",
    "check_records",
    "decode_records",
]
