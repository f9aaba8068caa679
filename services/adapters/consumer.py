"""Durable JetStream consumers for services: decode, handle, ack; poison to a dead letter.

A message that is not a valid event goes to ``deadletter.<consumer>`` with its reason at
once; a handler that keeps failing goes there after ``max_deliver`` attempts. Either way
the consumer moves on: one bad message never stalls the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from structlog.contextvars import bind_contextvars

from events import codec, subjects
from events.models import CallEvent, Fact
from services.adapters.jetstream_store import stream_seq
from services.adapters.pull_consumer import AckBatcher, PullConsumer
from services.runtime import metrics

# A handler may return a pending outcome instead of None: it has taken the event on and
# finishes it later (the notifier holding a page for a rate-limited phone). The message is
# acked only once that completes; until then it is kept in progress (so JetStream does not
# redeliver it), and if the service stops first it is redelivered to the next instance.
EventHandler = Callable[[Fact, int], Awaitable["asyncio.Future[None] | None"]]
log = structlog.get_logger("consumer")
Item = TypeVar("Item")
# A delivered message with its event decoded once, or why it could not be.
Delivery = tuple[Msg, "Fact | None", "Exception | None"]
# How long a handler still at work keeps its message "in progress": a handler stuck longer
# (it should not be: every NATS request times out) lets JetStream redeliver the message.
IN_PROGRESS_LIMIT_S = 120.0


async def dead_letter(nc: Client, consumer: str, msg: Msg, reason: str) -> None:
    headers = {
        "Dispatch1310-Reason": reason[:500],
        "Dispatch1310-Subject": msg.subject,
        "Dispatch1310-Consumer": consumer,
    }
    with contextlib.suppress(Exception):  # not a JetStream message: no sequence
        headers["Dispatch1310-Seq"] = str(msg.metadata.sequence.stream)
    await nc.jetstream().publish(subjects.dead_letter_subject(consumer), msg.data, headers=headers)
    metrics.dead_lettered(consumer)
    log.warning("dead_lettered", consumer=consumer, subject=msg.subject, reason=reason)


def partition_of(key: str, count: int) -> int:
    """The partition (of ``count``) that handles ``key``: the same key, the same partition."""
    return zlib.crc32(key.encode()) % count


class Partitions(Generic[Item]):
    """Ordered per key, concurrent across keys: events of one call are handled in stream
    order while different calls proceed in parallel (bounded queues give back-pressure)."""

    def __init__(self, count: int, process: Callable[[Item], Awaitable[None]], depth: int = 256) -> None:
        self.process = process
        self.queues: list[asyncio.Queue[Item]] = [asyncio.Queue(depth) for _ in range(count)]
        self.workers: list[asyncio.Task[None]] = []

    async def submit(self, key: str, item: Item) -> None:
        if not self.workers:
            self.workers = [asyncio.create_task(self._work(queue)) for queue in self.queues]
        await self.queues[partition_of(key, len(self.queues))].put(item)

    async def _work(self, queue: asyncio.Queue[Item]) -> None:
        while True:
            msg = await queue.get()
            try:
                await self.process(msg)
            except Exception as exc:  # never let one message kill a partition
                log.error("partition_worker_error", error=repr(exc))

    async def close(self) -> None:
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)


async def keep_ack_wait(
    nc: Client, stream: str, durable: str, ack_wait_s: float, filter_subject: str | None = None
) -> None:
    """Bring an existing durable consumer to ``ack_wait_s`` (and to ``filter_subject`` if
    given): JetStream keeps a durable's configuration from its creation, so a changed ack
    wait or filter otherwise never applies to a data dir that already holds the consumer (a
    first run creates it as configured)."""
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
    except NotFoundError:
        return
    same_wait = info.config.ack_wait is not None and abs(info.config.ack_wait - ack_wait_s) < 1e-3
    same_filter = filter_subject is None or (
        info.config.filter_subject == filter_subject and not info.config.filter_subjects
    )
    if same_wait and same_filter:
        return
    config = info.config.as_dict()
    config["ack_wait"] = int(ack_wait_s * 1_000_000_000)
    if filter_subject is not None:
        config["filter_subject"] = filter_subject
        config.pop("filter_subjects", None)
    body = json.dumps({"stream_name": stream, "config": config, "action": "update"}).encode()
    reply = json.loads(
        (await nc.request(f"$JS.API.CONSUMER.CREATE.{stream}.{durable}", body, timeout=5)).data
    )
    if reply.get("error"):
        raise RuntimeError(f"cannot update consumer {durable}: {reply['error']}")
    log.info(
        "consumer_updated",
        durable=durable,
        ack_wait_was=info.config.ack_wait,
        ack_wait=ack_wait_s,
        filter_was=info.config.filter_subject,
        filter=filter_subject,
    )


class InProgress:
    """Messages whose handler is at work, told "in progress" to JetStream every ``every_s``:
    a slow handler (a webhook being retried) is not redelivered while it still works, so the
    ack wait can stay short and a crashed service's messages come back soon. A handler at work
    longer than ``IN_PROGRESS_LIMIT_S`` (it should not be: every NATS request times out) is
    left to redelivery. One ticker for all, not a timer per message."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._started: dict[int, tuple[Msg, float]] = {}  # by id(msg): a Msg is not hashable
        self._ticker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def on(self, msg: Msg) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        self._started[id(msg)] = (msg, loop.time())
        if self._ticker is None:
            self._ticker = loop.create_task(self._tick())
        try:
            yield
        finally:
            del self._started[id(msg)]

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.every_s)
            now = loop.time()
            for msg, started in list(self._started.values()):
                if self.every_s <= now - started < IN_PROGRESS_LIMIT_S:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)


