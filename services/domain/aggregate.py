"""The call aggregate: pure ``decide(state, command, now, ids) -> events`` and ``evolve``.

No I/O, no clock: time comes in as ``now``, ids from an ``IdFactory``. Every service that
changes a call (intake, dispatcher, deadlines) goes through ``decide``; every view folds
the call's events with ``evolve``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from events import commands as c
from events.models import (
    STAGES,
    Answer,
    CallCancelled,
    CallEvent,
    CallHeld,
    CallJoined,
    CallMerged,
    CallRaised,
    CallReleased,
    CallResolved,
    CallUnmerged,
    ContactShared,
    DeadlineMissed,
    DeviceAlert,
    DeviceAlertReceived,
    DispatchAccepted,
    DispatchDeclined,
    DispatchTimedOut,
    EscalationRaised,
    Frozen,
    Joining,
    Kind,
    Level,
    NoteAdded,
    NotificationFailed,
    NotificationSent,
    Outcome,
    PageTerms,
    Progress,
    RaiseTerms,
    ResponderArrived,
    ResponderAssigned,
    ResponderEnRoute,
    Sending,
    Stage,
    next_level,
)
from services.domain.ids import IdFactory

CallStatus = Literal["new", "open", "resolved", "cancelled", "merged"]
DispatchStatus = Literal["paged", "accepted", "declined", "timed_out", "enroute", "arrived"]
ACTIVE: frozenset[DispatchStatus] = frozenset({"paged", "accepted", "enroute", "arrived"})
ENGAGED: frozenset[DispatchStatus] = frozenset({"accepted", "enroute", "arrived"})


class DomainError(Exception):
    """A command the call refuses; the edge (HTTP, CLI) says it in its own terms."""


class CallNotFound(DomainError):
    """No call by that id."""


class NotDispatchedToYou(DomainError):
    """Acting on a page that is not yours."""


class InvalidTransition(DomainError):
    """Not possible in the call's or the page's state (closed, declined, at the top level)."""


@dataclass(frozen=True)
class Assignment:
    responder_id: str
    name: str
    phone: str
    level: Level
    dispatch_id: str
    status: DispatchStatus
    assigned_at: datetime
    team_id: str | None = None
    ack_timeout_s: float = 45.0

    @property
    def ack_due(self) -> datetime:
        return self.assigned_at + timedelta(seconds=self.ack_timeout_s)


@dataclass(frozen=True)
class Notice:
    """The latest outcome of one page to one person on one channel (NotificationSent/Failed)."""

    responder_id: str
    dispatch_id: str
    method: str
    attempt: int
    ok: bool
    error: str
    at: datetime


@dataclass(frozen=True)
class Contact:
    responder_id: str
    name: str
    phone: str


@dataclass(frozen=True)
class CallState:
    call_id: str
    status: CallStatus = "new"
    raised: CallRaised | None = None
    level: Level = "building"
    assignments: dict[str, Assignment] = field(default_factory=dict)
    contact: Contact | None = None
    met: dict[Stage, datetime] = field(default_factory=dict)
    missed: dict[Stage, datetime] = field(default_factory=dict)
    outcome: Outcome | None = None
    merged_into: str | None = None
    joined: dict[str, Kind] = field(default_factory=dict)  # calls merged into this one, by kind
    # Stages whose DeadlineMissed is stored but whose escalation is not (a writer died between
    # the two, or another write came between them): the keeper escalates them from where the
    # call is now, instead of appending a step decided on a level the call may have left.
    escalation_owed: frozenset[Stage] = frozenset()
    held: str | None = None  # held for the desk (why): open, but nobody is paged or timed
    closed_at: datetime | None = None
    closed_by: str | None = None
    # How each page went out, by (dispatch id, person, channel): the latest try wins.
    notices: dict[tuple[str, str, str], Notice] = field(default_factory=dict)
    events: int = 0

    @property
    def is_open(self) -> bool:
        """Handled here: paged, timed, escalated. A merged call is not (its joined call is)."""
        return self.status == "open"

    @property
    def is_closed(self) -> bool:
        """Ended by its own close. A merged call is not closed: it may still be cancelled,
        resolved, or stand alone again."""
        return self.status in ("resolved", "cancelled")

    @property
    def kinds(self) -> frozenset[Kind]:
        """Its own kind and the kinds of the calls that joined it: what its paging answers for."""
        own: set[Kind] = {self.raised.kind} if self.raised is not None else set()
        return frozenset(own | set(self.joined.values()))

    def assignment_by_dispatch(self, dispatch_id: str) -> Assignment | None:
        return next((a for a in self.assignments.values() if a.dispatch_id == dispatch_id), None)

    def stage_open(self, stage: Stage) -> bool:
        return self.is_open and stage not in self.met and stage not in self.missed

    def stage_late_unrecorded(self, stage: Stage) -> bool:
        """Met after its due time, with no DeadlineMissed yet (the clock was down at the due time)."""
        met = self.met.get(stage)
        return (
            self.is_open
            and self.raised is not None
            and met is not None
            and met > self.raised.due.of(stage)
            and stage not in self.missed
        )


# ---------------------------------------------------------------- evolve

_T = TypeVar("_T")


def _with(obj: _T, **changes: object) -> _T:
    """``dataclasses.replace`` for these plain frozen dataclasses, without its per-call field
    introspection (folding is the hot path of loads, followers and ``verify``)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__, **changes)
    return new


