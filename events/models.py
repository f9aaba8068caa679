"""The facts of dispatch1310: frozen pydantic models, one class per event type.

Every call event is stored on subject ``calls.<call_id>.<type>`` of stream ``CALLS``;
responder and duty facts on stream ``RESPONDERS``. Each carries ``event_id``, ``type``,
``at`` (aware UTC) and ``version`` (the schema version of that event type).
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

Level = Literal["building", "district", "community", "professional"]
LEVELS: tuple[Level, ...] = ("building", "district", "community", "professional")
Stage = Literal["contact", "reach", "onsite"]
STAGES: tuple[Stage, ...] = ("contact", "reach", "onsite")
Kind = Literal["flood", "fire", "medical", "elderly_missing", "dispute", "other"]
KINDS: tuple[Kind, ...] = ("flood", "fire", "medical", "elderly_missing", "dispute", "other")
Source = Literal["app", "phone", "device"]
Outcome = Literal["handled", "false_alarm", "referred"]
Availability = Literal["available", "away"]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is in year 10000 in UTC
        raise ValueError("a time must fall within years 1-9999 in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def next_level(level: Level) -> Level | None:
    """The level above ``level``; None at the top (professional)."""
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


class Frozen(BaseModel):
    # Infinity and NaN have no JSON form: refuse them where they enter, not when stored.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class Caller(Frozen):
    name: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)


class Position(Frozen):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class StageTimes(Frozen):
    contact: UtcDatetime
    reach: UtcDatetime
    onsite: UtcDatetime

    def of(self, stage: Stage) -> datetime:
        return getattr(self, stage)


_REGISTERED: dict[str, type[Fact]] = {}


class Fact(Frozen):
    """Common envelope of every stored fact.

    A subclass that names its ``type`` (``type: Literal["X"] = "X"``) is a stored fact: it is
    registered here as it is defined, so the class itself is the one place an event type is
    written (``EVENT_TYPES``, the codec's union and its list of known types follow from it).
    """

    type: str
    event_id: str = Field(min_length=1)
    at: UtcDatetime
    version: int = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.model_fields["type"].default
        if isinstance(name, str):
            if name in _REGISTERED:
                raise TypeError(f"event type {name} is defined twice")
            _REGISTERED[name] = cls


class CallEvent(Fact):
    call_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class RaiseTerms(Frozen):
    """What a raise says about the call: shared by ``CallRaised`` and the ``RaiseCall`` command."""

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
    # Raised beyond its address's budget of new phones: held for the desk from the first
    # moment (a ``CallHeld`` follows), so no page can go out between the two.
    held: str | None = None
    # The community the call belongs to (its building's; a county's own desk for a building the
    # roster does not know). None on calls stored before counties: their building's community.
    community_id: str | None = None


class CallRaised(RaiseTerms, CallEvent):
    type: Literal["CallRaised"] = "CallRaised"


class Person(Frozen):
    """Who, by name and phone, as the resident and the pages show them."""

    responder_id: str
    name: str
    phone: str = ""


class PageTerms(Frozen):
    """What a page says beyond who: shared by ``ResponderAssigned`` and ``AssignResponder``."""

    level: Level
    dispatch_id: str
    ack_timeout_s: float
    by: str | None = None
    note: str = ""
    team_id: str | None = None


class ResponderAssigned(PageTerms, Person, CallEvent):
    type: Literal["ResponderAssigned"] = "ResponderAssigned"


class ContactShared(Person, CallEvent):
    type: Literal["ContactShared"] = "ContactShared"


AnswerChannel = Literal["app", "push", "link", "sms", "voice"]


class Answer(CallEvent):
    """A responder's answer to their page."""

    responder_id: str
    dispatch_id: str
    note: str = ""
    by: str | None = None  # the desk person who recorded it for the responder; None: the responder
    channel: AnswerChannel = "app"  # how the answer came: the page, a push action, a link, SMS, voice


class DispatchAccepted(Answer):
    type: Literal["DispatchAccepted"] = "DispatchAccepted"


class DispatchDeclined(Answer):
    type: Literal["DispatchDeclined"] = "DispatchDeclined"


class DispatchTimedOut(CallEvent):
    type: Literal["DispatchTimedOut"] = "DispatchTimedOut"
    responder_id: str
    dispatch_id: str


class Progress(CallEvent):
    """A responder's report on the way to the call."""

    responder_id: str
    note: str = ""
    by: str | None = None  # the desk person who recorded it for the responder; None: the responder


class ResponderEnRoute(Progress):
    type: Literal["ResponderEnRoute"] = "ResponderEnRoute"


class ResponderArrived(Progress):
    type: Literal["ResponderArrived"] = "ResponderArrived"


class CallResolved(CallEvent):
    type: Literal["CallResolved"] = "CallResolved"
    by: str
    outcome: Outcome = "handled"
    note: str = ""


class CallCancelled(CallEvent):
    type: Literal["CallCancelled"] = "CallCancelled"
    by: str
    note: str = ""


class CallMerged(CallEvent):
    """This call duplicates an open one at the same building; it is handled there."""

    type: Literal["CallMerged"] = "CallMerged"
    into_call_id: str


class DeadlineMissed(CallEvent):
    type: Literal["DeadlineMissed"] = "DeadlineMissed"
    stage: Stage
    due_at: UtcDatetime
    late_by_ms: float


class EscalationRaised(CallEvent):
    type: Literal["EscalationRaised"] = "EscalationRaised"
    from_level: Level
    to_level: Level
    reason: str
    stage: Stage | None = None
    skipped: tuple[Level, ...] = ()
    by: str | None = None
    note: str = ""


class NoteAdded(CallEvent):
    type: Literal["NoteAdded"] = "NoteAdded"
    by: str
    text: str


class DeviceAlert(Frozen):
    """What a device reported: shared by ``DeviceAlertReceived`` and ``RecordDeviceAlert``."""

    device_id: str
    alert_kind: str
    position: Position | None = None
    battery: float | None = None
    device_at: UtcDatetime | None = None


class DeviceAlertReceived(DeviceAlert, CallEvent):
    type: Literal["DeviceAlertReceived"] = "DeviceAlertReceived"


class Joining(Frozen):
    """The call that joins another (shared by ``CallJoined`` and the ``Join`` command)."""

    joined_call_id: str
    kind: Kind = "other"
    caller: Caller = Caller()


class CallJoined(Joining, CallEvent):
    """Another call (``joined_call_id``) was merged into this one: this call now answers for it.

    Its kind counts for this call's paging (a ``fire`` joining an ``other`` pages professionals).
    """

    type: Literal["CallJoined"] = "CallJoined"


class CallUnmerged(CallEvent):
    """This merged call stands alone again: the call it joined closed without handling it."""

    type: Literal["CallUnmerged"] = "CallUnmerged"
    from_call_id: str
    reason: str
    due: StageTimes | None = None  # the stage clock restarted for its own dispatch


class CallHeld(CallEvent):
    """Stored but not dispatched: held for the duty desk to triage (``reason``: ``flood``).

    ``flood`` names the flood (one address in one window); ``first_of_flood`` marks the call
    on which the duty officer is paged, once per flood.
    """

    type: Literal["CallHeld"] = "CallHeld"
    reason: str = "flood"
    flood: str = ""
    first_of_flood: bool = False


class CallReleased(CallEvent):
    """The desk released a held call: it is dispatched now, its stage clock started afresh."""

    type: Literal["CallReleased"] = "CallReleased"
    by: str
    note: str = ""
    due: StageTimes


class Sending(Frozen):
    """One page on one channel (``attempt`` counts tries on that channel): shared by the
    ``NotificationSent``/``NotificationFailed`` events and the ``RecordNotification`` command."""

    responder_id: str
    dispatch_id: str
    method: str
    attempt: int = 1


class _PageOutcome(Sending, CallEvent):
    """What became of one page on one channel."""


class NotificationSent(_PageOutcome):
    """A page went out on one channel."""

    type: Literal["NotificationSent"] = "NotificationSent"


class NotificationFailed(_PageOutcome):
    """A page could not be sent on one channel; it was dead-lettered with ``error``."""

    type: Literal["NotificationFailed"] = "NotificationFailed"
    error: str = ""


class AvailabilityChanged(Fact):
    type: Literal["AvailabilityChanged"] = "AvailabilityChanged"
    responder_id: str
    status: Availability
    until: UtcDatetime | None = None
    by: str


class DutyOverrideSet(Fact):
    type: Literal["DutyOverrideSet"] = "DutyOverrideSet"
    person_id: str
    starts: UtcDatetime = Field(alias="from")
    ends: UtcDatetime = Field(alias="to")
    by: str

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False, populate_by_name=True)


# Every stored fact by its ``type``, in the order the classes are defined above.
EVENT_TYPES: MappingProxyType[str, type[Fact]] = MappingProxyType(dict(_REGISTERED))
CALL_EVENT_TYPES: tuple[type[CallEvent], ...] = tuple(
    cls for cls in EVENT_TYPES.values() if issubclass(cls, CallEvent)
)
RESPONDER_FACT_TYPES: tuple[type[Fact], ...] = tuple(
    cls for cls in EVENT_TYPES.values() if not issubclass(cls, CallEvent)
)
# The union the codec decodes by ``type``: exactly the registered classes.
AnyEvent: Any = Annotated[Union[(*EVENT_TYPES.values(),)], Field(discriminator="type")]

# The event that meets each stage of the 1310 promise.
STAGE_MET_BY: dict[Stage, type[CallEvent]] = {
    "contact": ContactShared,
    "reach": DispatchAccepted,
    "onsite": ResponderArrived,
}
