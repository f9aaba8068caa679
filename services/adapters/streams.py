"""Connecting to NATS and declaring the streams and buckets every service relies on."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote, urlsplit

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError

from events import subjects

DUPLICATE_WINDOW_S = 120.0

# Device alerts (services/intake/device_auth.py): a signed timestamp is fresh within
# DEVICE_FRESHNESS_S of the intake's clock, either side. Its signature stays in the replay
# ledger (bucket ``devices``) as long as it can still be fresh after it was first accepted:
# accepted at its earliest (timestamp + window in the future) it is fresh for twice the
# window; CLOCK_SLACK_S more covers clocks that differ between intakes and the NATS server.
DEVICE_FRESHNESS_S = 300.0
CLOCK_SLACK_S = 60.0
DEVICE_LEDGER_TTL_S = 2 * DEVICE_FRESHNESS_S + CLOCK_SLACK_S


def calls_stream_config(replicas: int = 1) -> StreamConfig:
    """``CALLS``: append-only history of every call (no delete, no purge)."""
    return _history_config(subjects.CALLS_STREAM, [subjects.CALLS_SUBJECTS], replicas)


def responders_stream_config(replicas: int = 1) -> StreamConfig:
    """``RESPONDERS``: append-only history of availability and duty overrides."""
    return _history_config(subjects.RESPONDERS_STREAM, list(subjects.RESPONDERS_SUBJECTS), replicas)


def _history_config(name: str, stream_subjects: list[str], replicas: int) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=stream_subjects,
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
        deny_delete=True,
        deny_purge=True,
    )


def dead_letter_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name="DEADLETTER",
        subjects=[f"{subjects.DEAD_LETTER_PREFIX}.>"],
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_age=30 * 24 * 3600.0,
    )


def server_list(url: str) -> list[str]:
    """``NATS_URL`` may name several servers of a cluster, comma-separated."""
    return [part.strip() for part in url.split(",") if part.strip()]


# How every connection of a service behaves while NATS is away: it keeps trying, for ever,
# a few times a second (each try is one refused TCP connect: no measurable CPU).
RECONNECT: dict[str, Any] = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.25, "connect_timeout": 2}


async def connect(url: str, name: str, **options: object) -> Client:
    servers = server_list(url)
    return await nats.connect(
        servers, name=name, **{**RECONNECT, "inbox_prefix": inbox_prefix(servers[0]), **options}
    )


def inbox_prefix(url: str) -> str:
    """Replies come to ``_INBOX_<user>.…`` for a NATS user, which only that user may
    subscribe to (see nats_auth): no service reads or forges another's replies."""
    user = unquote(urlsplit(url).username or "")
    return f"_INBOX_{user}" if user else "_INBOX"


async def ensure_stream(js: JetStreamContext, config: StreamConfig, update: bool = False) -> None:
    """Create the stream if missing; bring an existing one up to ``config`` only if ``update``.

    Services run with users that may not create or change streams: ``dispatch1310 up``
    declares them once as admin, and a service only checks they exist.
    """
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except BadRequestError as exc:  # created concurrently by another service
            if exc.err_code != 10058:
                raise
        return
    if update:
        await js.update_stream(config)


async def ensure_streams(js: JetStreamContext, replicas: int = 1, update: bool = False) -> None:
    for config in (
        calls_stream_config(replicas),
        responders_stream_config(replicas),
        dead_letter_stream_config(replicas),
    ):
        await ensure_stream(js, config, update)
    for bucket in (
        KeyValueConfig(
            bucket=subjects.ROSTER_BUCKET, history=16, storage=StorageType.FILE, replicas=replicas
        ),
        # Dispatches the notifier has delivered (de-duplication across restarts), kept a week.
        KeyValueConfig(
            bucket=subjects.NOTIFIER_BUCKET, storage=StorageType.FILE, replicas=replicas, ttl=7 * 86400
        ),
        # Signed device bodies accepted: kept while they can still be fresh (see above).
        KeyValueConfig(
            bucket=subjects.DEVICES_BUCKET,
            storage=StorageType.FILE,
            replicas=replicas,
            ttl=DEVICE_LEDGER_TTL_S,
        ),
        # Web Push subscriptions by person (push_subscriptions.py): the intake and the notifier
        # only (nats_auth); no history, an unsubscribed browser is gone.
        KeyValueConfig(
            bucket=subjects.PUSH_SUBSCRIPTIONS_BUCKET, history=1, storage=StorageType.FILE, replicas=replicas
        ),
        # Where each follower of CALLS resumes after a restart (restart_point.py): one small
        # entry per follower, each written by its own service only (nats_auth).
        KeyValueConfig(
            bucket=subjects.RESTART_BUCKET, history=1, storage=StorageType.FILE, replicas=replicas
        ),
        # Readable by the intake only (nats_auth); no history: a replaced secret is gone.
        KeyValueConfig(
            bucket=subjects.SECRETS_BUCKET, history=1, storage=StorageType.FILE, replicas=replicas
        ),
    ):
        try:
            await js.key_value(bucket.bucket)
        except (BucketNotFoundError, NotFoundError):
            await js.create_key_value(bucket)
            continue
        if update and bucket.ttl:  # a data dir made by an older release keeps entries too briefly
            await _ensure_ttl(js, bucket.bucket, bucket.ttl)
    try:
        await js.object_store(subjects.AUDIT_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        await js.create_object_store(
            subjects.AUDIT_BUCKET, ObjectStoreConfig(storage=StorageType.FILE, replicas=replicas)
        )


async def _ensure_ttl(js: JetStreamContext, bucket: str, ttl: float) -> None:
    info = await js.stream_info(f"KV_{bucket}")
    if info.config.max_age != ttl:
        await js.update_stream(dataclasses.replace(info.config, max_age=ttl))
