"""Pure projections of the CALLS stream: ``apply(state, event)`` for every read model the
audit answers for. No I/O; the same fold runs live and in ``dispatch1310 replay``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.models import (
    LEVELS,
    STAGE_MET_BY,
    STAGES,
    CallCancelled,
    CallEvent,
    CallMerged,
    CallRaised,
    CallResolved,
    CallUnmerged,
    DeadlineMissed,
    DispatchAccepted,
    DispatchDeclined,
    DispatchTimedOut,
    EscalationRaised,
    Fact,
    Level,
    ResponderArrived,
    ResponderAssigned,
    Stage,
)
from services.domain.duty import DutyBook

# The stage each milestone event meets (the promise's own table, read the other way).
MILESTONE: dict[type[CallEvent], Stage] = {event: stage for stage, event in STAGE_MET_BY.items()}

# What decides a call's community, from its ``CallRaised``: (community_id, building_id, district_id),
# the building and district only when no community is named (``CallFacts.place``).
Place = tuple[str | None, str | None, str | None]
# A call's community from its place, at read time: the roster's ``known_community`` (a call
# stored before counties counts under its building's community); None: a place nobody knows.
CommunityOf = Callable[[str | None, str | None, str | None], str | None]


def as_raised(community_id: str | None, building_id: str | None, district_id: str | None) -> str | None:
    """The community a call was raised in, without a roster (replay digests, tests)."""
    return community_id


@dataclass
class CallFacts:
    """What the compliance report needs of one call."""

    call_id: str
    raised_at: datetime
    due: dict[str, datetime]
    district_id: str | None
    building_id: str | None
    drill: bool
    kind: str
    source: str
    level: Level
    met_at: dict[str, datetime] = field(default_factory=dict)
    missed: set[str] = field(default_factory=set)
    desk_confirmed: set[str] = field(default_factory=set)  # milestones the desk recorded (``by``)
    status: str = "open"  # open | resolved | cancelled | merged
    outcome: str | None = None
    closed_at: datetime | None = None
    community_id: str | None = None  # None: a call stored before counties

    @property
    def place(self) -> Place:
        """What decides the call's community: the one it was raised in, else (a call stored
        before counties) its building and district, looked up at read time."""
        if self.community_id is not None:
            return (self.community_id, None, None)
        return (None, self.building_id, self.district_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "raised_at": self.raised_at.isoformat(),
            "district_id": self.district_id,
            "building_id": self.building_id,
            "drill": self.drill,
            "level": self.level,
            "met_at": {k: v.isoformat() for k, v in sorted(self.met_at.items())},
            "missed": sorted(self.missed),
            "desk_confirmed": sorted(self.desk_confirmed),
            "status": self.status,
            "outcome": self.outcome,
        }


@dataclass
class ResponderStats:
    received: int = 0
    accepted: int = 0
    declined: int = 0
    timed_out: int = 0
    arrived: int = 0
    accept_s: list[float] = field(default_factory=list)
    arrive_s: list[float] = field(default_factory=list)

    def add(self, other: ResponderStats) -> None:
        self.received += other.received
        self.accepted += other.accepted
        self.declined += other.declined
        self.timed_out += other.timed_out
        self.arrived += other.arrived
        self.accept_s += other.accept_s
        self.arrive_s += other.arrive_s


@dataclass(frozen=True)
class PointsEntry:
    person_id: str
    call_id: str
    reason: str
    points: int
    at: datetime


# Volunteer points (积分) per deed, as data. Drills earn nothing.
POINT_RULES: dict[str, int] = {"accepted": 1, "arrived": 2, "resolved": 2}


@dataclass
class AuditState:
    calls: dict[str, CallFacts] = field(default_factory=dict)
    # Per person and the place of the calls they were paged for: a county's figures are read
    # per community (``summaries.responder_stats``) through the roster in force then.
    responders: dict[tuple[str, Place], ResponderStats] = field(default_factory=dict)
    assigned_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    points: list[PointsEntry] = field(default_factory=list)
    last_seq: int = 0
    events: int = 0
    desk: DutyBook = field(default_factory=DutyBook)  # availability and duty overrides (RESPONDERS)
    desk_seq: int = 0


def apply_desk(state: AuditState, seq: int, fact: Fact) -> AuditState:
    """Fold one fact of the RESPONDERS stream (idempotent by sequence)."""
    if seq and seq <= state.desk_seq:
        return state
    state.desk_seq = seq or state.desk_seq
    state.desk = state.desk.apply(fact)
    return state


def apply(state: AuditState, seq: int, event: CallEvent) -> AuditState:
    """Fold one stored event (idempotent by sequence: a redelivery changes nothing)."""
    if seq and seq <= state.last_seq:
        return state
    state.last_seq = seq or state.last_seq
    state.events += 1
    if isinstance(event, CallRaised):
        state.calls[event.call_id] = CallFacts(
            call_id=event.call_id,
            raised_at=event.at,
            due={stage: event.due.of(stage) for stage in STAGES},
            district_id=event.district_id,
            building_id=event.building_id,
            drill=event.drill,
            kind=event.kind,
            source=event.source,
            level=event.level,
            community_id=event.community_id,
        )
        return state
    facts = state.calls.get(event.call_id)
    if facts is None:
        return state
    stage = MILESTONE.get(type(event))
    if stage is not None and stage not in facts.met_at:
        facts.met_at[stage] = event.at
        if getattr(event, "by", None):  # a supervisor or the officer on duty recorded it for the responder
            facts.desk_confirmed.add(stage)
    match event:
        case DeadlineMissed():
            facts.missed.add(event.stage)
        case EscalationRaised():
            if LEVELS.index(event.to_level) > LEVELS.index(facts.level):
                facts.level = event.to_level
        case CallResolved():
            # A merged call closed with the call it joined is still counted once, on that call.
            closed = "merged" if facts.status == "merged" else "resolved"
            facts.status, facts.outcome, facts.closed_at = closed, event.outcome, event.at
            if (event.call_id, event.by) in state.assigned_at:  # a responder closed it, not a supervisor
                _earn(state, facts, event.by, "resolved", event.at)
        case CallCancelled():
            facts.status, facts.closed_at = "cancelled", event.at
        case CallMerged():
            facts.status, facts.closed_at = "merged", event.at
        case CallUnmerged():  # stands alone again, judged on its own restarted clock
            facts.status, facts.closed_at = "open", None
            if event.due is not None:
                facts.due = {stage: event.due.of(stage) for stage in STAGES}
    _responder(state, facts, event)
    return state


def _responder(state: AuditState, facts: CallFacts, event: CallEvent) -> None:
    person = getattr(event, "responder_id", None)
    if person is None:
        return
    stats = state.responders.setdefault((person, facts.place), ResponderStats())
    key = (event.call_id, person)
    match event:
        case ResponderAssigned():
            stats.received += 1
            state.assigned_at[key] = event.at
        case DispatchAccepted():
            stats.accepted += 1
            if key in state.assigned_at:
                stats.accept_s.append((event.at - state.assigned_at[key]).total_seconds())
            _earn(state, facts, person, "accepted", event.at)
        case DispatchDeclined():
            stats.declined += 1
        case DispatchTimedOut():
            stats.timed_out += 1
        case ResponderArrived():
            stats.arrived += 1
            if key in state.assigned_at:
                stats.arrive_s.append((event.at - state.assigned_at[key]).total_seconds())
            _earn(state, facts, person, "arrived", event.at)


def _earn(state: AuditState, facts: CallFacts, person: str, reason: str, at: datetime) -> None:
    if not facts.drill:
        state.points.append(PointsEntry(person, facts.call_id, reason, POINT_RULES[reason], at))
