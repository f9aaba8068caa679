"""The one composition root: connect the infrastructure once, hand each service its ports.

As in cosmicpython's ``bootstrap.py``: ``bootstrap(name, settings, compose)`` checks what the
service needs of the settings, connects to NATS, makes sure every stream exists, and calls the
service's ``compose`` with the ports it names as keyword-only parameters:

    settings  nc  store  clock  ids  calls  rosters  links  webhook_secret

plus whatever the caller gives (tests: a manual clock, fake channels). Only what ``compose``
names is made: the deadline keeper follows no roster, the dispatcher makes no link key. If
``compose`` fails, what was connected for it is closed again; once it returns, the service owns
the connection (it closes ``nc`` when it stops).
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from nats.aio.client import Client

from services.adapters.answer_links import AnswerLinks, load_link_key
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.roster_store import RosterHolder, publish_configured_roster
from services.adapters.streams import connect, ensure_streams
from services.domain.calls import Calls
from services.domain.clock import Clock, SystemClock
from services.domain.ids import IdFactory, RandomIds
from services.domain.roster import load_roster_file
from services.runtime.private_files import create_private_once
from services.runtime.settings import DEV_WEBHOOK_SECRET, Settings, SettingsError, checked_webhook_secret

__all__ = ["PORTS", "bootstrap", "check_settings", "nats_url", "webhook_secret"]

S = TypeVar("S")

PORTS = frozenset({"settings", "nc", "store", "clock", "ids", "calls", "rosters", "links", "webhook_secret"})
WEBHOOK_SECRET_FILE = Path("keys") / "webhook-secret"


def nats_url(settings: Settings, service: str) -> str:
    """The NATS a service runs against; a service never starts an embedded one of its own."""
    if not settings.nats_url:
        raise SettingsError(
            f"NATS_URL must be set to run the {service} service "
            "(dispatch1310 up sets it for the services it starts)"
        )
    return settings.nats_url


def check_settings(service: str, settings: Settings) -> None:
    """What a service refuses to start without: a NATS to run on, no development secret
    while auth is on. Called before anything connects (``dispatch1310 service NAME``)."""
    nats_url(settings, service)
    checked_webhook_secret(settings.webhook_secret, settings.auth)


def webhook_secret(settings: Settings) -> str:
    """``DISPATCH1310_WEBHOOK_SECRET``; unset, one made once in the data dir (so every service
    started by ``up`` agrees on it), or with auth off the development secret, as ever."""
    configured = checked_webhook_secret(settings.webhook_secret, settings.auth)
    if configured:
        return configured
    if not settings.auth:
        return DEV_WEBHOOK_SECRET
    path = settings.data_dir / WEBHOOK_SECRET_FILE
    return create_private_once(path, secrets.token_urlsafe(32).encode()).decode().strip()


async def bootstrap(
    service: str,
    settings: Settings,
    compose: Callable[..., Awaitable[S]],
    *,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    publish_roster: bool = False,
    **given: Any,
) -> S:
    """Connect for ``service`` and return what ``compose`` builds from its ports.

    ``publish_roster``: make the configured roster current before following it (the intake's
    part: it alone publishes rosters). ``given`` go to ``compose`` as they are."""
    check_settings(service, settings)
    wanted = [name for name in inspect.signature(compose).parameters if name in PORTS and name not in given]
    nc = await connect(nats_url(settings, service), service)
    rosters: RosterHolder | None = None
    try:
        await ensure_streams(nc.jetstream(), settings.replicas)
        if "rosters" in wanted:
            rosters = await _follow_rosters(nc, settings, publish_roster)
        ports = _Ports(settings, nc, clock or SystemClock(), ids or RandomIds(), rosters)
        return await compose(**{name: getattr(ports, name) for name in wanted}, **given)
    except BaseException:
        if rosters is not None:
            await rosters.close()
        await nc.close()
        raise


async def _follow_rosters(nc: Client, settings: Settings, publish: bool) -> RosterHolder:
    configured = load_roster_file(settings.roster_path)
    current = await publish_configured_roster(nc, configured) if publish else configured
    return await RosterHolder.follow(nc, current)


class _Ports:
    """The ports by name; the file-backed ones made only when asked for."""

    def __init__(
        self, settings: Settings, nc: Client, clock: Clock, ids: IdFactory, rosters: RosterHolder | None
    ) -> None:
        self.settings = settings
        self.nc = nc
        self.clock = clock
        self.ids = ids
        self.store = JetStreamEventStore(nc)
        self.calls = Calls(self.store, clock, ids)
        self._rosters = rosters

    @property
    def rosters(self) -> RosterHolder:
        assert self._rosters is not None  # followed by bootstrap when compose names it
        return self._rosters

    @property
    def links(self) -> AnswerLinks:
        return AnswerLinks(load_link_key(self.settings.data_dir), self.settings.public_url)

    @property
    def webhook_secret(self) -> str:
        return webhook_secret(self.settings)
