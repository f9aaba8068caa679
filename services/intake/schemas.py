"""Request bodies: validated at the edge, so bad input is a 422 naming the field.

A resident's phone is normalised here (``services/domain/phones.py``), names and notes are
cleaned of invisible and reordering characters (``services/intake/text.py``), times are
aware and representable in UTC, numbers finite.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema, field_validator

from events.models import KINDS, Caller, CallRaised, Kind, Level, Outcome, Source
from events.subjects import CALL_ID_PATTERN
from services.domain.phones import normalise_phone
from services.intake.text import clean_name, clean_note

# A call id in a path is one subject token: '*' or '>' would address every call's events.
CallIdPath = Annotated[str, Path(pattern=CALL_ID_PATTERN, max_length=64)]


def _visible_name(value: str) -> str:
    cleaned = clean_name(value)
    if not cleaned:
        raise ValueError("a name needs a visible character")
    return cleaned


# What a person types: cleaned (see services/intake/text.py); a name must stay non-empty.
Name = Annotated[str, AfterValidator(_visible_name)]
Note = Annotated[str, AfterValidator(clean_note)]


def _visible_note(value: str) -> str:
    cleaned = clean_note(value)
    if not cleaned:
        raise ValueError("a note needs a visible character")
    return cleaned


VisibleNote = Annotated[str, AfterValidator(_visible_note)]
# A resident's phone as typed: "+8613900000001" once normalised (services/domain/phones.py).
# The pattern (shape, and at least 5 digits) documents the rule; the normaliser decides.
PHONE_PATTERN = r"^\s*\+?([ ().\-]*[0-9]){5,}[ ().\-]*\s*$"
Phone = Annotated[str, AfterValidator(normalise_phone)]


# The contract: a kind is one of KINDS, and any other text is taken as "other".
KIND_SCHEMA = {
    "type": "string",
    "default": "other",
    "examples": list(KINDS),
    "description": "one of " + "|".join(KINDS) + "; any other text is taken as other",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, allow_inf_nan=False)


class CallerIn(_Body):
    name: Name = Field(min_length=1, max_length=100)
    phone: Phone = Field(min_length=5, max_length=40, pattern=PHONE_PATTERN)


class RaiseCallIn(_Body):
    caller: CallerIn
    building_id: str | None = Field(default=None, max_length=64)
    address: Note = Field(default="", max_length=300)
    kind: Annotated[Kind, WithJsonSchema(KIND_SCHEMA)] = "other"
    note: Note = Field(default="", max_length=2000)
    drill: StrictBool = False
    source: Source = "app"

    @field_validator("kind", mode="before")
    @classmethod
    def unknown_kind_is_other(cls, value: Any) -> Any:
        return "other" if isinstance(value, str) and value not in KINDS else value

    def caller_model(self) -> Caller:
        return Caller(name=self.caller.name, phone=self.caller.phone)

    def same_raise(self, raised: CallRaised) -> bool:
        """Is this (normalised) body the one ``raised`` (a stored ``CallRaised``) was made of?
        An Idempotency-Key names one raise: reused with another body it is refused."""
        return (
            raised.caller.name,
            raised.caller.phone,
            raised.building_id,
            raised.address,
            raised.kind,
            raised.note,
            raised.drill,
            raised.source,
        ) == (
            self.caller.name,
            self.caller.phone,
            self.building_id,
            self.address,
            self.kind,
            self.note,
            self.drill,
            self.source,
        )


class ActionIn(_Body):
    responder_id: str | None = Field(default=None, max_length=64)
    note: Note = Field(default="", max_length=2000)


class ResolveIn(ActionIn):
    outcome: Outcome = "handled"


class CancelIn(_Body):
    note: Note = Field(default="", max_length=2000)
    secret: str | None = Field(default=None, max_length=200)


class AssignIn(_Body):
    responder_id: str = Field(min_length=1, max_length=64)
    note: Note = Field(default="", max_length=2000)


class EscalateIn(_Body):
    reason: Note = Field(default="manual", max_length=500)
    from_level: Level | None = None  # the level the supervisor saw: a repeat changes nothing


class ReleaseIn(_Body):
    note: str = Field(default="", max_length=2000)


class NoteIn(_Body):
    text: VisibleNote = Field(min_length=1, max_length=2000)


class ErrorOut(BaseModel):
    """Every error answer: ``detail`` is a text naming the field (``"until: must be in the
    future"``) or, for a body or parameter that fails validation, a list of errors, each with
    its ``loc`` (the field), ``msg`` and ``type``."""

    detail: str | list[dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# Documented on every route: what any of them may answer besides its success.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("the body cannot be read as text (not UTF-8)"),
    401: _error("no bearer token where one is needed, or one that matches nobody"),
    403: _error("the token's person may not do this"),
    404: _error("no such call or person"),
    413: _error("the request body is over the size limit"),
    422: _error("input refused: the detail names the field"),
    503: _error("the event store is away: nothing was stored, retry (Retry-After)"),
}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "JSON, or CSV with format=csv",
    }
}


def json_safe(value: Any) -> Any:
    """``value`` (a 422's detail, which echoes the input) with nothing JSON or UTF-8 cannot
    carry: NaN and infinities become their names, lone surrogates ``\\udXXX`` escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
