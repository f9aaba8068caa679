"""What the responder page is told (issue 18): where a call is (building name and address from
the roster), who called and what they said, on the dispatch, on a re-sync and on every update;
who closed a call; and the person's status as the desk's board has it (``/api/me``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.adapters.embedded_nats import EmbeddedNats
from services.domain.roster import DEMO_ROSTER
from services.runtime.settings import Settings
from tests.service.conftest import System
from tests.support import bearer, make_settings

G1 = bearer("demo-g1")
SUPERVISOR = bearer("demo-supervisor")
ADDRESS = "来凤县胜利街12号"


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    roster = yaml.safe_load(DEMO_ROSTER.read_text(encoding="utf-8"))
    b12 = next(b for d in roster["districts"] for b in d["buildings"] if b["id"] == "b12")
    b12["address"] = ADDRESS
    path = tmp_path / "roster.yaml"
    path.write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")
    return make_settings(nats_server.url, tmp_path, roster_path=path)


async def events_until(
    system: System, done: Any, then: Any = None, timeout: float = 5.0
) -> list[tuple[str, dict]]:
    """The stream's events (name, data) up to the first one ``done`` accepts; ``then`` is
    awaited once the stream has re-synced (what happens while the page is connected)."""
    seen: list[tuple[str, dict]] = []

    async def read() -> list[tuple[str, dict]]:
        async with system.http.stream("GET", "/api/responders/g1/stream", headers=G1) as stream:
            buffer = ""
            async for chunk in stream.aiter_text():
                buffer += chunk
                while "\n\n" in buffer:
                    frame, buffer = buffer.split("\n\n", 1)
                    lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
                    if "event" in lines:
                        seen.append((lines["event"], json.loads(lines["data"])))
                        if seen[-1][0] == "synced" and then is not None:
                            await then()
                        if done(seen[-1]):
                            return seen
        raise AssertionError(f"stream ended: {seen}")

    return await asyncio.wait_for(read(), timeout)


def where_and_who(call: dict) -> None:
    assert call["building_name"] == "胜利街12号"
    assert call["building_address"] == ADDRESS
    assert call["caller"] == {"name": "王阿姨", "phone": "+8613800000000"}
    assert call["note"] == "水漫到膝盖"


async def test_the_responder_is_told_where_who_and_who_closed_it(system: System) -> None:
    me = (await system.http.get("/api/me", headers=G1)).json()
    assert me["status"] == "available" and me["until"] is None

    call_id = (await system.raise_call("b12", note="水漫到膝盖"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    events = await events_until(system, lambda e: e[0] == "synced")
    [snapshot] = [data for name, data in events if name == "snapshot"]
    where_and_who(snapshot["calls"][0])
    [dispatch] = [data for name, data in events if name == "dispatch"]
    where_and_who(dispatch["call"])

    accepted = await system.http.post(f"/api/calls/{call_id}/accept", json={"responder_id": "g1"}, headers=G1)
    assert accepted.status_code == 200, accepted.text
    await system.log.wait_type(call_id, "DispatchAccepted")
    # Busy while holding the call, as on the board.
    assert (await system.http.get("/api/me", headers=G1)).json()["status"] == "busy"

    async def desk_resolves() -> None:
        response = await system.http.post(f"/api/calls/{call_id}/resolve", json={}, headers=SUPERVISOR)
        assert response.status_code == 200, response.text

    events = await events_until(
        system, lambda e: e[0] == "update" and e[1]["event"] == "CallResolved", then=desk_resolves
    )
    update = events[-1][1]
    assert update["by"] == "s1" and update["call"]["status"] == "resolved"
    where_and_who(update["call"])
    assert (await system.http.get("/api/me", headers=G1)).json()["status"] == "available"


async def test_away_until_shows_on_me(system: System) -> None:
    body = {"status": "away", "until": "2099-01-01T00:00:00Z"}
    assert (
        await system.http.post("/api/responders/g1/availability", json=body, headers=G1)
    ).status_code == 200
    me = (await system.http.get("/api/me", headers=G1)).json()
    assert me["status"] == "away" and me["until"].startswith("2099-01-01")
