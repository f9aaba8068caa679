"""The duty desk, pure: who is away, who is on duty now, when the next handover is.

Availability and duty overrides are facts on the ``RESPONDERS`` stream; ``DutyBook`` folds
them. Status and rotation are computed from an injected ``now`` (UTC, no DST arithmetic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from events.models import AvailabilityChanged, DutyOverrideSet, Fact
from services.domain.roster import Community, Person

Status = Literal["available", "busy", "away"]


@dataclass(frozen=True)
class DutyBook:
    availability: dict[str, AvailabilityChanged] = field(default_factory=dict)
    overrides: tuple[DutyOverrideSet, ...] = ()

    def apply(self, fact: Fact) -> DutyBook:
        if isinstance(fact, AvailabilityChanged):
            return replace(self, availability={**self.availability, fact.responder_id: fact})
        if isinstance(fact, DutyOverrideSet):
            return replace(self, overrides=(*self.overrides, fact))
        return self

    def is_away(self, person_id: str, now: datetime) -> bool:
        latest = self.availability.get(person_id)
        if latest is None or latest.status != "away":
            return False
        return latest.until is None or now < latest.until

    def away_until(self, person_id: str, now: datetime) -> datetime | None:
        latest = self.availability.get(person_id)
        return latest.until if latest is not None and self.is_away(person_id, now) else None

    def away_ids(self, now: datetime) -> frozenset[str]:
        return frozenset(pid for pid in self.availability if self.is_away(pid, now))

    def status(self, person_id: str, now: datetime, busy: frozenset[str]) -> Status:
        if self.is_away(person_id, now):
            return "away"
        return "busy" if person_id in busy else "available"


@dataclass(frozen=True)
class DutyNow:
    on_duty: Person | None
    next: Person | None
    handover_at: datetime | None
    by_override: bool = False


def on_duty(community: Community, overrides: tuple[DutyOverrideSet, ...], now: datetime) -> DutyNow:
    """Who holds the community desk at ``now``: the latest override covering now wins."""
    duty = community.duty
    if not duty:
        return DutyNow(None, None, None)
    people = {p.id: p for p in duty}
    rotating, handover = _rotation(community, now)
    covering = [o for o in overrides if o.starts <= now < o.ends and o.person_id in people]
    if covering:
        override = covering[-1]
        ends = override.ends
        after = _rotation(community, ends)[0]
        return DutyNow(people[override.person_id], after, ends, by_override=True)
    upcoming = [o for o in overrides if now < o.starts and o.person_id in people]
    next_person = _rotation(community, handover)[0] if handover else None
    if upcoming:
        soonest = min(upcoming, key=lambda o: o.starts)
        if handover is None or soonest.starts < handover:
            return DutyNow(rotating, people[soonest.person_id], soonest.starts)
    return DutyNow(rotating, next_person, handover)


def _rotation(community: Community, at: datetime) -> tuple[Person, datetime | None]:
    duty = community.duty
    rotation = community.rotation
    if rotation is None or len(duty) == 1:
        return duty[0], None
    shift = timedelta(hours=rotation.shift_hours)
    elapsed = (at - rotation.start) / shift
    index = math.floor(elapsed)
    try:
        handover: datetime | None = rotation.start + shift * (index + 1)
    except OverflowError:  # at the end of the calendar (an override stored up to 9999-12-31)
        handover = None
    return duty[index % len(duty)], handover


def community_order(
    community: Community, overrides: tuple[DutyOverrideSet, ...], now: datetime
) -> list[Person]:
    """Community paging order: the officer on duty first, then the rest of the list."""
    current = on_duty(community, overrides, now).on_duty
    rest = [p for p in community.duty if current is None or p.id != current.id]
    return ([current] if current else []) + rest
