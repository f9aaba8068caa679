"""The roster every service sees: JetStream KV bucket ``roster``, key ``current``.

``publish`` validates and stores a roster (a reload); ``RosterHolder`` keeps the latest
version in memory and follows updates with a KV watch, so all services agree.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from events import subjects
from services.common.roster import Roster, parse_roster

KEY = "current"
log = structlog.get_logger("roster")


async def roster_bucket(nc: Client) -> KeyValue:
    return await nc.jetstream().key_value(subjects.ROSTER_BUCKET)


async def publish_roster(nc: Client, roster: Roster) -> str:
    """Store ``roster`` unless the same version is already current; returns its version."""
    bucket = await roster_bucket(nc)
    current = await read_roster(nc)
    if current is None or current.version != roster.version:
        await bucket.put(KEY, roster.to_json())
        log.info("roster_published", version=roster.version)
    return roster.version


async def read_roster(nc: Client) -> Roster | None:
    bucket = await roster_bucket(nc)
    try:
        entry = await bucket.get(KEY)
    except KeyNotFoundError:
        return None
    return parse_roster(entry.value or b"", "roster bucket") if entry.value else None


class RosterHolder:
    """The current roster, kept up to date in the background."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def follow(cls, nc: Client, fallback: Roster) -> RosterHolder:
        holder = cls(await read_roster(nc) or fallback)
        holder._task = asyncio.create_task(holder._watch(nc))
        return holder

    async def _watch(self, nc: Client) -> None:
        bucket = await roster_bucket(nc)
        watcher = await bucket.watch(KEY, include_history=False)
        async for entry in watcher:
            if entry is None or not entry.value:
                continue
            try:
                roster = parse_roster(entry.value, "roster bucket")
            except ValueError as exc:
                log.error("roster_update_rejected", error=str(exc))
                continue
            if roster.version != self.roster.version:
                self.roster = roster
                log.info("roster_reloaded", version=roster.version)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
