"""Shared fixtures: a real nats-server per test (free port, temp data dir)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from services.common.embedded_nats import EmbeddedNats
from services.common.jetstream_store import JetStreamEventStore
from services.common.streams import connect, ensure_streams


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
