"""Commands: what someone asks of a call. The call aggregate decides which events follow."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.models import (
    AnswerChannel,
    DeviceAlert,
    Frozen,
    Joining,
    Level,
    Outcome,
    PageTerms,
    RaiseTerms,
    Sending,
    Stage,
    StageTimes,
)


class Command(Frozen):
    call_id: str


class RaiseCall(RaiseTerms, Command):
    """Raise a call: ``CallRaised`` with these terms; with ``held``, a ``CallHeld`` too
    (``flood`` and ``first_of_flood`` go to it)."""

    name: Literal["raise"] = "raise"
    flood: str = ""
    first_of_flood: bool = False


class AssignResponder(PageTerms, Command):
    """Page one person (``ResponderAssigned``). When the call has no contact whose page is
    still active, the aggregate also tells the resident this person is their contact
    (``ContactShared``)."""

    name: Literal["assign"] = "assign"
    responder_id: str
    responder_name: str  # ``name`` is the command's own: the event's ``name``
    phone: str = ""


class ResponderAction(Command):
    responder_id: str
    note: str = Field(default="", max_length=2000)
    by: str | None = None  # the desk (a supervisor, the duty officer) acting for the responder
    channel: AnswerChannel = "app"  # accept/decline: the way the answer came


class Accept(ResponderAction):
    name: Literal["accept"] = "accept"


class Decline(ResponderAction):
    name: Literal["decline"] = "decline"


class EnRoute(ResponderAction):
    name: Literal["enroute"] = "enroute"


class Arrive(ResponderAction):
    name: Literal["arrive"] = "arrive"


class Resolve(Command):
    name: Literal["resolve"] = "resolve"
    by: str
    outcome: Outcome = "handled"
    note: str = Field(default="", max_length=2000)
    as_responder: bool = True


class Cancel(Command):
    name: Literal["cancel"] = "cancel"
    by: str
    note: str = Field(default="", max_length=2000)


class TimeOutDispatch(Command):
    name: Literal["timeout"] = "timeout"
    dispatch_id: str


class MissDeadline(Command):
    name: Literal["miss_deadline"] = "miss_deadline"
    stage: Stage


class Escalate(Command):
    name: Literal["escalate"] = "escalate"
    reason: str
    stage: Stage | None = None
    by: str | None = None
    note: str = Field(default="", max_length=500)
    # "Escalate from this level": once the call has left it, a repeat (a double click, a
    # retried request) changes nothing instead of climbing another level.
    from_level: Level | None = None


class AddNote(Command):
    name: Literal["note"] = "note"
    by: str
    text: str = Field(min_length=1, max_length=2000)


class Merge(Command):
    """This call duplicates ``into_call_id`` (which has already recorded ``Join``)."""

    name: Literal["merge"] = "merge"
    into_call_id: str


class Join(Joining, Command):
    """``joined_call_id`` is being merged into this call: this call answers for it from now."""

    name: Literal["join"] = "join"


class Unmerge(Command):
    """The call this one joined closed without handling it: stand alone again, clock restarted."""

    name: Literal["unmerge"] = "unmerge"
    from_call_id: str
    reason: str
    due: StageTimes


class ResolveWithJoined(Command):
    """The call this one joined was resolved (handled): so is this one, by the same person."""

    name: Literal["resolve_with_joined"] = "resolve_with_joined"
    from_call_id: str
    by: str
    outcome: Outcome = "handled"


class RecordDeviceAlert(DeviceAlert, Command):
    name: Literal["device_alert"] = "device_alert"


class RecordNotification(Sending, Command):
    """How a page went out: sent on ``method``, or (``error`` set) failed and dead-lettered.

    A record of what happened, so it is kept even after the call closed."""

    name: Literal["record_notification"] = "record_notification"
    error: str | None = None


class Release(Command):
    """The desk dispatches a held call."""

    name: Literal["release"] = "release"
    by: str
    note: str = Field(default="", max_length=2000)
    due: StageTimes
