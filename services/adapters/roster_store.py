"""The roster every service sees: JetStream KV bucket ``roster``, key ``current``.

``publish`` validates and stores a roster (a reload), sealed: token hashes keyed with the
intake's server key and device secrets kept in the intake's own bucket (``intake_secrets``),
so no service credential can sign a device alert or test guesses of a token. Only the intake
publishes. ``RosterHolder`` keeps the latest version in memory and follows updates with a KV
watch, so all services agree.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from events import subjects
from services.adapters.intake_secrets import store_device_secrets, token_key
from services.domain.roster import EscalationPolicy, Roster, parse_roster

KEY = "current"
log = structlog.get_logger("roster")


async def roster_bucket(nc: Client) -> KeyValue:
    return await nc.jetstream().key_value(subjects.ROSTER_BUCKET)


async def publish_roster(nc: Client, roster: Roster) -> Roster:
    """Seal and store ``roster`` unless the same version is already current; returns it sealed."""
    sealed = roster.sealed(await token_key(nc))
    bucket = await roster_bucket(nc)
    current = await read_roster(nc)
    if current is None or current.version != sealed.version:
        await store_device_secrets(nc, roster.device_secrets())
        # The escalation policy in force is kept under its version first: open calls keep
        # the chain they were raised with, whatever the roster says later.
        await bucket.put(policy_key(sealed.escalation.version), sealed.escalation.model_dump_json().encode())
        # A roster stored unsealed (by an older version) leaves no revision behind.
        rollup = {"Nats-Rollup": "sub"} if current is not None and not current.is_sealed else None
        await nc.jetstream().publish(f"$KV.{subjects.ROSTER_BUCKET}.{KEY}", sealed.to_json(), headers=rollup)
        log.info("roster_published", version=sealed.version, policy=sealed.escalation.version)
    return sealed


CONFIGURED_KEY = "configured"


async def publish_configured_roster(nc: Client, configured: Roster) -> Roster:
    """At the intake's start: make the configured roster (``DISPATCH1310_ROSTER`` or the demo)
    current only if it is new, or changed since it was last configured. A restart with the
    same file keeps a roster loaded since with ``dispatch1310 roster load``. Returns the
    roster now current (sealed)."""
    bucket = await roster_bucket(nc)
    current = await read_roster(nc)
    try:
        last = (await bucket.get(CONFIGURED_KEY)).value or b""
    except KeyNotFoundError:
        last = b""
    version = configured.sealed(await token_key(nc)).version
    if current is not None and last.decode() == version:
        return current
    published = await publish_roster(nc, configured)
    await bucket.put(CONFIGURED_KEY, version.encode())
    return published


def policy_key(version: str) -> str:
    return "policy." + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in version)


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
        self._policies: dict[str, EscalationPolicy] = {}

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

    async def policy(self, nc: Client, version: str) -> EscalationPolicy:
        """The escalation policy a call was raised under (cached); the current one if unknown."""
        cached = self._policies.get(version)
        if cached is not None:
            return cached
        if version == self.roster.escalation.version:
            policy = self.roster.escalation
        else:
            try:
                entry = await (await roster_bucket(nc)).get(policy_key(version))
                policy = EscalationPolicy.model_validate_json(entry.value or b"")
            except (KeyNotFoundError, ValueError):
                log.warning("policy_version_unknown", version=version, using=self.roster.escalation.version)
                return self.roster.escalation
        self._policies[version] = policy
        return policy

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
