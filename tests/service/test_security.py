"""Roles on every endpoint (401/403), request size limits, 503 when NATS is down (issue 9)."""

from __future__ import annotations

import asyncio

import pytest

from services.adapters.embedded_nats import EmbeddedNats
from tests.service.conftest import System
from tests.support import bearer, wait_for

SUPERVISOR = bearer("demo-supervisor")
RESPONDER = bearer("demo-g1")
STRANGER = bearer("demo-g4")  # in the roster, but the call is not dispatched to them
BOGUS = bearer("not-a-token")

SUPERVISOR_ONLY = [
    ("GET", "/api/board", None),
    ("GET", "/api/responders", None),
    ("GET", "/api/roster", None),
    (
        "POST",
        "/api/duty/overrides",
        {"person_id": "c1", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
    ),
    ("POST", "/api/calls/{call}/assign", {"responder_id": "g2"}),
    ("POST", "/api/calls/{call}/escalate", {"reason": "x"}),
    ("POST", "/api/calls/{call}/notes", {"text": "x"}),
]


@pytest.fixture
async def call_id(system: System) -> str:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    return call_id


@pytest.mark.parametrize(("method", "path", "body"), SUPERVISOR_ONLY)
async def test_supervisor_endpoints_refuse_everyone_else(
    system: System, call_id: str, method: str, path: str, body: dict | None
) -> None:
    url = path.format(call=call_id)
    assert (await system.http.request(method, url, json=body)).status_code == 401
    assert (await system.http.request(method, url, json=body, headers=BOGUS)).status_code == 401
    assert (await system.http.request(method, url, json=body, headers=RESPONDER)).status_code == 403
    allowed = await system.http.request(method, url, json=body, headers=SUPERVISOR)
    assert allowed.status_code < 400, allowed.text


@pytest.mark.parametrize("action", ["accept", "decline", "enroute", "arrive", "resolve"])
async def test_responder_actions_need_the_dispatched_responder(
    system: System, call_id: str, action: str
) -> None:
    url = f"/api/calls/{call_id}/{action}"
    assert (await system.http.post(url, json={"responder_id": "g1"})).status_code == 401
    assert (await system.http.post(url, json={"responder_id": "g1"}, headers=BOGUS)).status_code == 401
    assert (await system.http.post(url, json={}, headers=STRANGER)).status_code == 403


async def test_timeline_for_supervisor_and_the_dispatched_responder_only(
    system: System, call_id: str
) -> None:
    url = f"/api/calls/{call_id}/timeline"
    assert (await system.http.get(url)).status_code == 401
    assert (await system.http.get(url, headers=STRANGER)).status_code == 403
    assert (await system.http.get(url, headers=RESPONDER)).status_code == 200
    assert (await system.http.get(url, headers=SUPERVISOR)).status_code == 200


async def test_streams_require_the_same_auth(system: System) -> None:
    assert (await system.http.get("/api/responders/g1/stream")).status_code == 401
    assert (await system.http.get("/api/responders/g1/stream", headers=bearer("demo-g2"))).status_code == 403
    assert (await system.http.get("/api/board/stream", headers=RESPONDER)).status_code == 403
    assert (await system.http.get("/api/board/stream")).status_code == 401


async def test_responder_stream_pushes_a_dispatch(system: System) -> None:
    async with system.http.stream("GET", "/api/responders/g1/stream", headers=RESPONDER) as stream:
        assert stream.status_code == 200
        call_id = (await system.raise_call("b12"))["call_id"]
        seen = ""
        async for chunk in stream.aiter_text():
            seen += chunk
            if "event: dispatch" in seen and call_id in seen:
                break
    assert "event: dispatch" in seen


async def test_oversized_body_is_413_and_stores_nothing(system: System) -> None:
    before = (await system.nc.jetstream().stream_info("CALLS")).state.last_seq
    body = {"caller": {"name": "王", "phone": "138"}, "building_id": "b12", "note": "x" * 100_000}
    response = await system.http.post("/api/calls", json=body)
    assert response.status_code == 413
    assert (await system.nc.jetstream().stream_info("CALLS")).state.last_seq == before


async def test_nats_down_means_503_with_retry_after_and_nothing_lost(
    system: System, nats_server: EmbeddedNats
) -> None:
    stored = (await system.raise_call("b21"))["call_id"]
    nats_server.stop()
    response = await system.http.post(
        "/api/calls", json={"caller": {"name": "李", "phone": "13811111111"}, "building_id": "b21"}
    )
    assert response.status_code == 503 and response.headers["Retry-After"]
    nats_server.start()
    await wait_for(lambda: system.nc.is_connected, timeout=10, what="reconnect")
    assert "CallRaised" in await system.log.types(stored)


async def _first_dispatch(system: System, call_id: str) -> str:
    seen = ""
    async with system.http.stream("GET", "/api/responders/g1/stream", headers=RESPONDER) as stream:
        assert stream.status_code == 200
        async for chunk in stream.aiter_text():
            seen += chunk
            if "event: dispatch" in seen and call_id in seen:
                return seen
    raise AssertionError(f"stream ended without a dispatch of {call_id}: {seen[-500:]}")


async def test_a_dispatch_paged_while_disconnected_arrives_on_reconnect(system: System) -> None:
    # Connected once, then the network drops; meanwhile the member is paged.
    async with system.http.stream("GET", "/api/responders/g1/stream", headers=RESPONDER) as stream:
        assert stream.status_code == 200
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    # The page reconnects: the dispatch it missed is delivered, not lost.
    seen = await asyncio.wait_for(_first_dispatch(system, call_id), timeout=5)
    assert '"dispatch_id"' in seen
    # Once accepted, a reconnect no longer rings it as a new dispatch, but still lists it as held.
    accepted = await system.http.post(
        f"/api/calls/{call_id}/accept", json={"responder_id": "g1"}, headers=RESPONDER
    )
    assert accepted.status_code == 200, accepted.text
    await system.log.wait_type(call_id, "DispatchAccepted")

    async def resync() -> str:
        seen = ""
        async with system.http.stream("GET", "/api/responders/g1/stream", headers=RESPONDER) as stream:
            async for chunk in stream.aiter_text():
                seen += chunk
                if "event: synced" in seen:
                    return seen
        raise AssertionError(f"stream ended before its re-sync: {seen[-500:]}")

    async def held_not_ringing() -> bool:
        seen = await asyncio.wait_for(resync(), timeout=5)
        snapshot = seen[seen.index("event: snapshot") : seen.index("event: synced")]
        return call_id in snapshot and "event: dispatch" not in seen

    await wait_for(held_not_ringing, timeout=5, what="a re-sync listing the accepted call without ringing")


@pytest.mark.parametrize("call_ref", ["*", "%3E", "a.b", "x" * 65])
async def test_a_call_id_that_is_not_one_subject_token_is_refused(system: System, call_ref: str) -> None:
    await system.raise_call("b12")  # something a wildcard would find
    assert (await system.http.get(f"/api/calls/{call_ref}")).status_code == 422
    assert (await system.http.get(f"/api/calls/{call_ref}/timeline", headers=SUPERVISOR)).status_code == 422
    action = await system.http.post(
        f"/api/calls/{call_ref}/accept", json={"responder_id": "g1"}, headers=RESPONDER
    )
    assert action.status_code == 422


async def test_every_escalation_reaches_the_supervisors_board_stream(system: System) -> None:
    seen = ""

    async def watch(call_ref: list[str]) -> str:
        nonlocal seen
        async with system.http.stream("GET", "/api/board/stream", headers=SUPERVISOR) as stream:
            assert stream.status_code == 200
            async for chunk in stream.aiter_text():
                seen += chunk
                frames = seen.split("\n\n")
                if call_ref and any(
                    '"event":"EscalationRaised"' in f and call_ref[0] in f and '"level":"district"' in f
                    for f in frames
                ):
                    return seen
        raise AssertionError("board stream ended")

    call_ref: list[str] = []
    watcher = asyncio.create_task(watch(call_ref))
    await wait_for(lambda: "event: snapshot" in seen, what="the board stream to open")
    call_id = (await system.raise_call("b12"))["call_id"]
    call_ref.append(call_id)
    await system.log.wait_type(call_id, "ResponderAssigned")
    escalate = await system.http.post(
        f"/api/calls/{call_id}/escalate", json={"reason": "水位上涨"}, headers=SUPERVISOR
    )
    assert escalate.status_code == 200, escalate.text
    await asyncio.wait_for(watcher, timeout=5)
