"""Names for the ids the API speaks in: buildings and districts (``/api/buildings``, public),
people (``/api/roster`` with a supervisor's token, else what a call's own events say)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from services.cli.http_client import try_api

CATALOGUE = Path(__file__).resolve().parents[1] / "intake" / "i18n" / "zh-CN.json"


@cache
def _catalogue() -> dict[str, str]:
    """The pages' zh-CN texts: kinds and levels are named as the pages name them."""
    try:
        texts: dict[str, str] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return texts


@dataclass
class Names:
    buildings: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    districts: dict[str, str] = field(default_factory=dict)
    communities: dict[str, str] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)
    community: str | None = None

    @classmethod
    def fetch(cls, people: bool = True) -> Names:
        """What the running system tells this token; whatever it refuses stays an id."""
        names = cls()
        for row in try_api("/api/buildings") or []:
            names.buildings[row["id"]] = row["name"]
            names.districts[row["district_id"]] = row["district_name"]
            if row.get("community_id"):
                names.communities[row["community_id"]] = row.get("community_name") or row["community_id"]
        if people:
            answer = try_api("/api/roster")
            if isinstance(answer, dict) and isinstance(answer.get("roster"), dict):
                names.learn_roster(answer["roster"])
        return names

    def learn_roster(self, roster: dict[str, Any]) -> None:
        community = roster.get("community") or {}
        self.community = community.get("name")
        self._people(community.get("duty"))
        self._people(roster.get("professional"))
        self._people(roster.get("supervisors"))
        for team in roster.get("teams") or []:
            self._people(team.get("members"))
        for district in roster.get("districts") or []:
            self.districts[district["id"]] = district.get("name", district["id"])
            self._people(district.get("leaders"))
            self._people(district.get("team"))
            for building in district.get("buildings") or []:
                self.buildings[building["id"]] = building.get("name", building["id"])
                if building.get("address"):
                    self.addresses[building["id"]] = building["address"]
                self._people(building.get("members"))
                self._people(building.get("backups"))

    def _people(self, people: list[dict[str, Any]] | None) -> None:
        for person in people or []:
            if person.get("id") and person.get("name"):
                self.people.setdefault(person["id"], person["name"])

    def person(self, person_id: str | None) -> str:
        if not person_id:
            return ""
        return self.people.get(person_id, person_id)

    def building(self, building_id: str | None) -> str:
        if not building_id:
            return "(no building)"
        name = self.buildings.get(building_id)
        return name if name else f"{building_id} (not in the roster)"

    def district(self, district_id: str | None) -> str:
        if not district_id or district_id == "(unknown)":
            return "(unknown district)"
        return self.districts.get(district_id, district_id)

    def community_name(self, community_id: str) -> str:
        return self.communities.get(community_id, community_id)


def _label(prefix: str, name: str | None) -> str:
    if not name:
        return ""
    text = _catalogue().get(f"{prefix}_{name}")
    return f"{text} {name}" if text else name


def level(name: str | None) -> str:
    """``片区支部 district``: the catalogue's name, then the id scripts and the API use."""
    return _label("level", name)


def kind(name: str | None) -> str:
    return _label("kind", name)
