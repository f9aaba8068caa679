"""The event store over NATS JetStream (stream ``CALLS``).

Append: publish with ``Nats-Expected-Last-Subject-Sequence`` scoped by
``Nats-Expected-Last-Subject-Sequence-Subject: calls.<id>.>`` and ``Nats-Msg-Id = event_id``.
Load: one batched Direct Get over the call's subjects (served from the subject index).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Sequence

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NoStreamResponseError

from events import codec, subjects
from events.models import CallEvent
from services.domain.event_store import ConcurrencyConflict, StoredEvent, StoreUnavailable, append_one_by_one

WRONG_LAST_SEQUENCE = 10071
log = structlog.get_logger("event_store")
BATCH = 1000


class JetStreamEventStore:
    def __init__(self, nc: Client, timeout: float = 5.0) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=timeout)
        self.timeout = timeout
        # Direct Get replies come to one wildcard inbox subscribed once, not to a subscription
        # made and dropped per load: each SUB/UNSUB also costs the server (it invalidates its
        # subject cache), and a call is loaded several times on its way.
        self._replies: dict[str, _Replies] = {}
        self._inbox: str | None = None
        self._inbox_lock = asyncio.Lock()
        self._tokens = itertools.count()

    async def append(self, call_id: str, events: Sequence[CallEvent], expected_version: int) -> int:
        return await append_one_by_one(self._publish, self.load, call_id, events, expected_version)

    async def _publish(self, event: CallEvent, expected: int) -> int:
        headers = {
            "Nats-Msg-Id": event.event_id,
            "Nats-Expected-Last-Subject-Sequence": str(expected),
            "Nats-Expected-Last-Subject-Sequence-Subject": subjects.call_filter(event.call_id),
        }
        subject = subjects.call_subject(event.call_id, event.type)
        try:
            ack = await self.js.publish(subject, codec.encode(event), headers=headers)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(event.call_id, expected) from None
            raise
        except (NatsTimeout, NoStreamResponseError) as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
        return int(ack.seq)

    async def load(self, call_id: str) -> tuple[list[StoredEvent], int]:
        """The call's events in order and its version: the sequence of the last message on its
        subjects, decodable or not, so a poison message can never make every append conflict."""
        found: list[StoredEvent] = []
        start = 1
        version = 0
        while True:
            batch, pending, last = await self._direct_get_batch(subjects.call_filter(call_id), start)
            found.extend(batch)
            version = max(version, last)
            if not pending or not last:
                break
            start = last + 1
        return found, version

    async def _direct_get_batch(self, subject: str, start: int) -> tuple[list[StoredEvent], int, int]:
        """Events from ``start``, how many remain, and the last sequence seen (0: none)."""
        inbox = f"{await self._reply_prefix()}.{next(self._tokens)}"
        replies = _Replies()
        self._replies[inbox] = replies
        try:
            request = json.dumps({"seq": start, "next_by_subj": subject, "batch": BATCH}).encode()
            await self.nc.publish(f"$JS.API.DIRECT.GET.{subjects.CALLS_STREAM}", request, reply=inbox)
            try:  # one wait for the whole batch, not one per message
                await asyncio.wait_for(replies.over, self.timeout)
            except TimeoutError as exc:
                raise StoreUnavailable(f"direct get of {subject} timed out") from exc
        finally:
            del self._replies[inbox]
        batch: list[StoredEvent] = []
        last = 0
        for msg in replies.messages:
            status = _status(msg)
            if status == "404":
                return batch, 0, last
            if status == "204":
                return batch, int((msg.headers or {}).get("Nats-Num-Pending", "0")), last
            if status is not None:
                raise StoreUnavailable(f"direct get of {subject}: status {status}")
            last = int(msg.headers["Nats-Sequence"])  # type: ignore[index]
            item = _stored(msg, last)
            if item is not None:
                batch.append(item)
        raise AssertionError("a direct get batch ends with a status")

    async def _reply_prefix(self) -> str:
        """The store's reply inbox prefix, subscribed (``<prefix>.*``) on first use."""
        if self._inbox is None:
            async with self._inbox_lock:
                if self._inbox is None:
                    prefix = self.nc.new_inbox()
                    await self.nc.subscribe(f"{prefix}.*", cb=self._on_reply)
                    self._inbox = prefix
        return self._inbox

    async def _on_reply(self, msg: Msg) -> None:
        replies = self._replies.get(msg.subject)
        if replies is not None:  # else: a late reply to a load that gave up
            replies.add(msg)

    async def last_seq(self) -> int:
        info = await self.js.stream_info(subjects.CALLS_STREAM)
        return int(info.state.last_seq)

    async def read_all(self, from_seq: int = 1, until_seq: int | None = None) -> AsyncIterator[StoredEvent]:
        """Every event from ``from_seq`` in stream order (poison messages skipped)."""
        async for msg in read_messages(
            self.nc, subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS, from_seq, until_seq
        ):
            item = _stored(msg, stream_seq(msg))
            if item is not None:
                yield item


