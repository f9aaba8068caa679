"""The CLI on top of the HTTP API: raise, timeline, roster load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.cli.main import main
from tests.service.conftest import System


@pytest.fixture
def cli_env(system: System, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setenv("DISPATCH1310_HTTP", f"{system.settings.http_host}:{system.settings.http_port}")
    monkeypatch.setenv("DISPATCH1310_TOKEN", "demo-supervisor")
    return system


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_raise_then_timeline(cli_env: System, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        await cli(
            "raise", "--name", "王阿姨", "--phone", "13800000000", "--building", "b12", "--kind", "flood"
        )
        == 0
    )
    out = capsys.readouterr().out
    call_id = out.split()[1]
    await cli_env.log.wait_type(call_id, "ContactShared")
    # The desk records g1's accept for them (supervisor token): the timeline says so.
    accept = await cli_env.http.post(
        f"/api/calls/{call_id}/accept",
        json={"responder_id": "g1"},
        headers={"Authorization": "Bearer demo-supervisor"},
    )
    assert accept.status_code == 200, accept.text
    assert await cli("timeline", call_id) == 0
    lines = capsys.readouterr().out
    assert "CallRaised" in lines and "ContactShared" in lines and "name=网格员 杨帆" in lines
    accepted = next(line for line in lines.splitlines() if "DispatchAccepted" in line)
    assert "g1 by s1 (desk)" in accepted
    assert "(desk)" not in next(line for line in lines.splitlines() if "ContactShared" in line)


async def test_timeline_of_unknown_call_fails_clearly(
    cli_env: System, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("timeline", "doesnotexist") == 1
    assert "404" in capsys.readouterr().err


async def test_roster_load_validates_then_reloads(
    cli_env: System, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("community: {id: c}\n")
    assert await cli("roster", "load", str(bad)) == 1
    assert "community.name" in capsys.readouterr().out
    good = tmp_path / "good.json"
    good.write_text(
        '{"community": {"id": "c", "name": "C"}, "supervisors": [{"id": "s1", "name": "S", "token": "demo-supervisor"}],'
        ' "districts": [{"id": "d9", "name": "D9", "buildings": [{"id": "b99", "name": "B99",'
        ' "members": [{"id": "n1", "name": "新网格员", "phone": "1"}]}]}]}'
    )
    assert await cli("roster", "load", str(good)) == 0
    response = await cli_env.http.get("/api/roster", headers={"Authorization": "Bearer demo-supervisor"})
    assert [d["id"] for d in response.json()["roster"]["districts"]] == ["d9"]
    call = await cli_env.raise_call("b99")
    assigned = await cli_env.log.wait_type(call["call_id"], "ResponderAssigned")
    assert assigned[0].responder_id == "n1"


async def test_away_available_and_duty(cli_env: System, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("away", "g1", "--until", "2099-01-01T00:00:00Z") == 0
    assert "away until 2099-01-01" in capsys.readouterr().out
    assert await cli("available", "g1") == 0
    assert "available" in capsys.readouterr().out
    assert await cli("duty") == 0
    assert "on duty: 社区值班员" in capsys.readouterr().out
