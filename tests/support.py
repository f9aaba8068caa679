"""Test helpers: wait on a condition (never sleep blindly), run the system in-process."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from services.adapters.embedded_nats import free_port
from services.adapters.jetstream_store import JetStreamEventStore
from services.domain.event_store import StoredEvent
from services.runtime.service import Service
from services.runtime.settings import Settings, Targets

T = TypeVar("T")


async def wait_for(
    check: Callable[[], Awaitable[T | None]] | Callable[[], T | None],
    timeout: float = 5.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def make_settings(nats_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(
        nats_url=nats_url,
        data_dir=tmp_path,
        http_host="127.0.0.1",
        http_port=free_port(),
        targets=Targets(0.5, 1.5, 3.0),
        ack_timeout_s=30.0,
        auth=True,
        merge_window_s=300.0,
        sweep_interval_s=0.5,
        # Tests play many residents from one address: calls are held for triage only where a
        # test asks for the contract's budget (5).
        new_phones_per_address=1_000_000,
    )
    return base.with_(**overrides)


@asynccontextmanager
async def serving_intake(
    settings: Settings, log_level: str = "warning", **app_kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The intake app on a real port (SSE needs a real server), with a client for it."""
    from services.intake.app import create_app

    config = uvicorn.Config(
        create_app(settings, **app_kwargs),
        host=settings.http_host,
        port=settings.http_port,
        log_level=log_level,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, timeout=20, what="intake to start")
    try:
        async with httpx.AsyncClient(base_url=settings.http_url, timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def serving_fake(app: Any, what: str) -> AsyncIterator[str]:
    """A local HTTP server playing a provider (an ASGI ``app``) on a free loopback port: its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, what=what)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@dataclass
class EventLog:
    """Read a call's events straight from the stream, for assertions."""

    store: JetStreamEventStore
    seen: list[StoredEvent] = field(default_factory=list)

    async def of(self, call_id: str) -> list[StoredEvent]:
        events, _ = await self.store.load(call_id)
        return events

    async def types(self, call_id: str) -> list[str]:
        return [item.event.type for item in await self.of(call_id)]

    async def wait_type(
        self, call_id: str, event_type: str, count: int = 1, timeout: float = 5.0
    ) -> list[Any]:
        async def found() -> list[Any] | None:
            matching = [i.event for i in await self.of(call_id) if i.event.type == event_type]
            return matching if len(matching) >= count else None

        return await wait_for(found, timeout=timeout, what=f"{count} x {event_type} on call {call_id}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expected_misses(events: list) -> Counter[str]:  # type: ignore[type-arg]
    """Nobody answers in this surge: reach and onsite are overdue on every call. Contact is
    overdue where the first ContactShared came after its due time (the dispatcher was down
    when the call came in), or where the clock found it unshared at the due time: a
    ContactShared decided just before the due time but stored after the DeadlineMissed."""
    due_contact = events[0].due.contact
    types = [e.type for e in events]
    first_shared = types.index("ContactShared") if "ContactShared" in types else None
    missed_first = [i for i, e in enumerate(events) if e.type == "DeadlineMissed" and e.stage == "contact"]
    contact_overdue = (
        first_shared is None
        or events[first_shared].at > due_contact
        or bool(missed_first and missed_first[0] < first_shared)
    )
    return Counter({"reach": 1, "onsite": 1, **({"contact": 1} if contact_overdue else {})})
