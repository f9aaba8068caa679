"""The call lifecycle through the HTTP API against a real nats-server (issue 4)."""

from __future__ import annotations

import asyncio

from tests.service.conftest import System
from tests.support import bearer, wait_for


async def test_raise_assigns_a_named_contact_shown_to_the_resident(system: System) -> None:
    """The dispatcher's smoke test on the real server (its paging rules are tested on fakes, in
    tests/handlers; its latency is measured by ``dispatch1310 bench``, not asserted here)."""
    call = await system.raise_call("b12")
    shared = await system.log.wait_type(call["call_id"], "ContactShared")
    assert shared[0].responder_id == "g1"
    view = (await system.http.get(f"/api/calls/{call['call_id']}")).json()
    assert view["contact"] == {"id": "g1", "name": "网格员 杨帆", "phone": "13600000001"}
    assert view["stages"]["contact"]["met_at"] is not None
    assert view["status"] == "open" and view["level"] == "building"


async def test_unknown_building_is_dispatched_at_district_level(system: System) -> None:
    call = await system.raise_call("no-such-building")
    assert call["level"] == "district"
    assigned = await system.log.wait_type(call["call_id"], "ResponderAssigned")
    assert assigned[0].level == "district"


async def test_second_call_for_the_building_is_merged_and_sees_the_contact(system: System) -> None:
    first = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(first, "ContactShared")
    second = (await system.raise_call("b12", caller={"name": "李伯", "phone": "13800000001"}))["call_id"]
    merged = (await system.log.wait_type(second, "CallMerged"))[0]
    assert merged.into_call_id == first
    assert "ResponderAssigned" not in await system.log.types(second)
    view = (await system.http.get(f"/api/calls/{second}")).json()
    assert view["merged_into"] == first and view["contact"]["id"] == "g1"


async def test_a_burst_of_calls_from_one_building_is_dispatched_once(system: System) -> None:
    """A flood: neighbours tap at the same moment; calls are handled concurrently, yet exactly
    one of them is dispatched and every other one is merged into it."""
    raised = await asyncio.gather(
        *(
            system.http.post(
                "/api/calls",
                json={"caller": {"name": f"邻居{n}", "phone": f"1370000{n:04d}"}, "building_id": "b14"},
            )
            for n in range(12)
        )
    )
    call_ids = [r.json()["call_id"] for r in raised]
    assert len(set(call_ids)) == 12

    async def settled() -> dict[str, list[str]] | None:
        types = {cid: await system.log.types(cid) for cid in call_ids}
        done = all("CallMerged" in t or "ContactShared" in t for t in types.values())
        return types if done else None

    types = await wait_for(settled, timeout=10, what="every call dispatched or merged")
    dispatched = [cid for cid, t in types.items() if "ResponderAssigned" in t]
    assert len(dispatched) == 1, f"{len(dispatched)} calls of one building were dispatched"
    for cid in types:
        if cid not in dispatched:
            merged = (await system.log.wait_type(cid, "CallMerged"))[0]
            assert merged.into_call_id == dispatched[0]


