"""The audit's checkpoint: its projections and the stream positions they cover, kept in the
object store bucket ``audit``, so a restart resumes where it stopped instead of refolding
history. The stream stays the truth: a missing, unreadable or older-format checkpoint just
means a rebuild from sequence 1, and ``dispatch1310 replay`` checks the result.

The snapshot is a pickle: it is written and read only by the audit service (its NATS user is
the only one besides admin allowed to publish to ``$O.audit.>``).
"""

from __future__ import annotations

import pickle
import zlib

import structlog
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError

from events import subjects
from services.audit.projections import AuditState

FORMAT = 4  # bump whenever AuditState's shape or fold changes: older checkpoints are then ignored
OBJECT = "projections"
log = structlog.get_logger("audit.checkpoint")


def dumps(state: AuditState) -> bytes:
    return zlib.compress(pickle.dumps({"format": FORMAT, "state": state}, pickle.HIGHEST_PROTOCOL), 1)


def loads(data: bytes) -> AuditState | None:
    try:
        body = pickle.loads(zlib.decompress(data))
    except Exception as exc:  # any damage means: rebuild from the stream
        log.warning("checkpoint_unreadable", error=repr(exc))
        return None
    if (
        not isinstance(body, dict)
        or body.get("format") != FORMAT
        or not isinstance(body.get("state"), AuditState)
    ):
        log.info("checkpoint_format_changed", found=body.get("format") if isinstance(body, dict) else None)
        return None
    state: AuditState = body["state"]
    return state


async def save(nc: Client, state: AuditState) -> int:
    """Store ``state``; returns the bytes written."""
    data = dumps(state)
    store = await nc.jetstream().object_store(subjects.AUDIT_BUCKET)
    await store.put(OBJECT, data)
    return len(data)


async def restore(nc: Client) -> AuditState | None:
    try:
        store = await nc.jetstream().object_store(subjects.AUDIT_BUCKET)
        found = await store.get(OBJECT)
    except (BucketNotFoundError, ObjectNotFoundError, NotFoundError):
        return None
    return loads(found.data or b"")
