"""Schemathesis against /openapi.json over every route, as each role (anonymous, responder,
supervisor), with every check; and a refused raise stores nothing. Runs the real services as
processes on a real NATS."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import nats
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

from services.bench.system import process_system
from services.intake.app import create_app
from services.runtime.settings import Settings

# The schema comes from the app itself (no server needed to build it).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
# Streams hold a connection open for ever: nothing to fuzz there.
schema = schema.exclude(path_regex=r".*/stream$")
ROLES = {
    "anonymous": {},
    "responder": {"Authorization": "Bearer demo-g1"},
    "supervisor": {"Authorization": "Bearer demo-supervisor"},
}
load_all_checks()
CHECKS_RUN = list(CHECKS.get_all())  # every check schemathesis has
# positive_data_acceptance (a schema-valid request must be accepted) is wrong for a refusal by
# a rule JSON Schema cannot state: a phone's digits after normalising, a name of nothing
# visible, a person who is not in the roster, a time in the past or beyond the calendar, a
# roster whose ids do not fit together, text of nothing but whitespace (stripped, then too
# short). Those are a 422 whose detail names the field (a text "field: why", errors of type
# value_error from the edge's own validators, or string_too_short for an input that only
# became too short by stripping its whitespace); for those answers alone the check is left out. Everything else, 422s of the schema's own rules
# included, still has to pass it.
(POSITIVE,) = [check for check in CHECKS_RUN if check.__name__ == "positive_data_acceptance"]


def refused_by_a_rule_beyond_the_schema(response: Any) -> bool:
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    if isinstance(detail, str):
        return bool(re.match(r"^[\w .-]+: ", detail))
    return bool(detail) and all(_beyond_the_schema(error) for error in detail)


def _beyond_the_schema(error: dict[str, Any]) -> bool:
    if error.get("type") == "value_error":
        return True
    given, least = error.get("input"), (error.get("ctx") or {}).get("min_length")
    stripped_short = isinstance(given, str) and isinstance(least, int) and len(given) >= least
    return error.get("type") == "string_too_short" and stripped_short


@pytest.fixture(scope="module")
def running_system() -> Iterator[tuple[str, str]]:
    with process_system(env={"DISPATCH1310_LOG_LEVEL": "WARNING"}) as system:
        wait_audit(system.nats.url)
        yield system.http_url, system.nats.url


def wait_audit(nats_url: str) -> None:
    """The audit answers reports; wait until it does (it starts beside the intake)."""

    async def ask() -> None:
        nc = await nats.connect(nats_url)
        try:
            for _ in range(100):
                try:
                    await nc.request("audit.query.responders", b"{}", timeout=0.5)
                    return
                except Exception:
                    await asyncio.sleep(0.1)
            raise AssertionError("the audit service never answered")
        finally:
            await nc.close()

    asyncio.run(ask())


def raised_count(nats_url: str) -> int:
    async def count() -> int:
        nc = await nats.connect(nats_url)
        try:
            info = await nc.jetstream().stream_info("CALLS", subjects_filter="calls.*.CallRaised")
            return sum((info.state.subjects or {}).values())
        finally:
            await nc.close()

    return asyncio.run(count())


@pytest.mark.parametrize("role", list(ROLES))
@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_check_and_nothing_stored_on_refusal(
    case: schemathesis.Case, role: str, running_system: tuple[str, str]
) -> None:
    base_url, nats_url = running_system
    is_raise = case.method == "POST" and case.path == "/api/calls"
    before = raised_count(nats_url) if is_raise else 0
    response = case.call(base_url=base_url, headers=ROLES[role], timeout=15)
    excluded = [POSITIVE] if refused_by_a_rule_beyond_the_schema(response) else []
    case.validate_response(
        response,
        checks=CHECKS_RUN,
        excluded_checks=excluded,
        headers=ROLES[role],
        # the checks that send requests of their own (another method, no auth, a header left out)
        transport_kwargs={"base_url": base_url, "headers": ROLES[role], "timeout": 15},
    )
    if is_raise and response.status_code >= 400:
        assert raised_count(nats_url) == before, "a refused raise stored a CallRaised"
