"""A county of two communities on one deployment: routing and roles across them (issue 21)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.verify import verify_stream
from services.audit.app import build as build_audit
from services.domain.ids import new_call_id
from services.domain.invariants import Limits
from services.domain.roster import DEMO_ROSTER, load_roster_file
from services.runtime.settings import Settings
from services.simulator.runner import Simulation
from services.simulator.scenario import load_scenario
from tests.factories import raised
from tests.service.conftest import System
from tests.support import bearer, make_settings, running, wait_for

COUNTY = DEMO_ROSTER.with_name("demo_county.yaml")
COUNTY_SUPERVISOR = bearer("demo-s0")
XF_SUPERVISOR = bearer("demo-sx")  # 翔凤 community (xf) only
GY_SUPERVISOR = bearer("demo-sy")  # 绿水 community (gy) only
GY_OFFICER = bearer("demo-cy1")  # the only one on gy's duty list: always on duty there


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    return make_settings(nats_server.url, tmp_path, roster_path=COUNTY)


async def first_paged(system: System, call_id: str) -> str:
    (page,) = (await system.log.wait_type(call_id, "ResponderAssigned"))[:1]
    return str(page.responder_id)


async def test_a_call_is_paged_within_its_buildings_community_then_the_county(system: System) -> None:
    gy = await system.raise_call("gy-b1")
    xf = await system.raise_call("xf-b1")
    assert gy["community_id"] == "gy" and xf["community_id"] == "xf"
    assert await first_paged(system, gy["call_id"]) == "gy1"
    assert await first_paged(system, xf["call_id"]) == "gx1"

    # Escalated by hand, the gy call goes up gy's own levels, never xf's.
    for expected in ("py1", "cy1", "r1"):
        escalated = await system.http.post(
            f"/api/calls/{gy['call_id']}/escalate", json={"reason": "up"}, headers=COUNTY_SUPERVISOR
        )
        assert escalated.status_code == 200, escalated.text
        pages = await system.log.wait_type(
            gy["call_id"], "ResponderAssigned", count=2 + ("py1", "cy1", "r1").index(expected)
        )
        assert pages[-1].responder_id == expected
    view = (await system.http.get(f"/api/calls/{gy['call_id']}")).json()
    assert view["community_id"] == "gy"
    assert {a["id"] for a in view["assignees"]} == {"gy1", "py1", "cy1", "r1"}


async def test_a_call_for_an_unknown_building_goes_to_the_county_desk(system: System) -> None:
    call = await system.raise_call("nowhere-7")
    assert call["community_id"] == "laifeng" and call["level"] == "community"
    assert await first_paged(system, call["call_id"]) == "k1"
    board = (await system.http.get("/api/board", headers=COUNTY_SUPERVISOR)).json()
    assert [row["call_id"] for row in board["calls"]] == [call["call_id"]]
    # Not a community's call: neither community's supervisor sees it.
    assert (await system.http.get("/api/board", headers=XF_SUPERVISOR)).json()["calls"] == []


async def test_community_supervisors_see_and_act_on_their_community_only(system: System) -> None:
    gy = (await system.raise_call("gy-b1"))["call_id"]
    xf = (await system.raise_call("xf-b1"))["call_id"]
    await first_paged(system, gy)
    await first_paged(system, xf)

    async def board(headers: dict[str, str]) -> set[str]:
        rows = (await system.http.get("/api/board", headers=headers)).json()["calls"]
        return {row["call_id"] for row in rows}

    await wait_for(lambda: board(COUNTY_SUPERVISOR), what="the board to show the calls")
    assert await board(COUNTY_SUPERVISOR) == {gy, xf}
    assert await board(XF_SUPERVISOR) == {xf}
    assert await board(GY_SUPERVISOR) == {gy}

    for method, path, body in [
        ("POST", "/api/calls/{call}/escalate", {"reason": "x"}),
        ("POST", "/api/calls/{call}/notes", {"text": "x"}),
        ("POST", "/api/calls/{call}/assign", {"responder_id": "r1"}),
        ("POST", "/api/calls/{call}/resolve", {"outcome": "false_alarm"}),
        ("POST", "/api/calls/{call}/accept", {"responder_id": "gy1"}),
        ("GET", "/api/calls/{call}/timeline", None),
    ]:
        refused = await system.http.request(method, path.format(call=gy), json=body, headers=XF_SUPERVISOR)
        assert refused.status_code == 403, (path, refused.text)
    note = await system.http.post(f"/api/calls/{xf}/notes", json={"text": "x"}, headers=XF_SUPERVISOR)
    assert note.status_code == 200, note.text
    assert "NoteAdded" not in await system.log.types(gy)

    # A community's officer on duty holds the desk's powers there only; the county's everywhere.
    assert (
        await system.http.post(f"/api/calls/{xf}/escalate", json={"reason": "x"}, headers=GY_OFFICER)
    ).status_code == 403
    ok = await system.http.post(f"/api/calls/{gy}/notes", json={"text": "on my way"}, headers=GY_OFFICER)
    assert ok.status_code == 200, ok.text
    closed = await system.http.post(
        f"/api/calls/{xf}/resolve", json={"outcome": "false_alarm"}, headers=COUNTY_SUPERVISOR
    )
    assert closed.status_code == 200, closed.text

    async def history(headers: dict[str, str]) -> set[str]:
        rows = (await system.http.get("/api/calls?status=closed", headers=headers)).json()["calls"]
        return {row["call_id"] for row in rows}

    await wait_for(lambda: history(COUNTY_SUPERVISOR), what="the closed call in the history")
    assert await history(XF_SUPERVISOR) == {xf}
    assert await history(GY_SUPERVISOR) == set()


async def test_phoned_in_calls_are_raised_within_ones_community(system: System) -> None:
    body = {"caller": {"name": "王阿姨", "phone": "13800000000"}, "kind": "flood", "source": "phone"}
    refused = await system.http.post(
        "/api/calls", json={**body, "building_id": "gy-b1"}, headers=XF_SUPERVISOR
    )
    assert refused.status_code == 403, refused.text
    raised = await system.http.post(
        "/api/calls", json={**body, "building_id": "xf-b1"}, headers=XF_SUPERVISOR
    )
    assert raised.status_code == 201, raised.text


async def test_the_board_stream_carries_ones_community_only(system: System) -> None:
    seen = ""

    async def watch(xf_ref: list[str]) -> None:
        nonlocal seen
        async with system.http.stream("GET", "/api/board/stream", headers=XF_SUPERVISOR) as stream:
            assert stream.status_code == 200
            async for chunk in stream.aiter_text():
                seen += chunk
                if xf_ref and '"event":"ResponderAssigned"' in seen and xf_ref[0] in seen:
                    return

    xf_ref: list[str] = []
    watcher = asyncio.create_task(watch(xf_ref))
    await wait_for(lambda: "event: snapshot" in seen, what="the board stream to open")
    gy = (await system.raise_call("gy-b1"))["call_id"]
    await first_paged(system, gy)
    xf = (await system.raise_call("xf-b1"))["call_id"]
    xf_ref.append(xf)
    await asyncio.wait_for(watcher, timeout=5)
    assert gy not in seen
    assert '"community_id":"xf"' in seen


async def test_a_community_supervisor_looks_after_their_communitys_people_only(system: System) -> None:
    listed = (await system.http.get("/api/responders", headers=XF_SUPERVISOR)).json()
    ids = {row["id"] for row in listed}
    assert {"gx1", "px1", "cx1", "r1"} <= ids and not ids & {"gy1", "py1", "cy1"}
    everyone = {
        row["id"] for row in (await system.http.get("/api/responders", headers=COUNTY_SUPERVISOR)).json()
    }
    assert {"gy1", "gx1", "k1"} <= everyone

    away = {"status": "away"}
    refused = await system.http.post("/api/responders/gy1/availability", json=away, headers=XF_SUPERVISOR)
    assert refused.status_code == 403, refused.text
    allowed = await system.http.post("/api/responders/gx1/availability", json=away, headers=XF_SUPERVISOR)
    assert allowed.status_code == 200, allowed.text
    override = {"person_id": "cy1", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    assert (
        await system.http.post("/api/duty/overrides", json=override, headers=XF_SUPERVISOR)
    ).status_code == 403
    duty = (await system.http.get("/api/duty?community=gy")).json()
    assert duty["community_id"] == "gy" and duty["on_duty"]["id"] == "cy1"
    stream = await system.http.get("/api/responders/gy1/stream", headers=XF_SUPERVISOR)
    assert stream.status_code == 403


async def test_the_county_storm_scenario_keeps_each_call_within_its_community(system: System) -> None:
    scenario = load_scenario("county-storm").scaled(speed=100, calls=0.04)
    simulation = Simulation(
        scenario, system.settings.http_url, load_roster_file(COUNTY), "demo-s0", progress=False
    )
    result = await simulation.run()
    summary = result.summary()
    assert summary["calls_refused"] == {} and summary["calls_raised"] == scenario.total_calls
    assert {"xf", "gy"} <= set(summary["communities"])
    roster = load_roster_file(COUNTY)
    for call_id, view in result.final.items():
        pages = [i.event for i in await system.log.of(call_id) if i.event.type == "ResponderAssigned"]
        for page in pages:  # a merged call has none of its own
            home = roster.home_of(page.responder_id)
            assert home in (None, view["community_id"]), (call_id, view["community_id"], page.responder_id)
    checked, _ = await verify_stream(system.nc, datetime.now(UTC), Limits(notifications=False))
    assert checked.ok, checked.violations


async def test_reports_group_by_community_and_a_community_supervisor_gets_their_own(system: System) -> None:
    gy = (await system.raise_call("gy-b1"))["call_id"]
    xf = (await system.raise_call("xf-b1"))["call_id"]
    await first_paged(system, gy)
    await first_paged(system, xf)
    url = "/api/reports/compliance?group_by=community"
    async with running(await build_audit(system.settings)):

        async def counted(headers: dict[str, str]) -> dict[str, int] | None:
            response = await system.http.get(url, headers=headers)
            if response.status_code != 200:
                return None
            groups = {key: group["calls"] for key, group in response.json()["groups"].items()}
            return groups if sum(groups.values()) else None

        assert await wait_for(lambda: counted(COUNTY_SUPERVISOR), what="the report") == {"gy": 1, "xf": 1}
        assert await counted(XF_SUPERVISOR) == {"xf": 1}
        assert await counted(GY_SUPERVISOR) == {"gy": 1}


async def handle(system: System, building_id: str, token: str) -> str:
    """A call at ``building_id`` handled by the person it pages first (accept, arrive, resolve)."""
    call_id = (await system.raise_call(building_id))["call_id"]
    await first_paged(system, call_id)
    for action in ("accept", "arrive", "resolve"):
        done = await system.http.post(f"/api/calls/{call_id}/{action}", json={}, headers=bearer(token))
        assert done.status_code == 200, done.text
    await system.log.wait_type(call_id, "CallResolved")
    return call_id


async def test_points_and_responder_figures_per_community(system: System) -> None:
    await handle(system, "xf-b1", "demo-gx1")
    await handle(system, "gy-b1", "demo-gy1")
    async with running(await build_audit(system.settings)):

        async def totals(headers: dict[str, str], query: str = "") -> set[tuple[str, str, int]] | None:
            response = await system.http.get(f"/api/points{query}", headers=headers)
            assert response.status_code == 200, response.text
            rows = response.json()["quarterly"]
            return {(r["person_id"], r["community_id"], r["points"]) for r in rows} or None

        everyone = await wait_for(lambda: totals(COUNTY_SUPERVISOR), what="the points")
        assert everyone == {("gx1", "xf", 5), ("gy1", "gy", 5)}
        assert await totals(XF_SUPERVISOR) == {("gx1", "xf", 5)}
        assert await totals(GY_SUPERVISOR) == {("gy1", "gy", 5)}
        assert await totals(GY_OFFICER) == {("gy1", "gy", 5)}  # the officer on duty: their desk's
        assert await totals(COUNTY_SUPERVISOR, "?community=gy") == {("gy1", "gy", 5)}
        ledger = (await system.http.get("/api/points", headers=XF_SUPERVISOR)).json()["ledger"]
        assert {row["community_id"] for row in ledger} == {"xf"} and len(ledger) == 3
        csv_text = (await system.http.get("/api/points?format=csv", headers=XF_SUPERVISOR)).text
        assert csv_text.splitlines()[1:] == [f"gx1,xf,{ledger[0]['at'][:4]}-Q{quarter_of(ledger[0]['at'])},5"]

        unknown = await system.http.get("/api/points?community=nowhere", headers=COUNTY_SUPERVISOR)
        assert unknown.status_code == 404 and "nowhere" in unknown.text
        elsewhere = await system.http.get("/api/points?community=gy", headers=XF_SUPERVISOR)
        assert elsewhere.status_code == 403
        assert (await system.http.get("/api/points", headers=bearer("demo-gx1"))).status_code == 403

        figures = (await system.http.get("/api/reports/responders", headers=XF_SUPERVISOR)).json()
        assert [(r["id"], r["community_id"], r["accepted"]) for r in figures] == [("gx1", "xf", 1)]
        figures = (await system.http.get("/api/reports/responders", headers=COUNTY_SUPERVISOR)).json()
        assert {(r["id"], r["community_id"]) for r in figures} == {("gx1", "xf"), ("gy1", "gy")}
        narrowed = await system.http.get("/api/reports/responders?community=xf", headers=COUNTY_SUPERVISOR)
        assert [r["id"] for r in narrowed.json()] == ["gx1"]
        refused = await system.http.get("/api/reports/responders?community=xf", headers=GY_SUPERVISOR)
        assert refused.status_code == 403
        report = await system.http.get("/api/reports/compliance?community=gy", headers=COUNTY_SUPERVISOR)
        assert report.json()["calls"] == 1
        assert (
            await system.http.get("/api/reports/compliance?community=nowhere", headers=COUNTY_SUPERVISOR)
        ).status_code == 404


def quarter_of(at: str) -> int:
    return (int(at[5:7]) - 1) // 3 + 1


async def test_a_call_stored_before_the_county_belongs_to_its_buildings_community(system: System) -> None:
    """A call raised before the county roster (no ``community_id``) at a gy building: gy's
    board, gy's desk acts on it and xf's may not, and the report counts it under gy."""
    old = new_call_id()
    await JetStreamEventStore(system.nc).append(
        old, [raised(old, at=datetime.now(UTC), building_id="gy-b1", district_id="gy-d1")], 0
    )
    assert await first_paged(system, old) == "gy1"  # routed within gy, as before

    async def on_board(headers: dict[str, str], query: str = "") -> set[str]:
        rows = (await system.http.get(f"/api/board{query}", headers=headers)).json()["calls"]
        return {row["call_id"] for row in rows if row["community_id"] == "gy"}

    assert await wait_for(lambda: on_board(GY_SUPERVISOR), what="the old call on gy's board") == {old}
    assert await on_board(COUNTY_SUPERVISOR, "?community=gy") == {old}
    assert await on_board(XF_SUPERVISOR) == set()
    refused = await system.http.post(f"/api/calls/{old}/notes", json={"text": "x"}, headers=XF_SUPERVISOR)
    assert refused.status_code == 403, refused.text
    allowed = await system.http.post(f"/api/calls/{old}/notes", json={"text": "x"}, headers=GY_SUPERVISOR)
    assert allowed.status_code == 200, allowed.text
    by_officer = await system.http.post(f"/api/calls/{old}/notes", json={"text": "y"}, headers=GY_OFFICER)
    assert by_officer.status_code == 200, by_officer.text

    async with running(await build_audit(system.settings)):

        async def groups(headers: dict[str, str]) -> dict[str, int] | None:
            response = await system.http.get("/api/reports/compliance?group_by=community", headers=headers)
            found = {key: g["calls"] for key, g in response.json().get("groups", {}).items()}
            return found or None

        assert await wait_for(lambda: groups(COUNTY_SUPERVISOR), what="the report") == {"gy": 1}
        assert await groups(GY_SUPERVISOR) == {"gy": 1}
        assert await groups(XF_SUPERVISOR) is None


async def test_a_community_supervisor_reads_their_part_of_the_roster_and_loads_none(system: System) -> None:
    async def communities(headers: dict[str, str]) -> list[str]:
        body = (await system.http.get("/api/roster", headers=headers)).json()
        return [c["id"] for c in body["roster"]["communities"]]

    assert await communities(COUNTY_SUPERVISOR) == ["xf", "gy"]
    assert await communities(XF_SUPERVISOR) == ["xf"]  # no names or phones of gy's people
    before = (await system.http.get("/healthz")).json()["roster_version"]
    refused = await system.http.post("/api/roster", content=COUNTY.read_bytes(), headers=XF_SUPERVISOR)
    assert refused.status_code == 403, refused.text
    assert (await system.http.get("/healthz")).json()["roster_version"] == before

    unknown = await system.http.get("/api/board?community=nowhere", headers=COUNTY_SUPERVISOR)
    assert unknown.status_code == 404 and "nowhere" in unknown.text
    assert (await system.http.get("/api/board?community=gy", headers=XF_SUPERVISOR)).status_code == 403
    assert (await system.http.get("/api/board/stream?community=gy", headers=XF_SUPERVISOR)).status_code == 403
    people = {
        row["id"]: row["community_id"]
        for row in (await system.http.get("/api/responders", headers=COUNTY_SUPERVISOR)).json()
    }
    assert (people["gx1"], people["gy1"], people["r1"]) == ("xf", "gy", None)
