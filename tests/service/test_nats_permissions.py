"""Each service connects as its own NATS user and may append only the event types it owns."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.js.api import ConsumerConfig

from events import subjects
from services.adapters import restart_point
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.nats_auth import ADMIN, authorization_block, load_passwords, url_with_user
from services.adapters.restart_point import RestartPoint
from services.adapters.streams import connect, ensure_streams
from services.audit.app import AuditService
from services.audit.app import build as build_audit
from services.dispatcher.app import build as build_dispatcher
from services.domain.event_store import StoreUnavailable
from tests.factories import raised
from tests.support import EventLog, make_settings, running, serving_intake, wait_for


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[EmbeddedNats, dict[str, str]]]:
    passwords = load_passwords(tmp_path)
    server = EmbeddedNats(tmp_path / "nats", extra_config=authorization_block(passwords)).start()
    try:
        yield server, passwords
    finally:
        server.stop()


def url(server: EmbeddedNats, passwords: dict[str, str], user: str) -> str:
    return url_with_user(server.url, user, passwords[user])


async def test_a_service_cannot_append_an_event_type_it_does_not_own(
    secured: tuple[EmbeddedNats, dict[str, str]],
) -> None:
    server, passwords = secured
    admin = await connect(url(server, passwords, ADMIN), "admin")
    await ensure_streams(admin.jetstream(), update=True)
    dispatcher = await connect(url(server, passwords, "dispatcher"), "dispatcher")
    try:
        with pytest.raises(StoreUnavailable):  # the server refuses; nothing is stored
            await JetStreamEventStore(dispatcher, timeout=1).append("c1", [raised("c1")], 0)
        assert (await JetStreamEventStore(admin).load("c1")) == ([], 0)
    finally:
        await dispatcher.close()
        await admin.close()


async def test_anonymous_clients_are_refused(secured: tuple[EmbeddedNats, dict[str, str]]) -> None:
    server, _ = secured
    with pytest.raises(Exception):  # noqa: B017 - nats-py raises different errors per version
        await connect(server.url, "anonymous", max_reconnect_attempts=0, allow_reconnect=False)


async def test_the_system_works_with_least_privilege_users(
    secured: tuple[EmbeddedNats, dict[str, str]], tmp_path: Path
) -> None:
    server, passwords = secured
    admin = await connect(url(server, passwords, ADMIN), "admin")
    await ensure_streams(admin.jetstream(), update=True)
    intake_settings = make_settings(url(server, passwords, "intake"), tmp_path)
    dispatcher = await build_dispatcher(intake_settings.with_(nats_url=url(server, passwords, "dispatcher")))
    try:
        async with serving_intake(intake_settings) as http, running(dispatcher):
            response = await http.post(
                "/api/calls", json={"caller": {"name": "王", "phone": "13800000000"}, "building_id": "b12"}
            )
            assert response.status_code == 201, response.text
            log = EventLog(JetStreamEventStore(admin))
            await log.wait_type(response.json()["call_id"], "ContactShared", timeout=3)
    finally:
        await admin.close()


async def test_the_audit_user_may_checkpoint_and_resume(
    secured: tuple[EmbeddedNats, dict[str, str]], tmp_path: Path
) -> None:
    server, passwords = secured
    admin = await connect(url(server, passwords, ADMIN), "admin")
    await ensure_streams(admin.jetstream(), update=True)
    await JetStreamEventStore(admin).append("c1", [raised("c1")], 0)
    settings = make_settings(url(server, passwords, "audit"), tmp_path)
    try:
        first = await build_audit(settings)
        assert isinstance(first, AuditService)
        async with running(first):
            await wait_for(lambda: first.state.last_seq >= 1, what="the audit folding c1")
        second = await build_audit(settings)
        assert isinstance(second, AuditService)
        async with running(second):
            assert second.resumed_from == 1  # its checkpoint was written under its own user
    finally:
        await admin.close()


async def test_a_service_cannot_touch_another_services_durable_consumer(
    secured: tuple[EmbeddedNats, dict[str, str]],
) -> None:
    server, passwords = secured
    admin = await connect(url(server, passwords, ADMIN), "admin")
    await ensure_streams(admin.jetstream(), update=True)
    await admin.jetstream().add_consumer("CALLS", ConsumerConfig(durable_name="dispatcher"))
    deadlines = await connect(url(server, passwords, "deadlines"), "deadlines")
    dispatcher = await connect(url(server, passwords, "dispatcher"), "dispatcher")
    try:
        with pytest.raises(Exception):  # noqa: B017 - refused by the server: a timeout or an error
            await deadlines.jetstream(timeout=1).delete_consumer("CALLS", "dispatcher")
        with pytest.raises(Exception):  # noqa: B017
            await deadlines.jetstream(timeout=1).consumer_info("CALLS", "dispatcher")
        # The owner may; and the consumer is still there.
        assert (
            await dispatcher.jetstream(timeout=2).consumer_info("CALLS", "dispatcher")
        ).name == "dispatcher"
        assert (await admin.jetstream().consumer_info("CALLS", "dispatcher")).name == "dispatcher"
    finally:
        await dispatcher.close()
        await deadlines.close()
        await admin.close()


async def test_each_follower_saves_its_own_restart_point_and_no_one_elses(
    secured: tuple[EmbeddedNats, dict[str, str]],
) -> None:
    server, passwords = secured
    admin = await connect(url(server, passwords, ADMIN), "admin")
    await ensure_streams(admin.jetstream(), update=True)
    point = RestartPoint(1, 0, "created")
    errors: list[str] = []  # what the server told the services' connections

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    try:
        for service, own in (("dispatcher", "dispatcher"), ("deadlines", "deadlines"), ("intake", "board")):
            nc = await connect(url(server, passwords, service), service, error_cb=on_error)
            try:
                await restart_point.save(nc, own, point)
                assert await restart_point.load(admin, own) == point
                other = {"dispatcher": "deadlines", "deadlines": "board", "board": "dispatcher"}[own]
                # Refused: the server says so (a permissions violation on the other's key) and
                # never acknowledges (the save would time out after 5 s: not waited for).
                attempt = asyncio.create_task(restart_point.save(nc, other, RestartPoint(99, 98, "created")))
                key = f"$KV.{subjects.RESTART_BUCKET}.{other}"
                await wait_for(
                    lambda key=key: any(
                        "permissions violation" in e.lower() and key.lower() in e.lower() for e in errors
                    ),
                    what=f"{service} refused {key}",
                )
                assert not attempt.done() or attempt.exception() is not None
                attempt.cancel()
                assert await restart_point.load(admin, other) in (None, point)
            finally:
                await nc.close()
    finally:
        await admin.close()
