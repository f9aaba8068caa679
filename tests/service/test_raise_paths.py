"""``POST /api/calls`` has a cheap path (services/intake/fast_raise.py) ahead of the documented
route: a caller cannot tell which one answered. FastAPI reads a ``+json`` content type as JSON
too, and the cheap path hands such a request to the documented route: the pairs below are the
same request, one answered by each."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from events.models import CallRaised
from services.intake.app import create_app
from services.intake.auth import principal
from services.intake.fast_raise import FastRaise
from services.runtime.settings import Settings
from tests.service.conftest import System
from tests.support import bearer

CHEAP = {"Content-Type": "application/json"}
DOCUMENTED = {"Content-Type": "application/vnd.dispatch1310+json"}
# What differs from one raise to the next whoever answers it.
PER_CALL = {"call_id", "secret", "links", "raised_at", "stages"}


def body(phone: str, **fields: object) -> dict[str, object]:
    return {"caller": {"name": " 王阿姨 ", "phone": phone}, "building_id": "b12", "kind": "flood", **fields}


async def both(
    http: httpx.AsyncClient, json_body: Any, **headers: str
) -> tuple[httpx.Response, httpx.Response]:
    cheap = await http.post("/api/calls", json=json_body, headers={**CHEAP, **headers})
    documented = await http.post("/api/calls", json=json_body, headers={**DOCUMENTED, **headers})
    return cheap, documented


async def test_a_raise_is_answered_alike_by_either_route(system: System) -> None:
    cheap = await system.http.post(
        "/api/calls", json=body("13900000011", note=" 一楼\r\n进水 "), headers=CHEAP
    )
    documented = await system.http.post(
        "/api/calls", json=body("13900000012", note=" 一楼\r\n进水 "), headers=DOCUMENTED
    )
    for response in (cheap, documented):
        raised = response.json()
        assert response.status_code == 201, response.text
        assert response.headers["Location"] == raised["links"]["self"] == f"/api/calls/{raised['call_id']}"
        assert response.headers["Content-Type"] == "application/json"
        assert raised["address"] == "" and raised["status"] == "open" and raised["secret"]
    same = [{k: v for k, v in r.json().items() if k not in PER_CALL} for r in (cheap, documented)]
    assert same[0] == same[1]
    assert list(cheap.json()) == list(documented.json())  # the same fields, in the same order
    raised = (await system.log.of(cheap.json()["call_id"]))[0].event
    assert isinstance(raised, CallRaised)
    assert (raised.caller.name, raised.caller.phone, raised.note) == (
        "王阿姨",
        "+8613900000011",
        "一楼\n进水",
    )


async def test_a_retry_with_its_idempotency_key_gets_its_call_back_from_either_route(system: System) -> None:
    key = {"Idempotency-Key": "retry-1"}
    first = await system.http.post("/api/calls", json=body("13900000013"), headers={**CHEAP, **key})
    again = await system.http.post("/api/calls", json=body("139-0000-0013"), headers={**DOCUMENTED, **key})
    once_more = await system.http.post("/api/calls", json=body("13900000013"), headers={**CHEAP, **key})
    assert first.status_code == again.status_code == once_more.status_code == 201
    assert first.json()["call_id"] == again.json()["call_id"] == once_more.json()["call_id"]
    assert first.json()["secret"] == again.json()["secret"] == once_more.json()["secret"]
    other = await system.http.post(
        "/api/calls", json=body("13900000013", kind="fire"), headers={**CHEAP, **key}
    )
    assert other.status_code == 422 and other.json()["detail"].startswith("idempotency-key:")


@pytest.mark.parametrize(
    "refused",
    [
        {"caller": {"name": "王", "phone": "12"}},  # a value error from the edge's own validator
        {"caller": {"name": "王"}, "drill": "yes", "kind": 5},  # several errors at once
        {"caller": {"name": "\u200b", "phone": "13900000014"}},  # nothing visible
        {"caller": {"name": "王", "phone": "13900000014"}, "note": "x" * 2001},
        [],
    ],
)
async def test_a_body_refused_is_the_same_422_from_either_route(system: System, refused: Any) -> None:
    cheap, documented = await both(system.http, refused)
    assert cheap.status_code == documented.status_code == 422
    assert cheap.json() == documented.json()
    assert all(error["loc"][0] == "body" for error in cheap.json()["detail"])  # FastAPI's own shape


async def test_refusals_of_who_asks_are_the_same_from_either_route(system: System) -> None:
    unknown, unknown_documented = await both(system.http, body("13900000015"), **bearer("nobody"))
    assert unknown.status_code == unknown_documented.status_code == 401
    assert unknown.json() == unknown_documented.json() == {"detail": "unknown token"}
    assert unknown.headers["WWW-Authenticate"] == "Bearer"

    phoned = body("13900000016", source="phone")
    anonymous, anonymous_documented = await both(system.http, phoned)
    assert anonymous.status_code == anonymous_documented.status_code == 401
    responder, responder_documented = await both(system.http, phoned, **bearer("demo-g1"))
    assert responder.status_code == responder_documented.status_code == 403
    assert responder.json() == responder_documented.json()
    supervisor = await system.http.post(
        "/api/calls", json=phoned, headers={**CHEAP, **bearer("demo-supervisor")}
    )
    assert supervisor.status_code == 201 and supervisor.json()["source"] == "phone"

    device, device_documented = await both(system.http, body("13900000017", source="device"))
    assert device.status_code == device_documented.status_code == 422
    assert device.json() == device_documented.json()


async def test_an_over_long_idempotency_key_is_refused_naming_the_header(system: System) -> None:
    response = await system.http.post(
        "/api/calls", json=body("13900000018"), headers={**CHEAP, "Idempotency-Key": "k" * 201}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "idempotency-key"]


def test_openapi_documents_the_raise_with_its_body_and_answer() -> None:
    operation = create_app(Settings()).openapi()["paths"]["/api/calls"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/RaiseCallIn"}
    assert {"201", "401", "403", "422", "429", "503"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["idempotency-key"]


def test_the_cheap_path_knows_every_input_of_the_documented_route() -> None:
    """FastRaise reads the body, the Idempotency-Key and the principal itself: an input added to
    ``raise_call`` (a header, a query parameter, a dependency) must be taught to it too."""
    dependant = FastRaise(app=create_app(Settings())).documented.dependant
    assert [param.alias for param in dependant.header_params] == ["idempotency-key"]
    assert [dependency.call for dependency in dependant.dependencies] == [principal]
    assert [param.name for param in dependant.body_params] == ["body"]
    assert not (dependant.query_params or dependant.cookie_params or dependant.path_params)
