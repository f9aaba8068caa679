"""Where a follower of ``CALLS`` starts folding after a restart: its restart point.

What the dispatcher, the deadlines keeper and the live board keep of ``CALLS`` is the state of
the calls not closed (``OpenCallStates``: a resolved or cancelled call leaves for good). So a
restart need not fold history: it folds from the first event of the oldest call still open.
A follower that has folded the stream up to sequence ``covered`` computes

    start = min(first sequence of every call not closed, covered + 1)

and stores it (bucket ``restart-points``, one key per follower). A start computed this way
stays right for ever after: every call with an event before ``start`` was closed at
``covered``, and a closed call stays closed. Folding from ``start`` therefore sees every event
of every call that can still be open; events of calls it never saw raised (older calls,
closed before ``start``) are skipped (``folds``), exactly as a fold from sequence 1 ignores
events of calls it has closed.

Writing it costs a scan of the open calls and one small KV put: nothing to take off the event
loop. A missing, damaged (checksum), other-format or other-stream point, or one ahead of the
stream, means a fold from sequence 1: slower, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

from events import subjects
from events.models import CallEvent, CallRaised, Fact
from services.domain.open_calls import OpenCallStates
from services.runtime import metrics

FORMAT = 1  # bump when the meaning of a point changes: older points then mean a full fold
SAVE_EVERY_S = 30.0
log = structlog.get_logger("restart_point")


@dataclass(frozen=True)
class RestartPoint:
    start_seq: int  # fold from here
    covered_seq: int  # the stream position the follower had folded when it computed start_seq
    stream_created: str  # which CALLS stream (a stream made again starts over)


def encode(point: RestartPoint) -> bytes:
    body = {
        "format": FORMAT,
        "start_seq": point.start_seq,
        "covered_seq": point.covered_seq,
        "stream_created": point.stream_created,
    }
    text = json.dumps(body, sort_keys=True)
    return json.dumps({"body": body, "crc32": zlib.crc32(text.encode())}).encode()


def decode(data: bytes) -> RestartPoint | None:
    """The point, or None when damaged or of another format."""
    try:
        outer = json.loads(data)
        body = outer["body"]
        if zlib.crc32(json.dumps(body, sort_keys=True).encode()) != outer["crc32"]:
            raise ValueError("checksum mismatch")
        if body["format"] != FORMAT:
            log.info("restart_point_format_changed", found=body["format"])
            return None
        point = RestartPoint(int(body["start_seq"]), int(body["covered_seq"]), str(body["stream_created"]))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("restart_point_unreadable", error=repr(exc))
        return None
    return point


def start_from(point: RestartPoint | None, stream_created: str, last_seq: int) -> int:
    """Where to fold from, given the point found and the stream as it is now (1: everything)."""
    if point is None:
        return 1
    if point.stream_created != stream_created or point.covered_seq > last_seq:
        log.warning("restart_point_of_another_stream", covered=point.covered_seq, last_seq=last_seq)
        return 1
    if not 1 <= point.start_seq <= point.covered_seq + 1:
        log.warning("restart_point_impossible", start=point.start_seq, covered=point.covered_seq)
        return 1
    return point.start_seq


def first_open_seq(states: OpenCallStates, next_seq: int) -> int:
    """The first sequence of the oldest call folded as raised and not closed, or ``next_seq``.

    Calls not yet seen raised (an out-of-order delivery) are left out: ``next_seq`` must then be
    at most the sequence after which nothing has been folded yet (a durable's ack floor + 1)."""
    oldest = next_seq
    for call_id, state in list(states.items()):
        if state.raised is None:
            continue
        first = states.first_seq(call_id)
        if first is not None and first < oldest:
            oldest = first
    return oldest


def folds(states: OpenCallStates, fact: Fact) -> bool:
    """Whether a fold in stream order from a restart point takes ``fact``: not an event of a
    call it never saw raised (closed before the point; or a call without a readable
    ``CallRaised``, which a fold from 1 leaves out the same way)."""
    if not isinstance(fact, CallEvent) or isinstance(fact, CallRaised):
        return True
    return fact.call_id in states or states.is_closed(fact.call_id)


async def stream_identity(nc: Client) -> tuple[str, int]:
    """When ``CALLS`` was created (it tells a stream made again apart) and its last sequence."""
    info = await nc.jetstream().stream_info(subjects.CALLS_STREAM)
    return str(info.created), int(info.state.last_seq)


async def load(nc: Client, name: str) -> RestartPoint | None:
    try:
        kv = await nc.jetstream().key_value(subjects.RESTART_BUCKET)
        entry = await kv.get(name)
    except (BucketNotFoundError, KeyNotFoundError, NotFoundError):
        return None
    return decode(entry.value or b"")


async def load_start(nc: Client, name: str) -> tuple[int, str]:
    """Where follower ``name`` folds from, and the stream's identity to save points with."""
    created, last_seq = await stream_identity(nc)
    start = start_from(await load(nc, name), created, last_seq)
    log.info("restart_point_loaded", follower=name, start_seq=start, last_seq=last_seq)
    return start, created


async def save(nc: Client, name: str, point: RestartPoint) -> None:
    kv = await nc.jetstream().key_value(subjects.RESTART_BUCKET)
    await kv.put(name, encode(point))


class PointKeeper:
    """Saves follower ``name``'s point every ``every_s`` when it moved, and once on stop."""

    def __init__(
        self,
        nc: Client,
        name: str,
        compute: Callable[[], Awaitable[RestartPoint | None]],
        every_s: float = SAVE_EVERY_S,
    ) -> None:
        self.nc = nc
        self.name = name
        self.compute = compute
        self.every_s = every_s
        self.saved: RestartPoint | None = None
        self._task: asyncio.Task[None] | None = None

    async def save_now(self) -> RestartPoint | None:
        point = await self.compute()
        if point is not None and point != self.saved:
            await save(self.nc, self.name, point)
            self.saved = point
            log.info(
                "restart_point_saved",
                follower=self.name,
                start_seq=point.start_seq,
                covered=point.covered_seq,
            )
        if point is not None:  # written, or still where the follower is: /metrics shows its age
            metrics.checkpoint_saved(self.name)
        return point

    def start(self) -> None:
        self._task = asyncio.create_task(self._regularly())

    async def _regularly(self) -> None:
        while True:
            try:
                await self.save_now()
            except Exception as exc:  # NATS away: the next round (or the stop) saves it
                log.warning("restart_point_save_failed", follower=self.name, error=repr(exc))
            await asyncio.sleep(self.every_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await asyncio.wait_for(self.save_now(), 5.0)
        except Exception as exc:  # an optimisation only: the stream is the truth
            log.warning("restart_point_save_failed", follower=self.name, error=repr(exc))
