"""Secrets kept secret (issue 16): private files, device secrets for the intake only, keyed
token hashes, query tokens on the SSE streams only, a reply inbox per NATS user."""

from __future__ import annotations

import hashlib
import logging
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from services.adapters.embedded_nats import EmbeddedCluster, EmbeddedNats
from services.adapters.jetstream_store import read_messages
from services.adapters.nats_auth import ADMIN, authorization_block, load_passwords, url_with_user
from services.adapters.streams import connect, ensure_streams
from services.audit.app import build as build_audit
from services.domain.roster import load_roster_file
from services.runtime.settings import Settings
from tests.service.conftest import System
from tests.service.test_devices import SECRET, signed, sos
from tests.support import make_settings, running, serving_intake, wait_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ files


def test_the_embedded_servers_credentials_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    nats_dir = tmp_path / "data" / "nats"
    nats_dir.mkdir(parents=True, mode=0o755)  # as an older version left it: world-readable
    (nats_dir / "nats-server.conf").write_text("listen: 127.0.0.1:4222\n")
    (nats_dir / "nats-server.conf").chmod(0o644)
    passwords = load_passwords(nats_dir)  # what `up` does, in this order
    with EmbeddedNats(nats_dir, extra_config=authorization_block(passwords)):
        config = nats_dir / "nats-server.conf"
        assert passwords[ADMIN] in config.read_text()
        assert mode(config) == 0o600
        assert mode(nats_dir / "nats-users.json") == 0o600
        assert mode(nats_dir) == 0o700


def test_a_cluster_nodes_config_is_private_too(tmp_path: Path) -> None:
    nats_dir = tmp_path / "nats"
    passwords = load_passwords(nats_dir)
    cluster = EmbeddedCluster(nats_dir, size=3, extra_config=authorization_block(passwords))
    node = cluster.nodes[0]
    node.start_process()  # writes its config; the other nodes are not needed to look at it
    try:
        assert passwords[ADMIN] in (node.data_dir / "nats-server.conf").read_text()
        assert mode(node.data_dir / "nats-server.conf") == 0o600
        assert mode(node.data_dir) == 0o700
        assert mode(nats_dir) == 0o700
    finally:
        node.kill()


# ------------------------------------------------- a system under NATS users


@dataclass
class Secured:
    server: EmbeddedNats
    passwords: dict[str, str]
    admin: Client
    http: httpx.AsyncClient

    def url(self, user: str) -> str:
        return url_with_user(self.server.url, user, self.passwords[user])


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Secured]:
    """The intake as its own NATS user under the generated authorization, as `up` runs it."""
    passwords = load_passwords(tmp_path / "nats")
    server = EmbeddedNats(tmp_path / "nats", extra_config=authorization_block(passwords)).start()
    admin = await connect(url_with_user(server.url, ADMIN, passwords[ADMIN]), "admin")
    try:
        await ensure_streams(admin.jetstream(), update=True)
        settings = make_settings(url_with_user(server.url, "intake", passwords["intake"]), tmp_path)
        async with serving_intake(settings) as http:
            yield Secured(server, passwords, admin, http)
    finally:
        await admin.close()
        server.stop()


async def stored_bytes(nc: Client, bucket: str) -> bytes:
    """Every revision ever stored in a KV bucket (its whole stream), concatenated."""
    return b"\n".join([msg.data async for msg in read_messages(nc, f"KV_{bucket}", f"$KV.{bucket}.>")])


async def test_only_the_intake_can_read_device_secrets(secured: Secured) -> None:
    raw, headers = signed(sos())
    response = await secured.http.post("/api/alerts/device", content=raw, headers=headers)
    assert response.status_code == 201, response.text  # the intake still verifies a device

    stored = await stored_bytes(secured.admin, "roster")
    assert b"bracelet-7" in stored and SECRET.encode() not in stored

    intake = await connect(secured.url("intake"), "intake")
    try:
        secrets = await (await intake.jetstream().key_value("intake-secrets")).get("devices")
        assert SECRET.encode() in (secrets.value or b"")
    finally:
        await intake.close()
    for user in ("dispatcher", "notifier", "deadlines", "audit"):
        nc = await connect(secured.url(user), user)
        try:
            current = await (await nc.jetstream().key_value("roster")).get("current")
            assert b"bracelet-7" in (current.value or b"")  # every service reads the roster
            assert SECRET.encode() not in (current.value or b"")
            bucket = await nc.jetstream(timeout=1).key_value("intake-secrets")
            with pytest.raises(Exception):  # noqa: B017 - refused by the server: an error or a timeout
                await bucket.get("devices")
        finally:
            await nc.close()


