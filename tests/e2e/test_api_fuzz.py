"""Schemathesis against /openapi.json, with a supervisor's token: no 5xx on any operation,
and a refused raise stores nothing. Runs the real services as processes on a real NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import nats
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.bench.system import process_system
from services.common.settings import Settings
from services.intake.app import create_app

# The schema comes from the app itself (no server needed to build it).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
SUPERVISOR = {"Authorization": "Bearer demo-supervisor"}
# Streams hold a connection open for ever: nothing to fuzz there.
schema = schema.exclude(path_regex=r".*/stream$")


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


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_nothing_stored_on_refusal(
    case: schemathesis.Case, running_system: tuple[str, str]
) -> None:
    base_url, nats_url = running_system
    is_raise = case.method == "POST" and case.path == "/api/calls"
    before = raised_count(nats_url) if is_raise else 0
    response = case.call(base_url=base_url, headers=SUPERVISOR, timeout=15)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
    if is_raise and response.status_code >= 400:
        assert raised_count(nats_url) == before, "a refused raise stored a CallRaised"
