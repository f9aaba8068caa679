"""Shared fixtures: a real nats-server per test (free port, temp data dir)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.streams import connect, ensure_streams
from services.dispatcher.app import build as build_dispatcher
from services.runtime.settings import Settings
from tests.support import EventLog, make_settings, running, serving_intake


def _temp_files_in_memory() -> None:
    """Temporary files (every test's nats-server data, ``up``'s data dirs) on tmpfs when the
    machine has one: the servers run with ``sync_interval: always``, an fsync per message, which
    on a busy disk made JetStream-heavy tests several times slower (10,000 events: 6 s -> 1 s).
    What the tests prove holds the same: a process killed with -9 loses nothing written before
    either way (the page cache survives it); no test cuts the power.
    ``DISPATCH1310_TEST_TMPDIR`` chooses another place; set empty, the system's default."""
    chosen = os.environ.get("DISPATCH1310_TEST_TMPDIR", "/dev/shm")
    if chosen and os.path.isdir(chosen) and os.access(chosen, os.W_OK):
        os.environ["TMPDIR"] = chosen  # the services and servers the tests start, too
        tempfile.tempdir = None  # asked again: TMPDIR


_temp_files_in_memory()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    client = await connect(nats_server.url, "tests")
    await ensure_streams(client.jetstream())
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def js_store(nc: Client) -> JetStreamEventStore:
    return JetStreamEventStore(nc)


@dataclass
class System:
    settings: Settings
    http: httpx.AsyncClient
    log: EventLog
    nc: Client

    async def raise_call(self, building_id: str | None = "b12", **fields: object) -> dict:
        body = {
            "caller": {"name": "王阿姨", "phone": "13800000000"},
            "building_id": building_id,
            "kind": "flood",
        }
        body.update(fields)
        response = await self.http.post("/api/calls", json=body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    return make_settings(nats_server.url, tmp_path)


@pytest.fixture
async def system(system_settings: Settings, nc: Client) -> AsyncIterator[System]:
    dispatcher = await build_dispatcher(system_settings)
    async with serving_intake(system_settings) as http, running(dispatcher):
        yield System(system_settings, http, EventLog(JetStreamEventStore(nc)), nc)