def _set(fresh: _T, **changes: object) -> _T:
    """Fill in a copy ``evolve`` has just made (never a state anyone else holds)."""
    fresh.__dict__.update(changes)
    return fresh


def evolve(state: CallState, event: CallEvent) -> CallState:
    state = _with(state, events=state.events + 1)  # a fresh copy: the cases below fill it in
    match event:
        case CallRaised():
            return _set(state, status="open", raised=event, level=event.level, held=event.held)
        case CallHeld():
            return _set(state, held=event.reason)
        case CallReleased():
            raised = state.raised.model_copy(update={"due": event.due}) if state.raised else None
            return _set(state, held=None, raised=raised)
        case ResponderAssigned():
            assignment = Assignment(
                event.responder_id,
                event.name,
                event.phone,
                event.level,
                event.dispatch_id,
                "paged",
                event.at,
                event.team_id,
                event.ack_timeout_s,
            )
            return _set(state, assignments={**state.assignments, event.responder_id: assignment})
        case ContactShared():
            met = state.met if "contact" in state.met else {**state.met, "contact": event.at}
            return _set(state, contact=Contact(event.responder_id, event.name, event.phone), met=met)
        case DispatchAccepted():
            state = _set_status(state, event.responder_id, "accepted")
            return _meet(state, "reach", event.at)
        case DispatchDeclined():
            return _set_status(state, event.responder_id, "declined")
        case DispatchTimedOut():
            return _set_status(state, event.responder_id, "timed_out")
        case ResponderEnRoute():
            return _set_status(state, event.responder_id, "enroute")
        case ResponderArrived():
            state = _set_status(state, event.responder_id, "arrived")
            return _meet(state, "onsite", event.at)
        case CallResolved():
            return _set(
                state, status="resolved", outcome=event.outcome, closed_at=event.at, closed_by=event.by
            )
        case CallCancelled():
            return _set(state, status="cancelled", closed_at=event.at, closed_by=event.by)
        case CallMerged():
            return _set(state, status="merged", merged_into=event.into_call_id)
        case CallUnmerged():
            raised = state.raised
            if raised is not None and event.due is not None:
                raised = raised.model_copy(update={"due": event.due})
            return _set(state, status="open", merged_into=None, raised=raised)
        case CallJoined():
            return _set(state, joined={**state.joined, event.joined_call_id: event.kind})
        case DeadlineMissed():
            owed = (
                state.escalation_owed if event.stage in state.met else state.escalation_owed | {event.stage}
            )
            return _set(state, missed={**state.missed, event.stage: event.at}, escalation_owed=owed)
        case EscalationRaised():
            # A deadline's escalation is paid by its own event; any other climb after a miss
            # (the level ran out, the desk) pays what is owed too: the call has moved up.
            owed = state.escalation_owed - {event.stage} if event.stage else frozenset[Stage]()
            return _set(state, level=event.to_level, escalation_owed=owed)
        case NotificationSent() | NotificationFailed():
            notice = Notice(
                event.responder_id,
                event.dispatch_id,
                event.method,
                event.attempt,
                isinstance(event, NotificationSent),
                getattr(event, "error", ""),
                event.at,
            )
            key = (event.dispatch_id, event.responder_id, event.method)
            return _set(state, notices={**state.notices, key: notice})
        case NoteAdded() | DeviceAlertReceived():
            return state
    return state


