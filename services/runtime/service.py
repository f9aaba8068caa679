"""What every background service looks like to ``up``, ``service NAME`` and the tests.

A service is built by its composition root (``app.build(...)``) and then ``start``ed and
``stop``ped; tests run it in-process against a real nats-server, ``up`` runs it as a
process with ``run_service``, which stops it cleanly on SIGTERM/SIGINT, and always within
``STOP_DEADLINE_S``: also while it is still starting, or while NATS is away.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from services.runtime.lifeline import STOP_DEADLINE_S, exit_deadline


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


STOP_BUDGET_S = STOP_DEADLINE_S - 1.0  # every step of a graceful stop, together


class BrokerService:
    """A service's consumer (services/adapters/consumer.py) plus whatever else it owns
    (closed in reverse order)."""

    def __init__(self, name: str, broker: Service, closers: list[Callable[[], Awaitable[None]]]) -> None:
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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_BUDGET_S
        for close in (self.broker.stop, *reversed(self.closers)):
            step = getattr(close, "__qualname__", "?")
            task = asyncio.ensure_future(close())
            # What the earlier steps left of the budget (a last step still gets a moment). Not
            # wait_for: it waits for the cancelled step to end, and a step stuck on an away
            # server may not.
            await asyncio.wait({task}, timeout=max(deadline - loop.time(), 0.05))
            if not task.done():
                task.cancel()
                log.warning("stop_step_given_up", step=step)
            elif not task.cancelled() and task.exception() is not None:
                # stopping must finish even when NATS is away
                log.warning("stop_step_failed", step=step, error=repr(task.exception()))
        log.info("service_stopped")


def run_service(
    build: Callable[[], Awaitable[Service]], on_started: Callable[[], None] | None = None
) -> None:
    """Build, start (then ``on_started()``), and wait for SIGTERM/SIGINT; then stop cleanly,
    within ``STOP_DEADLINE_S``.

    A signal that comes while the service is still being built (NATS away) ends the start."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def request_stop() -> None:
            exit_deadline(STOP_DEADLINE_S)
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, request_stop)

        async def build_and_start() -> Service:
            service = await build()
            await service.start()
            if on_started is not None:
                on_started()
            return service

        starting = asyncio.create_task(build_and_start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()  # stopped while starting: nothing was serving yet
            await asyncio.gather(starting, return_exceptions=True)
            return
        stopping.cancel()
        service = starting.result()
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
