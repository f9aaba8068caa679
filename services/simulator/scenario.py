"""Scenario files (YAML): who calls when, how responders behave."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.models import Kind

SHIPPED = Path(__file__).with_name("scenarios")


class ScenarioError(ValueError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _flood_only() -> dict[Kind, float]:
    return {"flood": 1.0}


class CallWave(_Model):
    """``count`` calls spread evenly over ``over_s`` seconds, starting at ``start_s``."""

    count: int = Field(ge=0)
    over_s: float = Field(gt=0)
    start_s: float = Field(default=0, ge=0)
    district: str | None = None
    community: str | None = None  # a county's community: calls at its buildings only
    buildings: tuple[str, ...] = ()
    kinds: dict[Kind, float] = Field(default_factory=_flood_only)
    drill: Literal[True] = Field(
        default=True, description="always true: a simulation raises only drills, never real emergencies"
    )
    unknown_building_rate: float = Field(default=0, ge=0, le=1)


class Behaviour(_Model):
    accept_after_s: tuple[float, float] = (5, 30)
    arrive_after_s: tuple[float, float] = (60, 400)
    resolve_after_s: tuple[float, float] = (30, 120)
    decline_rate: float = Field(default=0.1, ge=0, le=1)
    no_answer_rate: float = Field(default=0.1, ge=0, le=1)


class Scenario(_Model):
    name: str
    description: str = ""
    waves: tuple[CallWave, ...]
    responders: Behaviour = Behaviour()
    people: dict[str, Behaviour] = Field(default_factory=dict)
    away: tuple[str, ...] = ()
    settle_s: float = Field(default=30, ge=0, description="keep responding this long after the last call")

    @property
    def total_calls(self) -> int:
        return sum(w.count for w in self.waves)

    def behaviour(self, person_id: str) -> Behaviour:
        return self.people.get(person_id, self.responders)

    def scaled(self, speed: float, calls: float = 1.0) -> Scenario:
        """Time divided by ``speed`` and call counts multiplied by ``calls`` (tests, quick runs)."""

        def fast(b: Behaviour) -> Behaviour:
            return b.model_copy(
                update={
                    "accept_after_s": tuple(v / speed for v in b.accept_after_s),
                    "arrive_after_s": tuple(v / speed for v in b.arrive_after_s),
                    "resolve_after_s": tuple(v / speed for v in b.resolve_after_s),
                }
            )

        waves = tuple(
            w.model_copy(
                update={
                    "count": max(1, round(w.count * calls)),
                    "over_s": w.over_s / speed,
                    "start_s": w.start_s / speed,
                }
            )
            for w in self.waves
        )
        return self.model_copy(
            update={
                "waves": waves,
                "responders": fast(self.responders),
                "people": {k: fast(v) for k, v in self.people.items()},
                "settle_s": self.settle_s / speed,
            }
        )


def load_scenario(name_or_path: str) -> Scenario:
    path = Path(name_or_path)
    if not path.exists():
        path = SHIPPED / f"{name_or_path}.yaml"
    if not path.exists():
        shipped = ", ".join(sorted(p.stem for p in SHIPPED.glob("*.yaml")))
        raise ScenarioError(f"no scenario {name_or_path!r}: give a YAML file or one of {shipped}")
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
