"""`dispatch1310 replay` against a server secured as `up` secures it (least-privilege users,
credentials in the data dir): given the URL `up` prints, or nothing, it finds the admin
credentials by itself; a wrong data dir or a stopped server is one line, not a loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.adapters.embedded_nats import EmbeddedNats, free_port
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.nats_auth import ADMIN, authorization_block, load_passwords, url_with_user
from services.adapters.streams import connect, ensure_streams
from services.audit.app import build as build_audit
from services.cli.main import main
from services.dispatcher.app import build as build_dispatcher
from tests.support import EventLog, make_settings, running, serving_intake


@dataclass
class Secured:
    url: str  # as `up` prints it: no credentials
    data_dir: Path
    admin_password: str
    call_id: str


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Secured]:
    data_dir = tmp_path / "data"
    nats_dir = data_dir / "nats"  # where `up` keeps the server's config and passwords
    passwords = load_passwords(nats_dir)
    server = EmbeddedNats(nats_dir, extra_config=authorization_block(passwords)).start()
    try:
        as_user = {user: url_with_user(server.url, user, passwords[user]) for user in passwords}
        admin = await connect(as_user[ADMIN], "admin")
        await ensure_streams(admin.jetstream(), update=True)
        settings = make_settings(as_user["intake"], tmp_path)
        dispatcher = await build_dispatcher(settings.with_(nats_url=as_user["dispatcher"]))
        audit = await build_audit(settings.with_(nats_url=as_user["audit"]))
        try:
            async with serving_intake(settings) as http, running(dispatcher), running(audit):
                body = {"caller": {"name": "王", "phone": "13800000000"}, "building_id": "b12"}
                response = await http.post("/api/calls", json=body)
                assert response.status_code == 201, response.text
                call_id = response.json()["call_id"]
                await EventLog(JetStreamEventStore(admin)).wait_type(call_id, "ContactShared")
                yield Secured(server.url, data_dir, passwords[ADMIN], call_id)
        finally:
            await admin.close()
    finally:
        server.stop()


async def cli(*argv: str) -> int:
    # Bounded: a CLI that loops on a refused connection fails the test instead of hanging it.
    return await asyncio.wait_for(asyncio.to_thread(main, list(argv)), timeout=30)


async def test_replay_finds_the_credentials_up_keeps(
    secured: Secured, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISPATCH1310_DATA", str(secured.data_dir))
    monkeypatch.setenv("NATS_URL", secured.url)  # what `up` prints: nats://127.0.0.1:PORT
    assert await cli("replay") == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["calls"] == 1 and result["events"] >= 3
    assert result["live_compared"] is True and result["differences"] == []
    assert "Traceback" not in captured.err and "Authorization Violation" not in captured.err
    assert "the same as the live audit" in captured.err  # progress and a verdict, on stderr
    assert secured.admin_password not in captured.out + captured.err  # never printed
    # No NATS_URL at all: the server `up` runs from the data dir.
    monkeypatch.delenv("NATS_URL")
    assert await cli("replay") == 0
    assert json.loads(capsys.readouterr().out)["calls"] == 1
    # `verify` finds them the same way.
    monkeypatch.setenv("NATS_URL", secured.url)
    assert await cli("verify", "--json", "--no-notifications") in (0, 1)
    assert json.loads(capsys.readouterr().out)["calls"] == 1


def only_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("dispatch1310")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


async def test_replay_says_in_one_line_why_it_cannot_read(
    secured: Secured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Elsewhere than up's data dir: the server refuses, said once (no retry loop).
    monkeypatch.setenv("DISPATCH1310_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("NATS_URL", secured.url)
    assert await cli("replay") == 2
    line = only_line(capsys.readouterr().err)
    assert "refused the credentials (Authorization Violation)" in line and "DISPATCH1310_DATA" in line
    # Nothing to read at all.
    monkeypatch.delenv("NATS_URL")
    assert await cli("replay") == 2
    assert "set NATS_URL" in only_line(capsys.readouterr().err)
    # NATS not running.
    port = free_port()
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{port}")
    assert await cli("replay") == 2
    line = only_line(capsys.readouterr().err)
    assert f"cannot reach NATS at nats://127.0.0.1:{port} (connection refused)" in line