async def test_the_roster_bucket_holds_keyed_token_hashes_and_logins_still_work(secured: Secured) -> None:
    tokens = [p.token for p in load_roster_file(None).people.values() if p.token]
    stored = await stored_bytes(secured.admin, "roster")
    for token in tokens:
        assert token.encode() not in stored
        assert hashlib.sha256(token.encode()).hexdigest().encode() not in stored, token
    assert (await secured.http.get("/api/board", headers=bearer("demo-supervisor"))).status_code == 200
    assert (await secured.http.get("/api/board", headers=bearer("demo-nobody"))).status_code == 401

    # A roster file that gives the token's SHA-256 (no token) still logs its people in.
    digest = hashlib.sha256(b"only-its-digest-is-in-the-file").hexdigest()
    roster = (
        '{"community": {"id": "c", "name": "C"},'
        f' "supervisors": [{{"id": "s9", "name": "S9", "token_sha256": "{digest}"}}]}}'
    )
    loaded = await secured.http.post("/api/roster", content=roster, headers=bearer("demo-supervisor"))
    assert loaded.status_code == 200, loaded.text
    board = await secured.http.get("/api/board", headers=bearer("only-its-digest-is-in-the-file"))
    assert board.status_code == 200
    assert digest.encode() not in await stored_bytes(secured.admin, "roster")


async def test_a_service_can_neither_read_nor_forge_another_services_replies(secured: Secured) -> None:
    refused: list[str] = []

    async def on_error(exc: Exception) -> None:
        refused.append(str(exc))

    dispatcher = await connect(secured.url("dispatcher"), "dispatcher", error_cb=on_error)
    intake = await connect(secured.url("intake"), "intake")
    snooped: list[str] = []
    delivered: list[bytes] = []

    async def snoop(msg: Msg) -> None:
        snooped.append(msg.subject)

    async def deliver(msg: Msg) -> None:
        delivered.append(msg.data)

    try:
        await dispatcher.subscribe("_INBOX.>", cb=snoop)
        await dispatcher.subscribe("_INBOX_intake.>", cb=snoop)
        await dispatcher.flush()
        await intake.jetstream().stream_info("CALLS")  # a request answered on the intake's inbox
        inbox = intake.new_inbox()
        await intake.subscribe(inbox, cb=deliver)
        await intake.flush()
        await dispatcher.publish(inbox, b"a forged reply")
        await dispatcher.flush()
        await wait_for(
            lambda: sum("permissions violation" in e.lower() for e in refused) >= 3,
            what=f"the server to refuse both subscriptions and the publish (saw {refused})",
        )
        await intake.flush()
        assert snooped == [] and delivered == []
    finally:
        await dispatcher.close()
        await intake.close()


async def test_the_audit_answers_the_intakes_queries_under_its_own_user(
    secured: Secured, tmp_path: Path
) -> None:
    audit = await build_audit(make_settings(secured.url("audit"), tmp_path))
    intake = await connect(secured.url("intake"), "intake")
    try:
        async with running(audit):
            reply = await intake.request("audit.query.digest", b"{}", timeout=5)
            assert b'"ok":true' in reply.data.replace(b" ", b"")
    finally:
        await intake.close()


# ------------------------------------------------------- tokens in the query


async def test_a_query_token_is_accepted_by_the_sse_streams_only(system: System) -> None:
    call_id = (await system.raise_call("b12"))["call_id"]
    query = {"access_token": "demo-supervisor"}
    note = await system.http.post(f"/api/calls/{call_id}/notes", params=query, json={"text": "x"})
    assert note.status_code == 401
    assert (await system.http.get("/api/board", params=query)).status_code == 401
    async with system.http.stream("GET", "/api/board/stream", params=query) as stream:
        assert stream.status_code == 200
    g1 = {"access_token": "demo-g1"}
    async with system.http.stream("GET", "/api/responders/g1/stream", params=g1) as stream:
        assert stream.status_code == 200


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_the_access_log_never_shows_a_query_token(system_settings: Settings, nc: Client) -> None:
    access = logging.getLogger("uvicorn.access")
    lines = Lines()
    async with serving_intake(system_settings, log_level="info") as http:
        access.addHandler(lines)  # after uvicorn configured its loggers
        try:
            query = {"access_token": "demo-supervisor"}
            async with http.stream("GET", "/api/board/stream", params=query) as stream:
                assert stream.status_code == 200
            await wait_for(
                lambda: any("/api/board/stream" in line for line in lines.lines), what="access log"
            )
        finally:
            access.removeHandler(lines)
    logged = "\n".join(lines.lines)
    assert "demo-supervisor" not in logged
    assert "access_token=" in logged  # redacted, not dropped: the line still says a token was sent
