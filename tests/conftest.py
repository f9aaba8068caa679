"""Shared fixtures: a real nats-server per test (free port, temp data dir)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
from nats.aio.client import Client

from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.streams import connect, ensure_streams
from services.dispatcher.app import build as build_dispatcher
from services.runtime.settings import Settings
from tests.support import EventLog, make_settings, running, serving_intake

if TYPE_CHECKING:
    from playwright.async_api import Browser


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


@asynccontextmanager
async def connected(server: EmbeddedNats) -> AsyncIterator[Client]:
    """A client of ``server``, with every stream declared."""
    client = await connect(server.url, "tests")
    await ensure_streams(client.jetstream())
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    async with connected(nats_server) as client:
        yield client


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


@asynccontextmanager
async def system_running(settings: Settings, nc: Client) -> AsyncIterator[System]:
    """The intake (on a real port) and the dispatcher, in-process, on ``nc``'s server."""
    dispatcher = await build_dispatcher(settings)
    async with serving_intake(settings) as http, running(dispatcher):
        yield System(settings, http, EventLog(JetStreamEventStore(nc)), nc)


@pytest.fixture
async def system(system_settings: Settings, nc: Client) -> AsyncIterator[System]:
    async with system_running(system_settings, nc) as running_system:
        yield running_system


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for every browser test (launching one, with Playwright's driver,
    cost about a second a test); each test has contexts of its own (tests/chromium.py)."""
    from tests.chromium import chromium

    async with chromium() as launched:
        yield launched
