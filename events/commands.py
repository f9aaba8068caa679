"""Commands: what someone asks of a call. The call aggregate decides which events follow."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.models import (
    AnswerChannel,
    Caller,
    Frozen,
    Kind,
    Level,
    Outcome,
    Position,
    Source,
    Stage,
    StageTimes,
    UtcDatetime,
)


class Command(Frozen):
    call_id: str


class RaiseCall(Command):
    name: Literal["raise"] = "raise"
    caller: Caller
    building_id: str | None = None
    district_id: str | None = None
    address: str = ""
    kind: Kind = "other"
    note: str = ""
    drill: bool = False
    source: Source = "app"
    raised_by: str | None = None
    level: Level = "building"
    due: StageTimes
    policy_version: str
    device_id: str | None = None
    position: Position | None = None
    caller_secret_sha256: str | None = None
    held: str | None = None
    flood: str = ""
    first_of_flood: bool = False


class AssignResponder(Command):
    """Page one person; ``share_contact`` also tells the resident this is their contact."""

    name: Literal["assign"] = "assign"
    responder_id: str
    responder_name: str
    phone: str = ""
    level: Level
    dispatch_id: str
    ack_timeout_s: float
    by: str | None = None
    note: str = ""
    team_id: str | None = None


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


class Join(Command):
    """``joined_call_id`` is being merged into this call: this call answers for it from now."""

    name: Literal["join"] = "join"
    joined_call_id: str
    kind: Kind = "other"
    caller: Caller = Caller()


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


class RecordDeviceAlert(Command):
    name: Literal["device_alert"] = "device_alert"
    device_id: str
    alert_kind: str
    position: Position | None = None
    battery: float | None = None
    device_at: UtcDatetime | None = None


class RecordNotification(Command):
    """How a page went out: sent on ``method``, or (``error`` set) failed and dead-lettered.

    A record of what happened, so it is kept even after the call closed."""

    name: Literal["record_notification"] = "record_notification"
    responder_id: str
    dispatch_id: str
    method: str
    attempt: int = 1
    error: str | None = None


class Release(Command):
    """The desk dispatches a held call."""

    name: Literal["release"] = "release"
    by: str
    note: str = Field(default="", max_length=2000)
    due: StageTimes