def _set_status(state: CallState, responder_id: str, status: DispatchStatus) -> CallState:
    current = state.assignments.get(responder_id)
    if current is None:
        return state
    return _set(state, assignments={**state.assignments, responder_id: _with(current, status=status)})


def _meet(state: CallState, stage: Stage, at: datetime) -> CallState:
    if stage in state.met:
        return state
    return _set(state, met={**state.met, stage: at})


def fold(call_id: str, events: Iterable[CallEvent]) -> CallState:
    state = CallState(call_id)
    for event in events:
        state = evolve(state, event)
    return state


# ---------------------------------------------------------------- decide


def decide(state: CallState, command: c.Command, now: datetime, ids: IdFactory) -> list[CallEvent]:
    """The events ``command`` causes on ``state``; [] when it changes nothing (a retry).

    One function per command, found in ``DECIDERS`` by the command's type."""
    if state.status == "new" and not isinstance(command, c.RaiseCall):
        raise CallNotFound(f"no call {state.call_id}")
    return _decider(type(command))(state, command, now, ids)


@dataclass(frozen=True)
class _Step:
    """A responder's step on their page, as data: one decider serves all four."""

    action: str  # "cannot <action> a call that is resolved"
    done: frozenset[DispatchStatus]  # taken already (or passed): a repeat changes nothing
    allowed: frozenset[DispatchStatus]  # the page's statuses it may be taken from
    refusal: str  # why not, from any other status ({status}: the page's)
    event: type[Answer | Progress]


_ACCEPT = _Step(
    action="accept",
    done=ENGAGED,
    allowed=frozenset({"paged", "timed_out"}),
    refusal="you declined this call",
    event=DispatchAccepted,
)
_DECLINE = _Step(
    action="decline",
    done=frozenset({"declined"}),
    allowed=frozenset({"paged", "timed_out"}),
    refusal="cannot decline after {status}",
    event=DispatchDeclined,
)
_EN_ROUTE = _Step(
    action="report en route",
    done=frozenset({"enroute", "arrived"}),
    allowed=frozenset({"accepted"}),
    refusal="accept the dispatch before reporting en route",
    event=ResponderEnRoute,
)
_ARRIVE = _Step(
    action="arrive",
    done=frozenset({"arrived"}),
    allowed=frozenset({"accepted", "enroute"}),
    refusal="accept the dispatch before reporting arrival",
    event=ResponderArrived,
)


def _responder_step(step: _Step) -> Decider:
    def decide_step(
        state: CallState, command: c.ResponderAction, now: datetime, ids: IdFactory
    ) -> list[CallEvent]:
        current = _own_dispatch(state, command.responder_id)
        if current.status in step.done:
            return []
        _require_open(state, step.action)
        if current.status not in step.allowed:
            raise InvalidTransition(step.refusal.format(status=current.status))
        fields: dict[str, Any] = {
            "responder_id": current.responder_id,
            "note": command.note,
            "by": command.by,
        }
        if issubclass(step.event, Answer):
            fields.update(dispatch_id=current.dispatch_id, channel=command.channel)
        return [step.event(call_id=state.call_id, at=now, event_id=ids.new(), **fields)]

    return decide_step


