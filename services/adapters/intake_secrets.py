"""What only the intake reads: KV bucket ``intake-secrets`` (every other NATS user is denied it).

``token-key``: the server key bearer-token hashes are keyed with, made once on first use and
shared by every intake; ``devices``: each registered device's HMAC secret, by device id.
"""

from __future__ import annotations

import contextlib
import json
import secrets

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from events import subjects

TOKEN_KEY = "token-key"
DEVICES = "devices"


async def secrets_bucket(nc: Client) -> KeyValue:
    return await nc.jetstream().key_value(subjects.SECRETS_BUCKET)


async def token_key(nc: Client) -> bytes:
    bucket = await secrets_bucket(nc)
    try:
        return (await bucket.get(TOKEN_KEY)).value or b""
    except KeyNotFoundError:
        pass
    with contextlib.suppress(KeyWrongLastSequenceError):  # another intake made it first: theirs
        await bucket.create(TOKEN_KEY, secrets.token_hex(32).encode())
    return (await bucket.get(TOKEN_KEY)).value or b""


async def store_device_secrets(nc: Client, by_device: dict[str, str]) -> None:
    await (await secrets_bucket(nc)).put(DEVICES, json.dumps(by_device, sort_keys=True).encode())


async def device_secret(nc: Client, device_id: str) -> str | None:
    try:
        entry = await (await secrets_bucket(nc)).get(DEVICES)
    except KeyNotFoundError:
        return None
    secret = json.loads(entry.value or b"{}").get(device_id)
    return secret if isinstance(secret, str) else None
