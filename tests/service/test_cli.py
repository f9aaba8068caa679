"""The CLI on top of the HTTP API: raise, timeline, report, roster load, the duty desk; what it
prints a person reads at 3 a.m. (names, local time) and its errors are one line each."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from services.adapters.embedded_nats import free_port
from services.audit.app import build as build_audit
from services.cli.main import main
from tests.service.conftest import System
from tests.support import bearer, running, wait_for


@pytest.fixture
def cli_env(system: System, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setenv("DISPATCH1310_HTTP", f"{system.settings.http_host}:{system.settings.http_port}")
    monkeypatch.setenv("DISPATCH1310_TOKEN", "demo-supervisor")
    monkeypatch.delenv("DISPATCH1310_TZ", raising=False)  # the community's default: Asia/Shanghai
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
    assert "CallRaised" in lines and "ContactShared" in lines
    assert "网格员 杨帆" in next(line for line in lines.splitlines() if "ContactShared" in line)
    accepted = next(line for line in lines.splitlines() if "DispatchAccepted" in line)
    assert "网格员 杨帆 by 社区主任 周主任 (desk)" in accepted  # names, not g1 / s1
    assert "(desk)" not in next(line for line in lines.splitlines() if "ContactShared" in line)


async def test_timeline_of_unknown_call_fails_clearly(
    cli_env: System, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("timeline", "doesnotexist") == 1
    err = capsys.readouterr().err
    assert "404" in err and len(err.strip().splitlines()) == 1


async def test_roster_load_validates_then_reloads(
    cli_env: System, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("community: {id: c}\n")
    assert await cli("roster", "load", str(bad)) == 1
    assert "community.name" in capsys.readouterr().err
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


# The services run in this process here: their log records share stderr with the CLI.
SERVICE_LOG = re.compile(r"^(\x1b\[\d+m)?\d{4}-\d\d-\d\dT?[\d:. ]+Z?(\x1b\[0m)? \[")


def one_line_error(err: str) -> str:
    """What the CLI wrote on stderr: one line, no traceback, no pydantic error list."""
    lines = [line for line in err.strip().splitlines() if not SERVICE_LOG.match(line)]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "{'type'" not in err, err
    return lines[0]


async def test_timeline_prints_each_events_essentials_in_local_time(
    cli_env: System, capsys: pytest.CaptureFixture[str]
) -> None:
    call = await cli_env.raise_call(
        "b12", caller={"name": "王阿姨", "phone": "13800000000"}, note="水漫到一楼", kind="flood"
    )
    call_id = call["call_id"]
    await cli_env.log.wait_type(call_id, "ContactShared")
    desk = {"Authorization": "Bearer demo-supervisor"}
    note = await cli_env.http.post(f"/api/calls/{call_id}/notes", json={"text": "已联系物业"}, headers=desk)
    assert note.status_code == 200, note.text
    assert await cli("timeline", call_id) == 0
    out = capsys.readouterr().out
    rows = out.splitlines()
    raised = next(line for line in rows if "CallRaised" in line)
    # Caller, building by name, kind and note: the line that was empty.
    for fact in ("王阿姨", "+8613800000000", "胜利街12号", "flood", '"水漫到一楼"'):
        assert fact in raised, (fact, raised)
    assert "b12" not in raised
    assert "+08:00" in rows[0] and "Asia/Shanghai" in rows[0]  # the community's time, said once
    assigned = next(line for line in rows if "ResponderAssigned" in line)
    assert "网格员 杨帆" in assigned and "building" in assigned
    assert '"已联系物业"' in next(line for line in rows if "NoteAdded" in line)
    assert "caller_secret" not in out and "policy_version" not in out
    # Steps count from 1 for this call (not the stream's sequence).
    assert rows[3].split()[0] == "1" and "CallRaised" in rows[3]


async def test_raising_for_an_unknown_building_warns_where_it_goes(
    cli_env: System, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("raise", "--name", "李", "--phone", "13800000001", "--building", "b404") == 0
    captured = capsys.readouterr()
    call_id = captured.out.split()[1]
    warning = one_line_error(captured.err)
    assert warning.startswith("warning: building 'b404' is not in the roster")
    view = (await cli_env.http.get(f"/api/calls/{call_id}")).json()
    assert view["level"] != "building" and view["level"] in warning  # where it really went
    await cli_env.log.wait_type(call_id, "ResponderAssigned")  # still dispatched
    # A building in the roster: no warning, its name printed.
    assert await cli("raise", "--name", "李", "--phone", "13800000002", "--building", "b12") == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err and "胜利街12号" in captured.out


async def test_away_until_keeps_the_communitys_offset_and_refuses_words(
    cli_env: System, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("away", "g1", "--until", "2099-06-27T18:00:00+08:00") == 0
    assert "away until 2099-06-27T18:00:00+08:00" in capsys.readouterr().out
    assert await cli("available", "g1") == 0
    capsys.readouterr()
    assert await cli("away", "g1", "--until", "tomorrow") == 2
    error = one_line_error(capsys.readouterr().err)
    assert "--until" in error and "'tomorrow'" in error and "18:00" in error
    desk = {"Authorization": "Bearer demo-supervisor"}
    people = (await cli_env.http.get("/api/responders", headers=desk)).json()
    assert next(p for p in people if p["id"] == "g1")["status"] == "available"  # nothing changed
    assert await cli("away", "g1", "--until", "8h") == 0
    assert "+08:00" in capsys.readouterr().out


async def test_errors_are_one_line(
    cli_env: System, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refusal with a field list (422): the field named, on one line.
    assert await cli("raise", "--name", "李", "--phone", "12", "--building", "b12") == 1
    error = one_line_error(capsys.readouterr().err)
    assert "422" in error and "phone" in error
    # The intake not running: where it looked and which setting says so.
    port = free_port()
    monkeypatch.setenv("DISPATCH1310_HTTP", f"127.0.0.1:{port}")
    assert await cli("duty") == 1
    error = one_line_error(capsys.readouterr().err)
    assert f"cannot reach the system at http://127.0.0.1:{port} (connection refused)" in error
    assert "DISPATCH1310_HTTP" in error
    # Written as a URL, the address works as it is.
    monkeypatch.setenv("DISPATCH1310_HTTP", f"http://127.0.0.1:{cli_env.settings.http_port}/")
    assert await cli("duty") == 0
    assert "on duty:" in capsys.readouterr().out
    monkeypatch.setenv("DISPATCH1310_HTTP", "127.0.0.1")  # a setting that cannot work
    assert await cli("duty") == 2
    assert "DISPATCH1310_HTTP must be host:port" in one_line_error(capsys.readouterr().err)


async def test_report_table_json_and_csv(cli_env: System, capsys: pytest.CaptureFixture[str]) -> None:
    audit = await build_audit(cli_env.settings)
    async with running(audit):
        call_id = (await cli_env.raise_call("b12"))["call_id"]
        await cli_env.log.wait_type(call_id, "ResponderAssigned")
        g1 = bearer("demo-g1")
        for action in ("accept", "arrive", "resolve"):
            response = await cli_env.http.post(f"/api/calls/{call_id}/{action}", json={}, headers=g1)
            assert response.status_code == 200, response.text

        async def counted() -> bool:
            body = (
                await cli_env.http.get("/api/reports/compliance", headers=bearer("demo-supervisor"))
            ).json()
            return body["stages"]["onsite"]["met"] == 1

        await wait_for(counted, what="the audit to count the call")
        assert await cli("report", "--group-by", "district") == 0
        table = capsys.readouterr().out
        assert "精神堡社区" in table and "1 calls judged" in table
        contact = next(line for line in table.splitlines() if line.startswith("contact"))
        assert contact.split()[:5] == ["contact", "1", "1", "0", "0"] and "100.0%" in contact
        assert "胜利街片区" in table and "d1" not in table  # names, not ids
        assert "{" not in table
        assert await cli("report", "--group-by", "building") == 0
        assert "胜利街12号" in capsys.readouterr().out
        assert await cli("report", "--json", "--group-by", "district") == 0
        body = json.loads(capsys.readouterr().out)
        assert body["groups"]["d1"]["calls"] == 1  # scripts keep the API's ids
        assert await cli("report", "--csv") == 0
        rows = capsys.readouterr().out.splitlines()
        assert rows[0].startswith("group,stage,calls") and any(
            r.startswith("all,contact,1,1,0") for r in rows
        )
        assert await cli("report", "--from", "yesterday") == 2
        assert "--from" in one_line_error(capsys.readouterr().err)
        assert await cli("report", "--community", "jsb") == 0
        assert "1 calls judged" in capsys.readouterr().out
        assert await cli("report", "--community", "nowhere") != 0
        assert "no community 'nowhere'" in one_line_error(capsys.readouterr().err)