class EventConsumer:
    """A durable consumer's messages, decoded and handled (see ``subscribe_events``); a service
    starts it, stops it (no more deliveries; handled messages' acks written) and closes its
    partitions (handlings still at work are dropped, so redelivered)."""

    def __init__(
        self, pull: PullConsumer, partitions: Partitions, acks: AckBatcher, working: InProgress
    ) -> None:
        self.pull = pull
        self.partitions = partitions
        self.acks = acks
        self.working = working

    async def start(self) -> None:
        await self.pull.start()

    async def stop(self) -> None:
        await self.pull.stop()
        await self.acks.flush()
        with contextlib.suppress(Exception):  # the acks reached the server (what comes next may
            await self.pull.nc.flush(timeout=2)  # read the ack floor: the dispatcher's restart point)

    async def close(self) -> None:
        await self.partitions.close()
        await self.working.close()
        await self.acks.flush()


def subscribe_events(
    nc: Client,
    durable: str,
    handle: EventHandler,
    subject: str = subjects.CALLS_SUBJECTS,
    stream: str = subjects.CALLS_STREAM,
    max_deliver: int = 8,
    ack_wait_s: float = 30.0,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    partitions: int = 1,
    in_stream_order: dict[str, Callable[[Fact, int], None]] | None = None,
) -> EventConsumer:
    """A durable pull consumer named ``durable`` that feeds ``handle(event, seq)``.

    Events are handled concurrently across calls and in stream order within a call (over
    ``partitions`` workers). ``in_stream_order`` maps event types to quick synchronous hooks
    that see those events in stream order, before the concurrent handling: decisions that
    depend on what came earlier across calls (is this call a duplicate of another?) are taken
    there. A redelivery calls its hook again, so hooks must be idempotent.

    A message is acked once its handling is done (a pending outcome: once that completes);
    acks are written together (``AckBatcher``), never before.
    """
    hooks = in_stream_order or {}
    metrics.dead_lettered(durable, 0)  # the series exists (at 0) before the first dead letter
    settling: set[asyncio.Task[None]] = set()
    acks = AckBatcher()
    working = InProgress(ack_wait_s / 3)

    async def process(delivery: Delivery) -> None:
        raw, event, error = delivery
        seq = stream_seq(raw)
        # Bound for this message in its partition's own context (the next message rebinds
        # them): cheaper than binding and unbinding around each handling.
        call_id = event.call_id if isinstance(event, CallEvent) else None
        bind_contextvars(call_id=call_id, event=event.type if event is not None else None, seq=seq)
        if event is None:  # whatever the bytes, a poison message must not stall us
            reason = error.reason if isinstance(error, codec.DecodeError) else f"undecodable: {error!r}"
            await dead_letter(nc, durable, raw, reason)
            acks.ack(raw)
            return
        try:
            with working.on(raw):
                pending = await handle(event, seq)
        except Exception as exc:
            await failed(raw, exc)
            return
        if pending is None:
            acks.ack(raw)
            return
        task = asyncio.create_task(settle(raw, pending))
        settling.add(task)
        task.add_done_callback(settling.discard)

    async def failed(raw: Msg, exc: Exception) -> None:
        delivered = raw.metadata.num_delivered
        if delivered >= max_deliver:
            await dead_letter(nc, durable, raw, f"handler failed {delivered} times: {exc!r}")
            acks.ack(raw)
            return
        log.warning("handler_failed_will_retry", attempt=delivered, error=repr(exc))
        await raw.nak(delay=min(0.2 * 2**delivered, 5.0))

    async def settle(raw: Msg, pending: asyncio.Future[None]) -> None:
        """Ack once ``pending`` completes, telling JetStream the message is in progress until then."""
        try:
            while True:
                try:
                    await asyncio.wait_for(asyncio.shield(pending), ack_wait_s / 3)
                    break
                except TimeoutError:
                    await raw.in_progress()
        except asyncio.CancelledError:
            return  # the handler gave it up (stopping): unacked, so redelivered after ack_wait
        except Exception as exc:
            with contextlib.suppress(Exception):
                await failed(raw, exc)
            return
        acks.ack(raw)

    workers: Partitions[Delivery] = Partitions(max(partitions, 1), process)

    async def consume(raw: Msg) -> None:
        """Decode once, run the event's in-stream-order hook, hand it to its call's partition."""
        try:
            event: Fact | None = codec.decode_message(raw.subject, raw.data)
            error = None
        except Exception as exc:  # a poison message: ``process`` dead-letters it
            event, error = None, exc
        if event is not None and (hook := hooks.get(event.type)) is not None:
            hook(event, stream_seq(raw))
        # The call id is the second token of calls.<id>.<Type>: no decode needed to route.
        key = raw.subject.split(".")[1] if "." in raw.subject else raw.subject
        await workers.submit(key, (raw, event, error))

    config = ConsumerConfig(
        durable_name=durable,
        filter_subject=subject,
        max_deliver=max_deliver,
        ack_wait=ack_wait_s,
        deliver_policy=deliver_policy,
        ack_policy=AckPolicy.EXPLICIT,
        max_ack_pending=max(1000, 64 * partitions),
    )
    return EventConsumer(PullConsumer(nc, stream, config, consume), workers, acks, working)
