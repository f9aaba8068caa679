"""The README's roster example for reaching people loads as it is documented."""

from __future__ import annotations

import re
from pathlib import Path

from services.domain.roster import parse_roster

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_reaching_people_example_is_a_valid_roster() -> None:
    section = README.read_text().split("### Reaching people", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    roster = parse_roster(example.group(1), "README example")
    g1 = roster.people["g1"]
    assert [step.method for step in g1.rules()] == ["push", "sms", "voice"]
    assert g1.address_of("voice") == "+8613600000001" and g1.address_of("sms") == "13600000001"
    assert [robot.type for robot in roster.districts[0].robots] == ["wecom", "dingtalk"]
    assert roster.people["r1"].rules()[0].method == "webhook"


def test_the_county_example_is_a_valid_county_roster() -> None:
    section = README.read_text().split("### A county of communities", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    roster = parse_roster(example.group(1), "README county example")
    assert [c.id for c in roster.served] == ["xf", "gy"] and roster.desk.id == "laifeng"
    assert roster.community_of("gy-b1").id == "gy"
    assert roster.supervisor_scopes == {"sx": frozenset({"xf"}), "s0": None}
