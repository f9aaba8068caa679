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
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from events import codec, subjects
from events.models import CallEvent, Fact
from services.adapters.jetstream_store import stream_seq
from services.adapters.streams import pull_inbox_prefix
from services.runtime import metrics

# A handler may return a pending outcome instead of None: it has taken the event on and
# finishes it later (the notifier holding a page for a rate-limited phone). The message is
# acked only once that completes; until then it is kept in progress (so JetStream does not
# redeliver it), and if the service stops first it is redelivered to the next instance.
EventHandler = Callable[[Fact, int], Awaitable["asyncio.Future[None] | None"]]
log = structlog.get_logger("consumer")
T = TypeVar("T")
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


class Partitions:
    """Ordered per key, concurrent across keys: events of one call are handled in stream
    order while different calls proceed in parallel (bounded queues give back-pressure)."""

    def __init__(self, count: int, process: Callable[[Msg], Awaitable[None]], depth: int = 256) -> None:
        self.process = process
        self.queues: list[asyncio.Queue[Msg]] = [asyncio.Queue(depth) for _ in range(count)]
        self.workers: list[asyncio.Task[None]] = []

    async def submit(self, key: str, msg: Msg) -> None:
        if not self.workers:
            self.workers = [asyncio.create_task(self._work(queue)) for queue in self.queues]
        await self.queues[partition_of(key, len(self.queues))].put(msg)

    async def _work(self, queue: asyncio.Queue[Msg]) -> None:
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


async def keep_ack_wait(nc: Client, stream: str, durable: str, ack_wait_s: float) -> None:
    """Bring an existing durable consumer to ``ack_wait_s``: JetStream keeps a durable's
    configuration from its creation, so a changed ack wait otherwise never applies to a data
    dir that already holds the consumer (a first run creates it as configured)."""
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
    except NotFoundError:
        return
    if info.config.ack_wait is not None and abs(info.config.ack_wait - ack_wait_s) < 1e-3:
        return
    config = info.config.as_dict()
    config["ack_wait"] = int(ack_wait_s * 1_000_000_000)
    body = json.dumps({"stream_name": stream, "config": config, "action": "update"}).encode()
    reply = json.loads(
        (await nc.request(f"$JS.API.CONSUMER.CREATE.{stream}.{durable}", body, timeout=5)).data
    )
    if reply.get("error"):
        raise RuntimeError(f"cannot update consumer {durable}: {reply['error']}")
    log.info("consumer_ack_wait_updated", durable=durable, was=info.config.ack_wait, now=ack_wait_s)


def subscribe_events(
    router: NatsRouter,
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
) -> Partitions | None:
    """Register a durable pull consumer named ``durable`` that feeds ``handle(event, seq)``.

    With ``partitions`` > 1, events are handled concurrently across calls and in order
    within a call; the returned Partitions must be closed when the service stops.
    ``in_stream_order`` maps event types to quick synchronous hooks that see those events in
    stream order, before the concurrent handling: decisions that depend on what came earlier
    across calls (is this call a duplicate of another?) are taken there. A redelivery calls
    its hook again, so hooks must be idempotent.
    """
    hooks = in_stream_order or {}
    metrics.dead_lettered(durable, 0)  # the series exists (at 0) before the first dead letter
    settling: set[asyncio.Task[None]] = set()

    def sequence(raw: Msg) -> None:
        hook = hooks.get(raw.subject.rsplit(".", 1)[-1])
        if hook is None:
            return
        try:
            event = codec.decode_message(raw.subject, raw.data)
        except Exception:
            return  # a poison message: ``process`` dead-letters it
        hook(event, stream_seq(raw))

    async def process(raw: Msg) -> None:
        seq = raw.metadata.sequence.stream
        try:
            event = codec.decode_message(raw.subject, raw.data)
        except Exception as exc:  # whatever the bytes, a poison message must not stall us
            reason = exc.reason if isinstance(exc, codec.DecodeError) else f"undecodable: {exc!r}"
            await dead_letter(nc, durable, raw, reason)
            await raw.ack()
            return
        call_id = event.call_id if isinstance(event, CallEvent) else None
        with structlog.contextvars.bound_contextvars(call_id=call_id, event=event.type, seq=seq):
            try:
                pending = await in_progress_while(raw, handle(event, seq))
            except Exception as exc:
                await failed(raw, exc)
                return
        if pending is None:
            await raw.ack()
            return
        task = asyncio.create_task(settle(raw, pending))
        settling.add(task)
        task.add_done_callback(settling.discard)

    async def in_progress_while(raw: Msg, work: Awaitable[T]) -> T:
        """Run the handler, telling JetStream the message is in progress meanwhile: a slow
        handler (a webhook being retried) is not redelivered while it still works, so the ack
        wait can stay short and a crashed service's messages come back soon."""
        task = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + IN_PROGRESS_LIMIT_S
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=ack_wait_s / 3)
                if done:
                    return task.result()
                if loop.time() < give_up_at:  # a handler stuck longer is left to redelivery
                    with contextlib.suppress(Exception):
                        await raw.in_progress()
        finally:
            if not task.done():
                task.cancel()

    async def failed(raw: Msg, exc: Exception) -> None:
        delivered = raw.metadata.num_delivered
        if delivered >= max_deliver:
            await dead_letter(nc, durable, raw, f"handler failed {delivered} times: {exc!r}")
            await raw.ack()
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
        with contextlib.suppress(Exception):  # not acked: redelivered, and found already done
            await raw.ack()

    partitioned = Partitions(partitions, process) if partitions > 1 else None

    @router.subscriber(
        subject,
        stream=JStream(stream, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=64, timeout=0.2),
        inbox_prefix=pull_inbox_prefix(nc),
        ack_policy=AckPolicy.MANUAL,
        config=ConsumerConfig(
            max_deliver=max_deliver,
            ack_wait=ack_wait_s,
            deliver_policy=deliver_policy,
            max_ack_pending=max(1000, 64 * partitions),
        ),
    )
    async def consume(msg: NatsMessage) -> None:
        raw: Msg = msg.raw_message
        sequence(raw)
        if partitioned is None:
            await process(raw)
        else:
            # The call id is the second token of calls.<id>.<Type>: no decode needed to route.
            await partitioned.submit(raw.subject.split(".")[1] if "." in raw.subject else raw.subject, raw)

    return partitioned