def _resolve(state: CallState, command: c.Resolve, now: datetime, ids: IdFactory) -> list[CallEvent]:
    if command.as_responder:
        current = _own_dispatch(state, command.by)
        if current.status not in ENGAGED:
            _require_not_closed(state, "resolve")
            raise InvalidTransition("accept the dispatch before resolving the call")
    _require_not_closed(state, "resolve")
    return [
        CallResolved(
            call_id=state.call_id,
            at=now,
            event_id=ids.new(),
            by=command.by,
            outcome=command.outcome,
            note=command.note,
        )
    ]


def _cancel(state: CallState, command: c.Cancel, now: datetime, ids: IdFactory) -> list[CallEvent]:
    _require_not_closed(state, "cancel")
    return [
        CallCancelled(call_id=state.call_id, at=now, event_id=ids.new(), by=command.by, note=command.note)
    ]


def _time_out(state: CallState, command: c.TimeOutDispatch, now: datetime, ids: IdFactory) -> list[CallEvent]:
    found = state.assignment_by_dispatch(command.dispatch_id)
    if found is None or found.status != "paged" or not state.is_open:
        return []
    return [
        DispatchTimedOut(
            call_id=state.call_id,
            at=now,
            event_id=ids.derived(command.dispatch_id, "timeout"),
            responder_id=found.responder_id,
            dispatch_id=found.dispatch_id,
        )
    ]


def _escalate(state: CallState, command: c.Escalate, now: datetime, ids: IdFactory) -> list[CallEvent]:
    _require_open(state, "escalate")
    if command.from_level is not None and command.from_level != state.level:
        return []  # already escalated from there
    escalation = _escalation(state, command, now, ids.new())
    if escalation is None:
        raise InvalidTransition("the call is already at the top level (professional)")
    return [escalation]


def _add_note(state: CallState, command: c.AddNote, now: datetime, ids: IdFactory) -> list[CallEvent]:
    _require_not_closed(state, "add a note to")
    return [NoteAdded(call_id=state.call_id, at=now, event_id=ids.new(), by=command.by, text=command.text)]


def _merge(state: CallState, command: c.Merge, now: datetime, ids: IdFactory) -> list[CallEvent]:
    if state.merged_into == command.into_call_id or state.assignments:
        return []  # merged already, or already dispatched on its own
    _require_open(state, "merge")
    return [
        CallMerged(
            call_id=state.call_id,
            at=now,
            event_id=ids.derived(state.call_id, "merged"),
            into_call_id=command.into_call_id,
        )
    ]


def _join(state: CallState, command: c.Join, now: datetime, ids: IdFactory) -> list[CallEvent]:
    if command.joined_call_id in state.joined:
        return []
    _require_open(state, "join")
    return [
        CallJoined(
            call_id=state.call_id,
            at=now,
            event_id=ids.derived(state.call_id, "joined", command.joined_call_id),
            **_terms(command, Joining),
        )
    ]


def _unmerge(state: CallState, command: c.Unmerge, now: datetime, ids: IdFactory) -> list[CallEvent]:
    if not _merged_into(state, command.from_call_id):
        return []
    return [
        CallUnmerged(
            call_id=state.call_id,
            at=now,
            event_id=ids.derived(state.call_id, "unmerged", command.from_call_id),
            from_call_id=command.from_call_id,
            reason=command.reason,
            due=command.due,
        )
    ]


def _resolve_with_joined(
    state: CallState, command: c.ResolveWithJoined, now: datetime, ids: IdFactory
) -> list[CallEvent]:
    if not _merged_into(state, command.from_call_id):
        return []
    return [
        CallResolved(
            call_id=state.call_id,
            at=now,
            event_id=ids.derived(state.call_id, "resolved_with", command.from_call_id),
            by=command.by,
            outcome=command.outcome,
            note=f"resolved with call {command.from_call_id}",
        )
    ]


def _record_notification(
    state: CallState, command: c.RecordNotification, now: datetime, ids: IdFactory
) -> list[CallEvent]:
    """A record of what was sent: kept for a closed call too."""
    event_id = ids.derived(command.dispatch_id, "notified", command.method)
    sending = _terms(command, Sending)
    if command.error is None:
        return [NotificationSent(call_id=state.call_id, at=now, event_id=event_id, **sending)]
    return [
        NotificationFailed(call_id=state.call_id, at=now, event_id=event_id, **sending, error=command.error)
    ]


