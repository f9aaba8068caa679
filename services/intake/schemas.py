"""Request bodies: validated at the edge, so bad input is a 422 naming the field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.models import KINDS, Caller, Kind, Level, Outcome, Source
from events.subjects import CALL_ID_PATTERN

# A call id in a path is one subject token: '*' or '>' would address every call's events.
CallIdPath = Annotated[str, Path(pattern=CALL_ID_PATTERN, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CallerIn(_Body):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=3, max_length=40, pattern=r"^[0-9+\-() ]+$")


class RaiseCallIn(_Body):
    caller: CallerIn
    building_id: str | None = Field(default=None, max_length=64)
    address: str = Field(default="", max_length=300)
    kind: Kind = "other"
    note: str = Field(default="", max_length=2000)
    drill: bool = False
    source: Source = "app"

    @field_validator("kind", mode="before")
    @classmethod
    def unknown_kind_is_other(cls, value: Any) -> Any:
        return value if value in KINDS else "other"

    def caller_model(self) -> Caller:
        return Caller(name=self.caller.name, phone=self.caller.phone)


class ActionIn(_Body):
    responder_id: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=2000)


class ResolveIn(ActionIn):
    outcome: Outcome = "handled"


class CancelIn(_Body):
    note: str = Field(default="", max_length=2000)
    secret: str | None = Field(default=None, max_length=200)


class AssignIn(_Body):
    responder_id: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=2000)


class EscalateIn(_Body):
    reason: str = Field(default="manual", max_length=500)
    from_level: Level | None = None  # the level the supervisor saw: a repeat changes nothing


class ReleaseIn(_Body):
    note: str = Field(default="", max_length=2000)


class NoteIn(_Body):
    text: str = Field(min_length=1, max_length=2000)
