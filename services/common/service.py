"""What every background service looks like to ``up``, ``service NAME`` and the tests.

A service is built by its composition root (``app.build(...)``) and then ``start``ed and
``stop``ped; tests run it in-process against a real nats-server, ``up`` runs it as a
process with ``run_service``, which stops it cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
from faststream.nats import NatsBroker


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


STOP_STEP_S = 5.0


class BrokerService:
    """A FastStream broker plus whatever else the service owns (closed in reverse order)."""

    def __init__(self, name: str, broker: NatsBroker, closers: list[Callable[[], Awaitable[None]]]) -> None:
        self.name = name
        self.broker = broker
        self.closers = closers

    async def start(self) -> None:
        await self.broker.start()
        structlog.get_logger(self.name).info("service_started")

    async def stop(self) -> None:
        """Stop consuming, then close what the service owns; a broken link does not stop the rest,
        and a step that hangs (a handler stuck on an away server) is given up after a while."""
        log = structlog.get_logger(self.name)
        for close in (self.broker.stop, *reversed(self.closers)):
            try:
                await asyncio.wait_for(close(), STOP_STEP_S)
            except Exception as exc:  # stopping must finish even when NATS is away
                log.warning("stop_step_failed", step=getattr(close, "__qualname__", "?"), error=repr(exc))
        log.info("service_stopped")


def run_service(build: Callable[[], Awaitable[Service]]) -> None:
    """Build, start, and wait for SIGTERM/SIGINT; then stop cleanly."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        service = await build()
        await service.start()
        try:
            await stop.wait()
        finally:
            await service.stop()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(main())
    else:
        uvloop.run(main())
