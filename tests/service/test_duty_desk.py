"""The duty desk against a real nats-server: availability, duty, supervisor actions (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.service.conftest import System
from tests.support import bearer, wait_for

SUPERVISOR = bearer("demo-supervisor")


async def set_away(system: System, person: str, until: datetime | None = None) -> None:
    body = {"status": "away", "until": until.isoformat() if until else None}
    response = await system.http.post(
        f"/api/responders/{person}/availability", json=body, headers=bearer(f"demo-{person}")
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "away"


async def test_away_member_is_skipped_without_waiting(system: System) -> None:
    await set_away(system, "g1")
    call_id = (await system.raise_call("b12"))["call_id"]
    assigned = await system.log.wait_type(call_id, "ResponderAssigned", timeout=1.0)
    assert assigned[0].responder_id == "g2"
    assert "g1" not in [a.responder_id for a in assigned]


async def test_away_until_is_respected_and_listed(system: System) -> None:
    """Away until a time: skipped while away and listed so. That the person is paged again once
    it passes is tested on a manual clock (tests/handlers/test_dispatcher.py, tests/unit/test_duty.py)."""
    until = datetime.now(UTC) + timedelta(hours=1)
    await set_away(system, "g4", until=until)
    first = (await system.raise_call("b21"))["call_id"]
    assert (await system.log.wait_type(first, "ResponderAssigned"))[0].level == "district"
    rows = (await system.http.get("/api/responders", headers=SUPERVISOR)).json()
    g4 = next(r for r in rows if r["id"] == "g4")
    assert g4["status"] == "away" and datetime.fromisoformat(g4["until"]) == until


async def test_responder_status_list_shows_busy_and_refuses_responders(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    rows = (await system.http.get("/api/responders", headers=SUPERVISOR)).json()
    g1 = next(r for r in rows if r["id"] == "g1")
    assert g1 == {
        "id": "g1",
        "name": "网格员 杨帆",
        "level": "building",
        "district_id": "d1",
        "building_id": "b12",
        "community_id": "jsb",
        "status": "busy",
        "until": None,
    }
    assert (await system.http.get("/api/responders", headers=bearer("demo-g1"))).status_code == 403
    other = await system.http.post(
        "/api/responders/g2/availability", json={"status": "away"}, headers=bearer("demo-g1")
    )
    assert other.status_code == 403
    by_supervisor = await system.http.post(
        "/api/responders/g2/availability", json={"status": "away"}, headers=SUPERVISOR
    )
    assert by_supervisor.status_code == 200


async def test_duty_officer_and_override(system: System) -> None:
    duty = (await system.http.get("/api/duty")).json()
    assert duty["on_duty"]["id"] in {"c1", "c2", "c3"} and duty["handover_at"]
    now = datetime.now(UTC)
    body = {
        "person_id": "c3",
        "from": (now - timedelta(minutes=1)).isoformat(),
        "to": (now + timedelta(hours=2)).isoformat(),
    }
    assert (
        await system.http.post("/api/duty/overrides", json=body, headers=bearer("demo-g1"))
    ).status_code == 403
    response = await system.http.post("/api/duty/overrides", json=body, headers=SUPERVISOR)
    assert response.status_code == 201, response.text

    async def overridden() -> bool:
        return (await system.http.get("/api/duty")).json()["on_duty"]["id"] == "c3"

    await wait_for(overridden, what="override in force")
    # The officer on duty may act as a supervisor: a phoned-in call carries source and raised_by.
    phoned = await system.http.post(
        "/api/calls",
        json={
            "caller": {"name": "独居老人", "phone": "13800000009"},
            "building_id": "b14",
            "source": "phone",
        },
        headers=bearer("demo-c3"),
    )
    assert phoned.status_code == 201, phoned.text
    raised = (await system.log.wait_type(phoned.json()["call_id"], "CallRaised"))[0]
    assert (raised.source, raised.raised_by) == ("phone", "c3")
    not_on_duty = await system.http.post(
        "/api/calls",
        json={"caller": {"name": "x", "phone": "13812345678"}, "source": "phone"},
        headers=bearer("demo-c1"),
    )
    assert not_on_duty.status_code == 403
    # ...and holds the desk's powers on any call: assign, note, escalate; the officer off duty does not.
    call_id = phoned.json()["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    for path, body in (("assign", {"responder_id": "g3"}), ("notes", {"text": "已联系"}), ("escalate", {})):
        desk = await system.http.post(f"/api/calls/{call_id}/{path}", json=body, headers=bearer("demo-c3"))
        assert desk.status_code == 200, (path, desk.text)
        off = await system.http.post(f"/api/calls/{call_id}/{path}", json=body, headers=bearer("demo-c1"))
        assert off.status_code == 403, (path, off.text)
    timeline = (await system.http.get(f"/api/calls/{call_id}/timeline", headers=SUPERVISOR)).json()["events"]
    actors = {e["type"]: e["actor"] for e in timeline if e["type"] in ("NoteAdded", "EscalationRaised")}
    assert actors == {"NoteAdded": "c3", "EscalationRaised": "c3"}


async def test_supervisor_actions_appear_in_the_timeline_with_their_actor(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    assign = await system.http.post(
        f"/api/calls/{call_id}/assign", json={"responder_id": "g3", "note": "离得近"}, headers=SUPERVISOR
    )
    assert assign.status_code == 200, assign.text
    note = await system.http.post(
        f"/api/calls/{call_id}/notes", json={"text": "已联系家属"}, headers=SUPERVISOR
    )
    assert note.status_code == 200
    body = {"reason": "水位上涨", "from_level": "building"}
    escalate = await system.http.post(f"/api/calls/{call_id}/escalate", json=body, headers=SUPERVISOR)
    assert escalate.status_code == 200 and escalate.json()["level"] == "district"
    # A double click on the board: the same escalation again changes nothing.
    again = await system.http.post(f"/api/calls/{call_id}/escalate", json=body, headers=SUPERVISOR)
    assert again.status_code == 200 and again.json()["level"] == "district"
    resolve = await system.http.post(
        f"/api/calls/{call_id}/resolve", json={"outcome": "false_alarm"}, headers=SUPERVISOR
    )
    assert resolve.status_code == 200 and resolve.json()["outcome"] == "false_alarm"
    timeline = (await system.http.get(f"/api/calls/{call_id}/timeline", headers=SUPERVISOR)).json()["events"]
    by_type = {e["type"]: e for e in timeline}
    assert by_type["NoteAdded"]["actor"] == "s1"
    assert (
        by_type["EscalationRaised"]["actor"] == "s1"
        and by_type["EscalationRaised"]["data"]["reason"] == "manual"
    )
    assert by_type["CallResolved"]["data"]["outcome"] == "false_alarm"
    assert [e["data"]["reason"] for e in timeline if e["type"] == "EscalationRaised"] == ["manual"]
    manual = [e for e in timeline if e["type"] == "ResponderAssigned" and e["data"]["responder_id"] == "g3"]
    assert manual and manual[0]["actor"] == "s1"
    # A responder's token on supervisor actions → 403; any action on a closed call → 409.
    assert (
        await system.http.post(f"/api/calls/{call_id}/notes", json={"text": "x"}, headers=bearer("demo-g1"))
    ).status_code == 403
    assert (
        await system.http.post(f"/api/calls/{call_id}/notes", json={"text": "x"}, headers=SUPERVISOR)
    ).status_code == 409
    assert (
        await system.http.post(f"/api/calls/{call_id}/escalate", json={}, headers=SUPERVISOR)
    ).status_code == 409
    assert (
        await system.http.post(
            f"/api/calls/{call_id}/assign", json={"responder_id": "g2"}, headers=SUPERVISOR
        )
    ).status_code == 409


async def test_desk_acting_for_a_responder_is_recorded_with_by(system: System) -> None:
    """Issue 15 defect 7: an accept or arrival the desk records for a responder says who did it."""
    call_id = (await system.raise_call("b12"))["call_id"]
    assert (await system.log.wait_type(call_id, "ResponderAssigned"))[0].responder_id == "g1"
    for action in ("accept", "enroute", "arrive"):
        response = await system.http.post(
            f"/api/calls/{call_id}/{action}", json={"responder_id": "g1"}, headers=SUPERVISOR
        )
        assert response.status_code == 200, (action, response.text)
    # A second responder, assigned by hand, accepts and arrives with their own token.
    assign = await system.http.post(
        f"/api/calls/{call_id}/assign", json={"responder_id": "g3"}, headers=SUPERVISOR
    )
    assert assign.status_code == 200, assign.text
    for action in ("accept", "arrive"):
        own = await system.http.post(
            f"/api/calls/{call_id}/{action}", json={"responder_id": "g3"}, headers=bearer("demo-g3")
        )
        assert own.status_code == 200, (action, own.text)

    accepted = await system.log.wait_type(call_id, "DispatchAccepted", count=2)
    arrived = await system.log.wait_type(call_id, "ResponderArrived", count=2)
    enroute = await system.log.wait_type(call_id, "ResponderEnRoute")
    assert [(e.responder_id, e.by) for e in accepted] == [("g1", "s1"), ("g3", None)]
    assert [(e.responder_id, e.by) for e in arrived] == [("g1", "s1"), ("g3", None)]
    assert [(e.responder_id, e.by) for e in enroute] == [("g1", "s1")]
    # The timeline keeps the responder as the actor and shows who recorded it.
    timeline = (await system.http.get(f"/api/calls/{call_id}/timeline", headers=SUPERVISOR)).json()["events"]
    desk = [(e["type"], e["actor"], e["recorded_by"]) for e in timeline if e["recorded_by"]]
    assert desk == [
        ("DispatchAccepted", "g1", "s1"),
        ("ResponderEnRoute", "g1", "s1"),
        ("ResponderArrived", "g1", "s1"),
    ]


async def test_the_duty_officer_on_duty_may_decline_for_a_responder_and_is_recorded(system: System) -> None:
    now = datetime.now(UTC)
    body = {
        "person_id": "c3",
        "from": (now - timedelta(minutes=1)).isoformat(),
        "to": (now + timedelta(hours=2)).isoformat(),
    }
    assert (await system.http.post("/api/duty/overrides", json=body, headers=SUPERVISOR)).status_code == 201

    async def overridden() -> bool:
        return (await system.http.get("/api/duty")).json()["on_duty"]["id"] == "c3"

    await wait_for(overridden, what="override in force")
    call_id = (await system.raise_call("b12"))["call_id"]
    assert (await system.log.wait_type(call_id, "ResponderAssigned"))[0].responder_id == "g1"
    # The officer off duty may not act for anyone; the one on duty may.
    off = await system.http.post(
        f"/api/calls/{call_id}/decline", json={"responder_id": "g1"}, headers=bearer("demo-c1")
    )
    assert off.status_code == 403, off.text
    on = await system.http.post(
        f"/api/calls/{call_id}/decline", json={"responder_id": "g1"}, headers=bearer("demo-c3")
    )
    assert on.status_code == 200, on.text
    declined = await system.log.wait_type(call_id, "DispatchDeclined")
    assert [(e.responder_id, e.by) for e in declined] == [("g1", "c3")]
