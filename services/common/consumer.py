"""Durable JetStream consumers for services: decode, handle, ack; poison to a dead letter.

A message that is not a valid event goes to ``deadletter.<consumer>`` with its reason at
once; a handler that keeps failing goes there after ``max_deliver`` attempts. Either way
the consumer moves on: one bad message never stalls the stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import structlog
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from events import codec, subjects
from events.models import CallEvent, Fact

EventHandler = Callable[[Fact, int], Awaitable[None]]
log = structlog.get_logger("consumer")


async def dead_letter(nc: Client, consumer: str, msg: Msg, reason: str) -> None:
    headers = {
        "Dispatch1310-Reason": reason[:500],
        "Dispatch1310-Subject": msg.subject,
        "Dispatch1310-Consumer": consumer,
    }
    with contextlib.suppress(Exception):  # not a JetStream message: no sequence
        headers["Dispatch1310-Seq"] = str(msg.metadata.sequence.stream)
    await nc.jetstream().publish(subjects.dead_letter_subject(consumer), msg.data, headers=headers)
    log.warning("dead_lettered", consumer=consumer, subject=msg.subject, reason=reason)


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
) -> None:
    """Register a durable pull consumer named ``durable`` that feeds ``handle(event, seq)``."""

    @router.subscriber(
        subject,
        stream=JStream(stream, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=64, timeout=0.2),
        ack_policy=AckPolicy.MANUAL,
        config=ConsumerConfig(max_deliver=max_deliver, ack_wait=ack_wait_s, deliver_policy=deliver_policy),
    )
    async def consume(msg: NatsMessage) -> None:
        raw: Msg = msg.raw_message
        seq = raw.metadata.sequence.stream
        try:
            event = codec.decode(raw.data)
        except Exception as exc:  # whatever the bytes, a poison message must not stall us
            reason = exc.reason if isinstance(exc, codec.DecodeError) else f"undecodable: {exc!r}"
            await dead_letter(nc, durable, raw, reason)
            await msg.ack()
            return
        call_id = event.call_id if isinstance(event, CallEvent) else None
        with structlog.contextvars.bound_contextvars(call_id=call_id, event=event.type, seq=seq):  # type: ignore[attr-defined]
            try:
                await handle(event, seq)
            except Exception as exc:
                delivered = raw.metadata.num_delivered
                if delivered >= max_deliver:
                    await dead_letter(nc, durable, raw, f"handler failed {delivered} times: {exc!r}")
                    await msg.ack()
                    return
                log.warning("handler_failed_will_retry", attempt=delivered, error=repr(exc))
                await msg.nack(delay=min(0.2 * 2**delivered, 5.0))
                return
        await msg.ack()
