"""What the desk reads: the history of closed calls and a timeline fit for a reader (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.service.conftest import System
from tests.support import bearer, wait_for

SUPERVISOR = bearer("demo-supervisor")


async def _close(system: System, call_id: str, outcome: str) -> None:
    response = await system.http.post(
        f"/api/calls/{call_id}/resolve", json={"outcome": outcome}, headers=SUPERVISOR
    )
    assert response.status_code == 200, response.text


async def test_history_lists_closed_calls_newest_first_with_filters(system: System) -> None:
    handled = (await system.raise_call("b12"))["call_id"]
    false_alarm = (await system.raise_call("b21", kind="fire"))["call_id"]
    still_open = (await system.raise_call("b14"))["call_id"]
    await _close(system, handled, "handled")
    await _close(system, false_alarm, "false_alarm")
    cancel = await system.http.post(f"/api/calls/{still_open}/cancel", json={}, headers=SUPERVISOR)
    assert cancel.status_code == 200
    kept_open = (await system.raise_call("b12", caller={"name": "李", "phone": "13800000009"}))["call_id"]

    async def history(**params: str) -> list[dict]:
        response = await system.http.get(
            "/api/calls", params={"status": "closed", **params}, headers=SUPERVISOR
        )
        assert response.status_code == 200, response.text
        return list(response.json()["calls"])

    rows: list[dict] = []

    async def all_three() -> bool:
        nonlocal rows
        rows = await history()
        return len(rows) >= 3

    await wait_for(all_three, what="three closed calls in the history")  # the fold is asynchronous
    assert [r["call_id"] for r in rows] == [still_open, false_alarm, handled]
    assert kept_open not in [r["call_id"] for r in rows]
    first = rows[-1]
    assert first["caller"] == {"name": "王阿姨", "phone": "+8613800000000"}
    assert first["closed_at"] and first["outcome"] == "handled"
    assert [r["call_id"] for r in await history(district="d2")] == [false_alarm]
    assert [r["call_id"] for r in await history(kind="fire")] == [false_alarm]
    assert [r["call_id"] for r in await history(outcome="cancelled")] == [still_open]
    assert [r["call_id"] for r in await history(outcome="handled")] == [handled]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await history(since=later) == []
    assert (await system.http.get("/api/calls", params={"status": "closed"})).status_code == 401
    refused = await system.http.get("/api/calls", headers=bearer("demo-g1"))
    assert refused.status_code == 403


async def test_the_timeline_names_actors_numbers_steps_and_hides_the_caller_secret(
    system: System,
) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    accepted = await system.http.post(
        f"/api/calls/{call_id}/accept", json={"responder_id": "g1"}, headers=SUPERVISOR
    )
    assert accepted.status_code == 200
    response = await system.http.get(f"/api/calls/{call_id}/timeline", headers=SUPERVISOR)
    assert "caller_secret_sha256" not in response.text
    events = response.json()["events"]
    assert [e["step"] for e in events] == list(range(1, len(events) + 1))
    accept = next(e for e in events if e["type"] == "DispatchAccepted")
    assert (accept["actor"], accept["actor_name"]) == ("g1", "网格员 杨帆")
    assert (accept["recorded_by"], accept["recorded_by_name"]) == ("s1", "社区主任 周主任")
