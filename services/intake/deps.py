"""What the intake's routes need, built once by the composition root (app.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import HTTPException, Request
from nats.aio.client import Client

from events.commands import Command
from events.models import CallEvent
from services.adapters.answer_links import AnswerLinks
from services.adapters.push_subscriptions import PushSubscriptions
from services.adapters.roster_store import RosterHolder
from services.adapters.vapid import VapidKeys
from services.domain.aggregate import ACTIVE, CallState, DomainError
from services.domain.calls import Calls
from services.domain.clock import Clock
from services.domain.duty import DutyBook, on_duty
from services.domain.event_store import ConcurrencyConflict, EventStore, StoreUnavailable
from services.domain.roster import Roster
from services.intake.desk import DeskView
from services.intake.device_desk import DeviceDesk
from services.intake.errors import http_error
from services.intake.live import LiveCalls
from services.runtime.settings import Settings

STORE_RETRY_S = 4.0
T = TypeVar("T")


@dataclass
class IntakeDeps:
    settings: Settings
    nc: Client | None
    store: EventStore
    calls: Calls
    clock: Clock
    rosters: RosterHolder
    webhook_secret: str  # checks inbound SMS/voice answers (routes/inbound.py)
    token_key: bytes = b""  # bearer tokens are looked up by keyed_hash(token_key, sha256)
    links: AnswerLinks | None = None  # one-tap answer links (answers.py)
    live: LiveCalls = field(default_factory=LiveCalls)  # the open calls and the board's streams
    desk: DeskView = field(default_factory=DeskView)  # availability and duty overrides
    devices: DeviceDesk = field(default_factory=DeviceDesk)  # routes/devices.py
    vapid: VapidKeys | None = None  # loaded at first use (routes/push.py)
    push_subscriptions: PushSubscriptions | None = None  # opened at first use (routes/push.py)

    @property
    def roster(self) -> Roster:
        return self.rosters.roster

    @property
    def duty_book(self) -> DutyBook:
        return self.desk.book

    def busy_people(self) -> frozenset[str]:
        """Who holds an open call now (the desk's "busy")."""
        return frozenset(
            person
            for state in self.live.open.values()
            for person, a in state.assignments.items()
            if a.status in ACTIVE
        )

    def is_duty_officer(self, person_id: str) -> bool:
        """Whether ``person_id`` is an officer on duty now (the desk's powers: see ``duty_scope``)."""
        scope = self.duty_scope(person_id)
        return scope is None or bool(scope)

    def duty_scope(self, person_id: str) -> frozenset[str] | None:
        """The communities whose desk ``person_id`` holds now (empty: none); None: the
        county's own desk, whose officer acts everywhere."""
        roster, now = self.roster, self.clock.now()
        held = frozenset(
            desk.id
            for desk in roster.desks
            if (officer := on_duty(desk, self.desk.book.overrides, now).on_duty) is not None
            and officer.id == person_id
        )
        return None if roster.is_county and roster.desk.id in held else held


def deps_of(request: Request) -> IntakeDeps:
    deps: IntakeDeps = request.app.state.deps
    return deps


def unavailable(detail: str = "the event store is unavailable; retry shortly") -> HTTPException:
    return HTTPException(503, detail, headers={"Retry-After": "2"})


async def execute(
    deps: IntakeDeps, command: Command, known: tuple[CallState, int] | None = None
) -> tuple[CallState, list[CallEvent]]:
    """Run a command; domain errors become their HTTP status, a store away 503 (``retrying``)."""
    try:
        return await retrying(deps, lambda: deps.calls.execute(command, known))
    except DomainError as exc:
        raise http_error(exc) from None


async def retrying(deps: IntakeDeps, operation: Callable[[], Awaitable[T]]) -> T:
    """Run an operation on the store, retried while the store is briefly away.

    A store that is briefly away (a reconnect, a cluster electing a new stream leader) is
    retried for up to ``STORE_RETRY_S`` before the caller gets 503 + Retry-After. Retrying
    is safe: event ids are derived or the append is idempotent, so nothing is stored twice.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STORE_RETRY_S
    while True:
        try:
            if deps.nc is not None and not deps.nc.is_connected:
                raise StoreUnavailable("not connected to NATS")
            return await operation()
        except (StoreUnavailable, ConcurrencyConflict) as exc:
            if loop.time() >= deadline:
                raise unavailable(f"{exc}; nothing was stored, retry shortly") from None
            await asyncio.sleep(0.1)


async def load_call(deps: IntakeDeps, call_id: str) -> CallState:
    try:
        state, _ = await deps.calls.load(call_id)
    except StoreUnavailable:
        raise unavailable() from None
    if state.status == "new":
        raise HTTPException(404, f"no call {call_id}")
    return state