async def test_accept_arrive_resolve_meets_each_stage(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    for action in ("accept", "enroute", "arrive", "resolve"):
        response = await system.http.post(
            f"/api/calls/{call_id}/{action}", json={"responder_id": "g1"}, headers=bearer("demo-g1")
        )
        assert response.status_code == 200, (action, response.text)
    view = response.json()
    assert view["status"] == "resolved"
    assert all(view["stages"][stage]["met_at"] for stage in ("contact", "reach", "onsite"))
    timeline = (
        await system.http.get(f"/api/calls/{call_id}/timeline", headers=bearer("demo-supervisor"))
    ).json()
    types = [e["type"] for e in timeline["events"]]
    assert types == [
        "CallRaised",
        "ResponderAssigned",
        "ContactShared",
        "DispatchAccepted",
        "ResponderEnRoute",
        "ResponderArrived",
        "CallResolved",
    ]
    assert timeline["events"][0]["elapsed_s"] == 0
    assert [e["elapsed_s"] for e in timeline["events"]] == sorted(e["elapsed_s"] for e in timeline["events"])
    assert timeline["events"][3]["actor"] == "g1"


async def test_acting_on_a_call_not_dispatched_to_you_is_403(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    response = await system.http.post(f"/api/calls/{call_id}/accept", json={}, headers=bearer("demo-g3"))
    assert response.status_code == 403
    impersonate = await system.http.post(
        f"/api/calls/{call_id}/accept", json={"responder_id": "g1"}, headers=bearer("demo-g3")
    )
    assert impersonate.status_code == 403
    no_token = await system.http.post(f"/api/calls/{call_id}/accept", json={"responder_id": "g1"})
    assert no_token.status_code == 401


async def test_impossible_transitions_are_409(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    g1 = bearer("demo-g1")
    assert (await system.http.post(f"/api/calls/{call_id}/arrive", json={}, headers=g1)).status_code == 409
    assert (await system.http.post(f"/api/calls/{call_id}/accept", json={}, headers=g1)).status_code == 200
    assert (await system.http.post(f"/api/calls/{call_id}/resolve", json={}, headers=g1)).status_code == 200
    assert (await system.http.post(f"/api/calls/{call_id}/arrive", json={}, headers=g1)).status_code == 409
    assert (await system.http.post(f"/api/calls/{call_id}/decline", json={}, headers=g1)).status_code == 409


async def test_the_same_command_twice_stores_one_event(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    for _ in range(2):
        response = await system.http.post(f"/api/calls/{call_id}/accept", json={}, headers=bearer("demo-g1"))
        assert response.status_code == 200
    assert (await system.log.types(call_id)).count("DispatchAccepted") == 1


async def test_idempotency_key_returns_the_same_call(system: System) -> None:
    body = {"caller": {"name": "王阿姨", "phone": "13800000000"}, "building_id": "b21"}
    headers = {"Idempotency-Key": "tap-7f3a"}
    first = await system.http.post("/api/calls", json=body, headers=headers)
    again = await system.http.post("/api/calls", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["call_id"] == again.json()["call_id"]
    assert first.json()["secret"] == again.json()["secret"]
    assert (await system.log.types(first.json()["call_id"])).count("CallRaised") == 1
    # The same key from another resident is another emergency, with its own secret.
    other = {"caller": {"name": "李大爷", "phone": "13900000000"}, "building_id": "b21"}
    theirs = await system.http.post("/api/calls", json=other, headers=headers)
    assert theirs.status_code == 201
    assert theirs.json()["call_id"] != first.json()["call_id"]
    assert theirs.json()["secret"] != first.json()["secret"]


async def test_bad_input_is_422_naming_the_field_and_stores_nothing(system: System) -> None:
    before = (await system.nc.jetstream().stream_info("CALLS")).state.last_seq
    response = await system.http.post("/api/calls", json={"caller": {"name": "王阿姨"}, "building_id": "b12"})
    assert response.status_code == 422
    assert any(err["loc"][-2:] == ["caller", "phone"] for err in response.json()["detail"])
    after = (await system.nc.jetstream().stream_info("CALLS")).state.last_seq
    assert after == before


async def test_unknown_kind_becomes_other(system: System) -> None:
    call = await system.raise_call("b12", kind="alien-invasion")
    assert call["kind"] == "other"


async def test_caller_cancels_with_the_call_secret_only(system: System) -> None:
    call = await system.raise_call("b21")
    call_id = call["call_id"]
    refused = await system.http.post(f"/api/calls/{call_id}/cancel", json={"secret": "guess"})
    assert refused.status_code == 403
    done = await system.http.post(
        f"/api/calls/{call_id}/cancel", json={}, headers={"X-Call-Secret": call["secret"]}
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    again = await system.http.post(
        f"/api/calls/{call_id}/cancel", json={}, headers={"X-Call-Secret": call["secret"]}
    )
    assert again.status_code == 409


async def test_a_roster_reload_does_not_change_an_open_calls_policy(system: System) -> None:
    from services.adapters.roster_store import RosterHolder, publish_roster
    from services.domain.roster import load_roster_file

    first = load_roster_file(None)  # published by the intake at start, policy "default-1"
    changed = first.model_copy(
        update={
            "escalation": first.escalation.model_copy(update={"version": "v2", "skip_to_professional": ()})
        }
    )
    await publish_roster(system.nc, changed)
    now_in_force = RosterHolder(changed)  # what every service holds after the reload
    old = await now_in_force.policy(system.nc, first.escalation.version)  # read back from the bucket
    assert old.version == "default-1" and old.skip_to_professional == ("fire", "medical")
    assert (await now_in_force.policy(system.nc, "v2")).skip_to_professional == ()
    # An unknown version falls back to the policy in force rather than failing the page.
    assert (await now_in_force.policy(system.nc, "never-published")).version == "v2"
