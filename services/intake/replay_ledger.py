"""Signed device bodies already accepted, in the JetStream KV bucket ``devices``.

Entries expire after ``DEVICE_LEDGER_TTL_S`` (services/adapters/streams.py): twice the freshness
window plus slack, so no signature is forgotten while its timestamp can still be fresh.
Shared by every intake and kept across restarts, so a replayed body is refused wherever and
whenever it arrives within its window."""

from __future__ import annotations

import contextlib

from nats.aio.client import Client
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from events import subjects


class ReplayLedger:
    def __init__(self, bucket: KeyValue) -> None:
        self.bucket = bucket

    @classmethod
    async def open(cls, nc: Client) -> ReplayLedger:
        return cls(await nc.jetstream().key_value(subjects.DEVICES_BUCKET))

    async def claim(self, key: str) -> bool:
        """True for the first claim of ``key``; False for a replay (atomic across intakes)."""
        try:
            await self.bucket.create(key, b"")
        except KeyWrongLastSequenceError:
            return False
        return True

    async def release(self, key: str) -> None:
        """Forget a claim whose alert was not stored, so the device's retry is accepted."""
        with contextlib.suppress(Exception):
            await self.bucket.delete(key)