def _release(state: CallState, command: c.Release, now: datetime, ids: IdFactory) -> list[CallEvent]:
    if state.held is None:
        return []  # released already (a double tap), or never held
    _require_open(state, "release")
    return [
        CallReleased(
            call_id=state.call_id,
            at=now,
            event_id=ids.derived(state.call_id, "released"),
            by=command.by,
            note=command.note,
            due=command.due,
        )
    ]


def _record_device_alert(
    state: CallState, command: c.RecordDeviceAlert, now: datetime, ids: IdFactory
) -> list[CallEvent]:
    _require_open(state, "record an alert on")
    return [
        DeviceAlertReceived(call_id=state.call_id, at=now, event_id=ids.new(), **_terms(command, DeviceAlert))
    ]


def _require_open(state: CallState, action: str) -> None:
    if not state.is_open:
        raise InvalidTransition(f"cannot {action} a call that is {state.status}")


def _merged_into(state: CallState, call_id: str) -> bool:
    """Merged into ``call_id`` still (not standing alone again, not closed)."""
    return state.status == "merged" and state.merged_into == call_id


def _require_not_closed(state: CallState, action: str) -> None:
    """Open, or merged into another call: a merged call keeps its own close."""
    if state.is_closed:
        raise InvalidTransition(f"cannot {action} a call that is {state.status}")


def _own_dispatch(state: CallState, responder_id: str) -> Assignment:
    current = state.assignments.get(responder_id)
    if current is None:
        raise NotDispatchedToYou(f"call {state.call_id} was not dispatched to {responder_id}")
    return current


def _raise(state: CallState, command: c.RaiseCall, now: datetime, ids: IdFactory) -> list[CallEvent]:
    if state.status != "new":
        return []
    raised = CallRaised(
        call_id=command.call_id,
        at=now,
        event_id=ids.derived(command.call_id, "raised"),
        **_terms(command, RaiseTerms),
    )
    if command.held is None:
        return [raised]
    held = CallHeld(
        call_id=command.call_id,
        at=now,
        event_id=ids.derived(command.call_id, "held"),
        reason=command.held,
        flood=command.flood,
        first_of_flood=command.first_of_flood,
    )
    return [raised, held]


def _assign(state: CallState, command: c.AssignResponder, now: datetime, ids: IdFactory) -> list[CallEvent]:
    current = state.assignments.get(command.responder_id)
    if current is not None and (current.status in ACTIVE or command.by is None):
        # Nobody is paged twice for one call, unless the desk assigns them by hand. The same
        # page decided again (a redelivery after a crash between its two appends) still shares
        # the contact its first try did not get to store.
        repeated = current.dispatch_id == command.dispatch_id and current.status in ACTIVE
        if repeated and state.is_open and _needs_contact(state):
            return [_contact(state, command, now, ids)]
        return []
    _require_open(state, "assign")
    events: list[CallEvent] = [
        ResponderAssigned(
            call_id=state.call_id,
            at=now,
            event_id=ids.derived(command.dispatch_id, "assigned"),
            responder_id=command.responder_id,
            name=command.responder_name,
            phone=command.phone,
            **_terms(command, PageTerms),
        )
    ]
    if _needs_contact(state):
        events.append(_contact(state, command, now, ids))
    return events


def _contact(state: CallState, command: c.AssignResponder, now: datetime, ids: IdFactory) -> ContactShared:
    """The person paged by ``command`` shown to the caller as whom to contact."""
    return ContactShared(
        call_id=state.call_id,
        at=now,
        event_id=ids.derived(command.dispatch_id, "contact"),
        responder_id=command.responder_id,
        name=command.responder_name,
        phone=command.phone,
    )


