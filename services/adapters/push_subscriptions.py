"""The browsers each person subscribed for Web Push: JetStream KV bucket ``push-subscriptions``.

Key: the person's id; value: a JSON list of the browser's ``PushSubscription`` JSON
(``{"endpoint", "keys": {"p256dh", "auth"}}``), oldest first, at most ``MAX_PER_PERSON``
(the newest kept), one per endpoint. The intake adds and removes (the person's own requests),
the notifier reads and removes a subscription the push service says is gone (404/410).
Changes are compare-and-set on the key's revision, so two writers never lose each other's
change.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, field_validator

from events import subjects

MAX_PER_PERSON = 10
ATTEMPTS = 20  # compare-and-set tries before giving up (only writers of one person compete)
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a roster person id (services/domain/roster.py)
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def b64url_decode(value: str) -> bytes:
    if not _B64URL.match(value):
        raise ValueError("must be base64url")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("must be base64url") from None


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=64)

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        point = b64url_decode(value)
        if len(point) != 65 or point[0] != 4:
            raise ValueError("must be the base64url of an uncompressed P-256 point (65 bytes)")
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        if len(b64url_decode(value)) != 16:
            raise ValueError("must be the base64url of a 16-byte secret")
        return value


class PushSubscription(BaseModel):
    """A browser's ``PushSubscription.toJSON()`` (``expirationTime`` and the like ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    endpoint: str = Field(max_length=2048)
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        # A push service is https; plain http only to this host (tests, a local push service).
        if not (value.startswith("https://") or value.startswith("http://127.0.0.1")):
            raise ValueError("must be an https:// URL")
        if any(ch.isspace() for ch in value):
            raise ValueError("must not contain spaces")
        return value

    def as_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.keys.p256dh, "auth": self.keys.auth}}


def valid_person_key(person_id: str) -> bool:
    return bool(_KEY.match(person_id))


class PushSubscriptions:
    def __init__(self, bucket: KeyValue) -> None:
        self.bucket = bucket

    @classmethod
    async def open(cls, nc: Client) -> PushSubscriptions:
        return cls(await nc.jetstream().key_value(subjects.PUSH_SUBSCRIPTIONS_BUCKET))

    async def of(self, person_id: str) -> list[PushSubscription]:
        subscriptions, _ = await self._read(person_id)
        return subscriptions

    async def add(self, person_id: str, subscription: PushSubscription) -> None:
        def with_it(current: list[PushSubscription]) -> list[PushSubscription]:
            kept = [s for s in current if s.endpoint != subscription.endpoint]
            return [*kept, subscription][-MAX_PER_PERSON:]

        await self._change(person_id, with_it)

    async def remove(self, person_id: str, endpoint: str) -> bool:
        """Forget the subscription of ``endpoint``; False if there was none."""
        removed = False

        def without_it(current: list[PushSubscription]) -> list[PushSubscription]:
            nonlocal removed
            kept = [s for s in current if s.endpoint != endpoint]
            removed = len(kept) != len(current)
            return kept

        await self._change(person_id, without_it)
        return removed

    async def _read(self, person_id: str) -> tuple[list[PushSubscription], int]:
        if not valid_person_key(person_id):
            raise ValueError(f"not a person id: {person_id!r}")
        try:
            entry = await self.bucket.get(person_id)
        except KeyNotFoundError:  # never set, or deleted (create() takes both)
            return [], 0
        raw = json.loads(entry.value or b"[]")
        subscriptions = [PushSubscription.model_validate(item) for item in raw]
        return subscriptions, entry.revision or 0

    async def _change(
        self, person_id: str, change: Callable[[list[PushSubscription]], list[PushSubscription]]
    ) -> None:
        for _ in range(ATTEMPTS):
            current, revision = await self._read(person_id)
            updated = change(current)
            if updated == current:
                return
            value = json.dumps([s.as_json() for s in updated], separators=(",", ":")).encode()
            try:
                if revision == 0:
                    await self.bucket.create(person_id, value)
                else:
                    await self.bucket.update(person_id, value, last=revision)
            except KeyWrongLastSequenceError:
                continue  # someone else changed this person's list: read it again
            return
        raise RuntimeError(f"push subscriptions of {person_id}: too many concurrent changes")