async def read_messages(
    nc: Client, stream: str, subject: str, from_seq: int = 1, until_seq: int | None = None
) -> AsyncIterator[Msg]:
    """Every message of ``stream`` on ``subject`` from ``from_seq`` up to ``until_seq`` (default: its last at
    call time), in order, through an ordered push consumer.

    Messages are handed over in chunks by a subscription callback: nats-py's message iterator
    costs an asyncio task per message, which made replay five times slower.
    """
    js = nc.jetstream()
    info = await js.stream_info(stream)
    end = int(info.state.last_seq)
    if until_seq is not None:
        end = min(end, until_seq)
    if end < max(from_seq, int(info.state.first_seq)):
        return
    arrived: list[Msg] = []
    ready = asyncio.Event()

    async def on_message(msg: Msg) -> None:
        arrived.append(msg)
        ready.set()

    sub = await js.subscribe(
        subject,
        stream=stream,
        cb=on_message,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(from_seq, 1)),
        pending_msgs_limit=100_000,
    )
    try:
        while True:
            await ready.wait()
            ready.clear()
            chunk = arrived[:]
            arrived.clear()
            for msg in chunk:
                yield msg
                seq, pending = _position(msg)
                if seq >= end or pending == 0:
                    return
    finally:
        await sub.unsubscribe()


class _Replies:
    """The replies to one batched Direct Get: messages, then a status (204 end of batch, 404
    nothing (more), or an error), which completes ``over``."""

    def __init__(self) -> None:
        self.messages: list[Msg] = []
        self.over: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def add(self, msg: Msg) -> None:
        self.messages.append(msg)
        if _status(msg) is not None and not self.over.done():
            self.over.set_result(None)


def _status(msg: Msg) -> str | None:
    """A Direct Get status reply's code; None for a stored message (it has a sequence: a
    stored message's own headers are not taken for a status)."""
    headers = msg.headers or {}
    return None if "Nats-Sequence" in headers else headers.get("Status", "")


def stream_seq(msg: Msg) -> int:
    """The stream sequence from a JetStream delivery's reply subject (v1 or v2 ack format),
    without building nats-py's full Metadata (timestamps and all) for every message."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    return int(msg.metadata.sequence.stream)


def _position(msg: Msg) -> tuple[int, int]:
    """Stream sequence and how many messages of the consumer's filter are still pending."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[8])
    return int(msg.metadata.sequence.stream), int(msg.metadata.num_pending)


def _stored(msg: Msg, seq: int) -> StoredEvent | None:
    """The stored event, or None for a poison message (skipped: consumers dead-letter it)."""
    try:
        # A Direct Get reply comes on an inbox: the stored subject is in its headers.
        subject = (msg.headers or {}).get("Nats-Subject") or msg.subject
        event = codec.decode_message(subject, msg.data)
    except codec.DecodeError as exc:
        log.warning("skipped_undecodable_event", seq=seq, reason=exc.reason)
        return None
    if not isinstance(event, CallEvent):
        log.warning("skipped_non_call_event", seq=seq, type=type(event).__name__)
        return None
    return StoredEvent(seq, event)