def _needs_contact(state: CallState) -> bool:
    if state.contact is None:
        return True
    holder = state.assignments.get(state.contact.responder_id)
    return holder is None or holder.status not in ACTIVE


def _miss(state: CallState, command: c.MissDeadline, now: datetime, ids: IdFactory) -> list[CallEvent]:
    """Record a passed deadline once; escalate only if the stage is still unmet.

    A stage met late while nobody was keeping the clock (the deadlines service or NATS was
    down at its due time) is still recorded as missed, without escalating.
    """
    if state.raised is None or state.held is not None:
        return []  # a held call's clock starts when the desk releases it
    if command.stage in state.escalation_owed and state.is_open:
        owed = c.Escalate(call_id=state.call_id, reason="deadline", stage=command.stage)
        escalation = _escalation(state, owed, now, ids.derived(state.call_id, "escalated", command.stage))
        return [] if escalation is None else [escalation]
    late_but_met = state.stage_late_unrecorded(command.stage)
    if not (state.stage_open(command.stage) or late_but_met):
        return []
    due = state.raised.due.of(command.stage)
    if now < due:
        return []
    missed = DeadlineMissed(
        call_id=state.call_id,
        at=now,
        event_id=ids.derived(state.call_id, "missed", command.stage),
        stage=command.stage,
        due_at=due,
        late_by_ms=round((now - due).total_seconds() * 1000, 3),
    )
    if late_but_met:
        return [missed]
    escalate = c.Escalate(call_id=state.call_id, reason="deadline", stage=command.stage)
    escalation = _escalation(state, escalate, now, ids.derived(state.call_id, "escalated", command.stage))
    return [missed] if escalation is None else [missed, escalation]


def _escalation(
    state: CallState, command: c.Escalate, now: datetime, event_id: str
) -> EscalationRaised | None:
    """One step up, never more: a level with nobody to page escalates again by itself, with
    its own event and reason (``no_one_available``), so every level's turn is on record."""
    target = next_level(state.level)
    if target is None:
        return None
    return EscalationRaised(
        call_id=state.call_id,
        at=now,
        event_id=event_id,
        from_level=state.level,
        to_level=target,
        reason=command.reason,
        stage=command.stage,
        by=command.by,
        note=command.note,
    )


def _terms(command: c.Command, terms: type[Frozen]) -> dict[str, Any]:
    """The fields a command shares with its event (``terms``), as they are on the command."""
    return {name: getattr(command, name) for name in terms.model_fields}


Decider = Callable[[CallState, Any, datetime, IdFactory], list[CallEvent]]

# Every command and the function that decides it (as ``evolve`` has one case per event).
DECIDERS: Mapping[type[c.Command], Decider] = MappingProxyType(
    {
        c.RaiseCall: _raise,
        c.AssignResponder: _assign,
        c.Accept: _responder_step(_ACCEPT),
        c.Decline: _responder_step(_DECLINE),
        c.EnRoute: _responder_step(_EN_ROUTE),
        c.Arrive: _responder_step(_ARRIVE),
        c.Resolve: _resolve,
        c.Cancel: _cancel,
        c.TimeOutDispatch: _time_out,
        c.MissDeadline: _miss,
        c.Escalate: _escalate,
        c.AddNote: _add_note,
        c.Merge: _merge,
        c.Join: _join,
        c.Unmerge: _unmerge,
        c.ResolveWithJoined: _resolve_with_joined,
        c.RecordNotification: _record_notification,
        c.Release: _release,
        c.RecordDeviceAlert: _record_device_alert,
    }
)


def _decider(kind: type[c.Command]) -> Decider:
    for cls in kind.__mro__:  # a subclass of a command is decided as that command
        decider = DECIDERS.get(cls)
        if decider is not None:
            return decider
    raise TypeError(f"unknown command {kind.__name__}")


__all__ = [
    "DECIDERS",
    "STAGES",
    "Assignment",
    "CallNotFound",
    "CallState",
    "Contact",
    "DomainError",
    "InvalidTransition",
    "NotDispatchedToYou",
    "Notice",
    "decide",
    "evolve",
    "fold",
]
