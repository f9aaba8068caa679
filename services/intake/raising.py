"""Raising a call: the one place a ``RaiseCall`` is built, for a resident, the desk or a device.

Where the call starts (its district, the first staffed level), its three due times and the
escalation policy it keeps are the roster's and the settings' answer at the moment ``now``;
what was raised (who, where, what) is the route's.
"""

from __future__ import annotations

from datetime import datetime

from events import commands as c
from events.models import Caller, Kind, Level, Position, Source
from services.domain.roster import Roster
from services.runtime.settings import Targets


def starting_level(roster: Roster, building_id: str | None, device_id: str | None = None) -> Level:
    """Building level when the building (or the device's caretakers) has people; otherwise the
    first staffed level above."""
    community_id = roster.community_of(building_id).id
    staffed = roster.staffed_levels(building_id, None, device_id, community_id) or roster.staffed_levels(
        building_id, None, None, community_id
    )
    return staffed[0] if staffed else "professional"


def raise_command(
    roster: Roster,
    targets: Targets,
    now: datetime,
    *,
    call_id: str,
    caller: Caller,
    building_id: str | None,
    kind: Kind,
    note: str = "",
    address: str = "",
    drill: bool = False,
    source: Source = "app",
    raised_by: str | None = None,
    device_id: str | None = None,
    position: Position | None = None,
    caller_secret_sha256: str | None = None,
    held: str | None = None,
    flood: str = "",
    first_of_flood: bool = False,
) -> c.RaiseCall:
    """The command raising ``call_id`` at ``now``: its stage clock starts then."""
    district = roster.district_of(building_id)
    community = roster.community_of(building_id)
    return c.RaiseCall(
        call_id=call_id,
        caller=caller,
        building_id=building_id,
        district_id=district.id if district else None,
        community_id=community.id,
        address=address,
        kind=kind,
        note=note,
        drill=drill,
        source=source,
        raised_by=raised_by,
        level=starting_level(roster, building_id, device_id),
        due=targets.due_from(now),
        policy_version=roster.escalation.version,
        device_id=device_id,
        position=position,
        caller_secret_sha256=caller_secret_sha256,
        held=held,
        flood=flood,
        first_of_flood=first_of_flood,
    )
