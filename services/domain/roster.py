"""The roster: who serves at which level, in paging order (contract shape, JSON or YAML).

Validated with clear errors (duplicate ids, unknown references). Its ``version`` is a hash
of its content, so every service can tell it holds the same roster.

A file names each person's bearer ``token`` (or its ``token_sha256``) and each device's HMAC
``secret``. Shared with every service, a roster is ``sealed`` first: tokens only as
``token_hmac`` (HMAC-SHA256 of the token's SHA-256, keyed with the intake's server key),
device secrets not at all (they go to the intake's own bucket: ``intake_secrets``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from events.models import KINDS, LEVELS, Kind, Level, UtcDatetime

DEMO_ROSTER = Path(__file__).with_name("demo_roster.yaml")


class RosterError(ValueError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Method = Literal["push", "sms", "voice", "webhook", "wecom", "dingtalk"]
METHODS: tuple[Method, ...] = ("push", "sms", "voice", "webhook", "wecom", "dingtalk")
_URL = r"^https?://\S+$"


class ContactMethods(_Model):
    """Where a person is reached besides the responder page: ``sms``/``voice`` numbers (default:
    the person's ``phone``), a ``webhook`` (a rescue service's system), a personal WeCom or
    DingTalk robot. ``push`` needs no address: it goes to the browsers the person subscribed."""

    sms: str | None = Field(default=None, min_length=3, max_length=32)
    voice: str | None = Field(default=None, min_length=3, max_length=32)
    webhook: str | None = Field(default=None, pattern=_URL)
    wecom: str | None = Field(default=None, pattern=_URL)
    dingtalk: str | None = Field(default=None, pattern=_URL)


class NotifyStep(_Model):
    """One rule step: send on ``method`` once the page has gone unanswered ``after_s`` seconds."""

    method: Method
    after_s: float = Field(default=0, ge=0, le=3600)


DEFAULT_VOICE_AFTER_S = 60.0


class Person(_Model):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)
    phone: str = ""
    token: str | None = None  # a file only
    token_sha256: str | None = None  # a file only: the token's SHA-256 instead of the token
    token_hmac: str | None = None  # sealed: keyed_hash(server key, the token's SHA-256)
    webhook: str | None = None  # older form of contact_methods.webhook
    contact_methods: ContactMethods = ContactMethods()
    notify: tuple[NotifyStep, ...] | None = None  # None: the default rules (see ``rules``)

    @model_validator(mode="after")
    def _steps_have_an_address(self) -> Person:
        for step in self.notify or ():
            if step.method != "push" and self.address_of(step.method) is None:
                raise ValueError(
                    f"person {self.id!r}: notify step {step.method!r} has no contact method "
                    f"(add contact_methods.{step.method}"
                    + (" or a phone)" if step.method in ("sms", "voice") else ")")
                )
        return self

    def address_of(self, method: str) -> str | None:
        """Where ``method`` reaches this person; None: it cannot."""
        methods = self.contact_methods
        match method:
            case "sms":
                return methods.sms or self.phone or None
            case "voice":
                return methods.voice or self.phone or None
            case "webhook":
                return methods.webhook or self.webhook or None
            case "wecom":
                return methods.wecom
            case "dingtalk":
                return methods.dingtalk
        return None

    def rules(self, page_lasts_s: float | None = None) -> tuple[NotifyStep, ...]:
        """The person's notify steps, earliest first.

        Default: push and SMS at once and a voice call after 60 s, each where the person has
        an address for it; a service with a webhook gets its webhook at once. A page that
        lasts ``page_lasts_s`` (its ack timeout) ends before 60 s by default (45 s): then the
        default voice call comes at two thirds of the page, so it still rings before the page
        moves on. Explicit ``notify`` steps run as written."""
        if self.notify is not None:
            return tuple(sorted(self.notify, key=lambda step: step.after_s))
        if self.address_of("webhook"):
            return (NotifyStep(method="webhook"),)
        steps = [NotifyStep(method="push")]
        if self.address_of("sms"):
            steps.append(NotifyStep(method="sms"))
        if self.address_of("voice"):
            voice_after = DEFAULT_VOICE_AFTER_S
            if page_lasts_s is not None:
                voice_after = min(voice_after, round(page_lasts_s * 2 / 3, 1))
            steps.append(NotifyStep(method="voice", after_s=voice_after))
        return tuple(steps)


class Robot(_Model):
    """A district's group robot: its group sees every page of the district's calls. DingTalk
    robots with signing on carry their ``secret`` (the URL is signed on each send)."""

    type: Literal["wecom", "dingtalk"]
    url: str = Field(pattern=_URL)
    secret: str | None = Field(default=None, min_length=1)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_hash(key: bytes, digest: str) -> str:
    """HMAC-SHA256 with the server key over a SHA-256 (hex): a ``token_sha256`` from a file
    is keyed as it is, without the token."""
    return hmac.new(key, digest.lower().encode(), hashlib.sha256).hexdigest()


class Rotation(_Model):
    start: UtcDatetime
    shift_hours: float = Field(gt=0)


class Building(_Model):
    id: str = Field(min_length=1)
    name: str
    address: str = ""  # street address, said on every page
    members: tuple[Person, ...] = ()
    backups: tuple[Person, ...] = ()


class District(_Model):
    id: str = Field(min_length=1)
    name: str
    leaders: tuple[Person, ...] = ()
    team: tuple[Person, ...] = ()
    buildings: tuple[Building, ...] = ()
    robots: tuple[Robot, ...] = ()


class Community(_Model):
    """A community: its duty list and rotation; in a county roster also its own ``districts``
    and ``supervisors`` (who see and act on its calls only)."""

    id: str
    name: str
    duty: tuple[Person, ...] = ()
    rotation: Rotation | None = None
    districts: tuple[District, ...] = ()
    supervisors: tuple[Person, ...] = ()


COUNTY_DESK = {"id": "county", "name": "County duty desk"}


class Team(_Model):
    id: str
    name: str
    kinds: tuple[Kind, ...] = ()
    members: tuple[Person, ...] = ()


class Resident(_Model):
    name: str
    phone: str = ""


class Device(_Model):
    id: str = Field(min_length=1)
    secret: str | None = Field(default=None, min_length=8)  # a file only
    secret_hmac: str | None = None  # sealed: a keyed fingerprint (a new secret, a new version)
    building_id: str
    resident: Resident
    caretakers: tuple[Person, ...] = ()

    @model_validator(mode="after")
    def _has_a_secret(self) -> Device:
        if not self.secret and not self.secret_hmac:
            raise ValueError(f"device {self.id!r} needs a secret")
        return self


class LevelPolicy(_Model):
    level: Level
    ack_timeout_s: float | None = Field(default=None, gt=0)


class EscalationPolicy(_Model):
    """Escalation as data; its ``version`` is snapshotted in every ``CallRaised``."""

    version: str = "default-1"
    levels: tuple[LevelPolicy, ...] = tuple(LevelPolicy(level=level) for level in LEVELS)
    skip_to_professional: tuple[Kind, ...] = ("fire", "medical")

    def ack_timeout(self, level: Level, default: float) -> float:
        for step in self.levels:
            if step.level == level and step.ack_timeout_s is not None:
                return step.ack_timeout_s
        return default


class Roster(_Model):
    """One community (``community`` + ``districts``), or a county: ``communities`` (each with
    its districts, duty list and supervisors) under the county's own duty desk (``county`` in
    a file, kept as ``community``), with county-level ``professional``, ``supervisors`` and
    ``teams`` shared above them. Ids are unique across the county."""

    community: Community
    communities: tuple[Community, ...] = ()
    professional: tuple[Person, ...] = ()
    districts: tuple[District, ...] = ()
    supervisors: tuple[Person, ...] = ()
    teams: tuple[Team, ...] = ()
    devices: tuple[Device, ...] = ()
    escalation: EscalationPolicy = EscalationPolicy()

    @model_validator(mode="before")
    @classmethod
    def _county_desk(cls, data: Any) -> Any:
        """A county file names its own desk ``county`` (optional: an empty desk by default)."""
        if isinstance(data, dict) and data.get("communities"):
            data = dict(data)
            county = data.pop("county", None)
            if "community" not in data:
                data["community"] = county if county is not None else COUNTY_DESK
            elif county is not None:
                raise ValueError("a county roster names its desk 'county' or 'community', not both")
        elif isinstance(data, dict) and "county" in data:
            raise ValueError("county: a county roster lists its 'communities'")
        return data

    @model_validator(mode="after")
    def _check_references(self) -> Roster:
        problems: list[str] = []
        seen: dict[str, Person] = {}
        for person, where in self._people_with_place():
            other = seen.get(person.id)
            if other is not None and other != person:
                problems.append(f"person id {person.id!r} is used for two different people ({where})")
            seen[person.id] = person
        if self.communities and self.districts:
            problems.append("a county roster lists its districts under each of its communities")
        if self.community.districts or self.community.supervisors:
            problems.append(
                "community: districts and supervisors of a single community are listed at the top"
                if not self.communities
                else "county: the county desk has no districts; its supervisors are the top-level ones"
            )
        for kind, ids in (
            ("community", [c.id for c in (self.community, *self.communities)]),
            ("district", [d.id for d in self._district_list()]),
            ("building", [b.id for d in self._district_list() for b in d.buildings]),
            ("team", [t.id for t in self.teams]),
            ("device", [d.id for d in self.devices]),
        ):
            duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
            if duplicates:
                problems.append(f"duplicate {kind} id(s): {', '.join(duplicates)}")
        buildings = {b.id for d in self._district_list() for b in d.buildings}
        for device in self.devices:
            if device.building_id not in buildings:
                problems.append(f"device {device.id!r} names unknown building {device.building_id!r}")
        for team in self.teams:
            unknown = [k for k in team.kinds if k not in KINDS]
            if unknown:
                problems.append(f"team {team.id!r} names unknown kinds {unknown}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _people_with_place(self) -> list[tuple[Person, str]]:
        found: list[tuple[Person, str]] = [(p, "community.duty") for p in self.community.duty]
        found += [(p, "professional") for p in self.professional]
        found += [(p, "supervisors") for p in self.supervisors]
        for community in self.communities:
            found += [(p, f"communities.{community.id}.duty") for p in community.duty]
            found += [(p, f"communities.{community.id}.supervisors") for p in community.supervisors]
        for d in self._district_list():
            found += [(p, f"districts.{d.id}.leaders") for p in d.leaders]
            found += [(p, f"districts.{d.id}.team") for p in d.team]
            for b in d.buildings:
                found += [(p, f"buildings.{b.id}.members") for p in b.members]
                found += [(p, f"buildings.{b.id}.backups") for p in b.backups]
        for t in self.teams:
            found += [(p, f"teams.{t.id}") for p in t.members]
        for dev in self.devices:
            found += [(p, f"devices.{dev.id}.caretakers") for p in dev.caretakers]
        return found

    # ------------------------------------------------------------ the county

    @property
    def is_county(self) -> bool:
        return bool(self.communities)

    @property
    def desk(self) -> Community:
        """The duty desk of last resort: the county's own (a county), the community (one)."""
        return self.community

    @property
    def served(self) -> tuple[Community, ...]:
        """The communities calls belong to: a county's, or the one community."""
        return self.communities or (self.community,)

    @property
    def desks(self) -> tuple[Community, ...]:
        """Every duty desk: each community's, then (in a county) the county's own."""
        return (*self.communities, self.community) if self.communities else (self.community,)

    @cached_property
    def all_districts(self) -> tuple[District, ...]:
        return self._district_list()

    def _district_list(self) -> tuple[District, ...]:
        # Not cached: validation runs it, and ``model_copy`` would carry a cache to the copy.
        return self.districts + tuple(d for c in self.communities for d in c.districts)

    def districts_of(self, community: Community) -> tuple[District, ...]:
        if not self.communities:
            return self.districts if community.id == self.community.id else ()
        return community.districts

    @cached_property
    def _communities(self) -> dict[str, Community]:
        return {c.id: c for c in self.desks}

    @cached_property
    def _community_of_district(self) -> dict[str, Community]:
        return {d.id: c for c in self.served for d in self.districts_of(c)}

    def community_by_id(self, community_id: str | None) -> Community | None:
        return self._communities.get(community_id or "")

    def community_of(self, building_id: str | None, district_id: str | None = None) -> Community:
        """The community a call at ``building_id`` belongs to: its building's (or district's);
        for a building the roster does not know, the county desk (one community: itself)."""
        district = self.district_of(building_id) or self.district(district_id)
        if district is not None:
            return self._community_of_district[district.id]
        return self.desk

    def call_community(
        self, community_id: str | None, building_id: str | None, district_id: str | None = None
    ) -> Community:
        """A call's community: the one it was raised in (``community_id``, kept on the call),
        else (a call stored before communities) its building's."""
        return self.community_by_id(community_id) or self.community_of(building_id, district_id)

    def known_community(
        self, community_id: str | None, building_id: str | None, district_id: str | None = None
    ) -> str | None:
        """A stored call's community id for reports: the one it was raised in when it names
        one; a call stored before communities (``community_id`` None), its building's (or
        district's) in this roster; None for a place this roster does not know."""
        if community_id is not None:
            return community_id
        district = self.district_of(building_id) or self.district(district_id)
        return self._community_of_district[district.id].id if district is not None else None

    @cached_property
    def supervisor_scopes(self) -> dict[str, frozenset[str] | None]:
        """Each supervisor's communities: None for a county supervisor (everywhere)."""
        scopes: dict[str, frozenset[str] | None] = {}
        for community in self.communities:
            for person in community.supervisors:
                known = scopes.get(person.id, frozenset())
                scopes[person.id] = None if known is None else known | {community.id}
        for person in self.supervisors:
            scopes[person.id] = None
        return scopes

    @cached_property
    def _homes(self) -> dict[str, str | None]:
        homes: dict[str, str | None] = {}
        for community in self.served:
            people = community.duty + community.supervisors
            for d in self.districts_of(community):
                people += d.leaders + d.team + tuple(p for b in d.buildings for p in b.members + b.backups)
            for person in people:
                homes.setdefault(person.id, community.id)
        if self.communities:
            for person in self.desk.duty:
                homes.setdefault(person.id, self.desk.id)
        return homes

    def home_of(self, person_id: str) -> str | None:
        """The community ``person_id`` serves in (the first, in roster order); None: someone
        the county shares (professionals, teams, county supervisors, caretakers)."""
        return self._homes.get(person_id)

    # ------------------------------------------------------------ look-ups

    @cached_property
    def version(self) -> str:
        """Content hash (tokens hashed): a sealed roster and its stored copy agree."""
        canonical = json.dumps(_hash_tokens(self._hashed_form()), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def _hashed_form(self) -> dict[str, Any]:
        """The dump hashed: a single-community roster hashes as it did before counties."""
        data = self.model_dump(mode="json")
        if not self.communities:
            del data["communities"]
            for key in ("districts", "supervisors"):
                del data["community"][key]
        return data

    @cached_property
    def people(self) -> dict[str, Person]:
        return {p.id: p for p, _ in self._people_with_place()}

    @cached_property
    def supervisor_ids(self) -> frozenset[str]:
        return frozenset(self.supervisor_scopes)

    @cached_property
    def _buildings(self) -> dict[str, tuple[District, Building]]:
        return {b.id: (d, b) for d in self.all_districts for b in d.buildings}

    @cached_property
    def _districts(self) -> dict[str, District]:
        return {d.id: d for d in self.all_districts}

    def building(self, building_id: str | None) -> Building | None:
        found = self._buildings.get(building_id or "")
        return found[1] if found else None

    def district_of(self, building_id: str | None) -> District | None:
        found = self._buildings.get(building_id or "")
        return found[0] if found else None

    def district(self, district_id: str | None) -> District | None:
        return self._districts.get(district_id or "")

    def device(self, device_id: str) -> Device | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def person_by_token_hmac(self, token_hmac: str) -> Person | None:
        """Who holds a token, in a sealed roster: ``keyed_hash(key, sha256_hex(token))``."""
        return self._by_token_hmac.get(token_hmac)

    @cached_property
    def _by_token_hmac(self) -> dict[str, Person]:
        return {p.token_hmac: p for p in self.people.values() if p.token_hmac}

    def candidates(
        self,
        level: Level,
        building_id: str | None,
        district_id: str | None,
        device_id: str | None = None,
        community_id: str | None = None,
    ) -> list[Person]:
        """Everyone who serves a call at ``level``, in paging order: its community's levels
        (``community_id``, else its building's community), then the county's professionals.

        A device's paired caretakers come first at building level, then the building's people.
        """
        district = self.district(district_id) or self.district_of(building_id)
        if level == "building":
            device = self.device(device_id) if device_id else None
            building = self.building(building_id)
            people = (device.caretakers if device else ()) + (
                building.members + building.backups if building else ()
            )
            return _unique(people)
        community = self.call_community(community_id, building_id, district_id)
        if level == "district":
            if district is None:
                return _unique(p for d in self.districts_of(community) for p in d.leaders)
            return list(district.leaders + district.team)
        if level == "community":
            return list(community.duty)
        return list(self.professional)

    def staffed_levels(
        self,
        building_id: str | None,
        district_id: str | None,
        device_id: str | None = None,
        community_id: str | None = None,
    ) -> tuple[Level, ...]:
        return tuple(
            level
            for level in LEVELS
            if self.candidates(level, building_id, district_id, device_id, community_id)
        )

    def level_of(self, person_id: str) -> tuple[Level, str | None, str | None] | None:
        """(level, district_id, building_id) where ``person_id`` serves first."""
        for d in self.all_districts:
            for b in d.buildings:
                if any(p.id == person_id for p in b.members + b.backups):
                    return "building", d.id, b.id
            if any(p.id == person_id for p in d.leaders + d.team):
                return "district", d.id, None
        if any(p.id == person_id for c in self.desks for p in c.duty):
            return "community", None, None
        if any(p.id == person_id for p in self.professional):
            return "professional", None, None
        return None

    # ------------------------------------------------------------ sealing

    def sealed(self, key: bytes) -> Roster:
        """The form shared with every service: tokens keyed with ``key`` (``token_hmac``),
        device secrets replaced by a keyed fingerprint (``secret_hmac``)."""
        data = _seal_tokens(self.model_dump(mode="json", exclude_defaults=True), key)
        for device in data.get("devices", []):
            secret = device.pop("secret", None)
            if secret:
                device["secret_hmac"] = keyed_hash(key, sha256_hex(secret))
        return Roster.model_validate(data)

    @property
    def is_sealed(self) -> bool:
        return not any(p.token or p.token_sha256 for p in self.people.values()) and not any(
            d.secret for d in self.devices
        )

    def device_secrets(self) -> dict[str, str]:
        return {d.id: d.secret for d in self.devices if d.secret}

    def to_json(self) -> bytes:
        """The stored form of a sealed roster: no token, token SHA-256 or device secret."""
        if not self.is_sealed:
            raise RosterError("a roster is sealed before it is stored")
        return json.dumps(self.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False).encode()


def _seal_tokens(value: Any, key: bytes) -> Any:
    """Every ``token`` or ``token_sha256`` keyed into ``token_hmac``, recursively."""
    if isinstance(value, list):
        return [_seal_tokens(item, key) for item in value]
    if not isinstance(value, dict):
        return value
    out = {k: _seal_tokens(v, key) for k, v in value.items() if k not in ("token", "token_sha256")}
    digest = value.get("token_sha256") or (sha256_hex(value["token"]) if value.get("token") else None)
    if digest:
        out["token_hmac"] = keyed_hash(key, digest)
    return out


def _hash_tokens(value: Any) -> Any:
    """Every ``token`` replaced by its ``token_sha256``, recursively."""
    if isinstance(value, list):
        return [_hash_tokens(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _hash_tokens(item) for key, item in value.items() if key != "token"}
    token = value.get("token")
    if token:
        out["token_sha256"] = value.get("token_sha256") or hashlib.sha256(token.encode()).hexdigest()
    return out


def _unique(people: Any) -> list[Person]:
    seen: dict[str, Person] = {}
    for person in people:
        seen.setdefault(person.id, person)
    return list(seen.values())


def _load(data: bytes | str) -> Any:
    """JSON (the stored form, a generated county) at JSON's speed; YAML with libyaml when the
    machine has it (a county of 10,000 people takes 30 s in pure-Python YAML, 1 s in libyaml)."""
    text = data.decode() if isinstance(data, bytes) else data
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML's flow style, or broken: YAML says what is wrong
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def parse_roster(data: bytes | str, source: str = "roster") -> Roster:
    """JSON or YAML text -> a validated Roster, or RosterError naming every problem."""
    try:
        raw = _load(data)
    except yaml.YAMLError as exc:
        raise RosterError(f"{source}: not valid JSON or YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RosterError(f"{source}: a roster is an object with 'community' and 'districts'")
    try:
        return Roster.model_validate(raw)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "roster"
            messages.append(f"{where}: {error['msg']}")
        raise RosterError(f"{source}: " + "; ".join(messages)) from None


def load_roster_file(path: Path | None) -> Roster:
    path = path or DEMO_ROSTER
    try:
        return parse_roster(path.read_bytes(), str(path))
    except OSError as exc:
        raise RosterError(f"cannot read roster {path}: {exc.strerror}") from None
