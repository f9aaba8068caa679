"""A durable JetStream pull consumer on nats-py directly: batched lingering pulls whose messages
reach a callback as the server pushes them, and acks written together.

What it replaces cost a consuming service a third of its CPU: FastStream's pull subscriber ran
every message through its middleware, context and dependency layers, and nats-py's ``fetch``
sends a no-wait request and then a lingering one per round, and waits message by message. Here
one request asks for ``batch`` messages, the server delivers them as they are stored, and the
next request goes once they are all delivered, or the request expired (or was lost with the
connection: then after ``expires_s`` and a margin).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

log = structlog.get_logger("consumer")
PULL_BATCH = 64
PULL_EXPIRES_S = 1.0  # an idle consumer asks again each second (a lost request costs that much)
LOST_REQUEST_MARGIN_S = 0.5
# How long a handled message's ack may wait for others to be written with it. An ack is
# written only after its message was handled; one lost with the process is a redelivery.
ACK_DELAY_S = 0.005
AFTER_REFUSAL_S = 0.5  # a pull refused (the consumer gone, say): ask again after this


class AckBatcher:
    """Acks of handled messages, written in one flush every ``delay_s`` at most."""

    def __init__(self, delay_s: float = ACK_DELAY_S) -> None:
        self.delay_s = delay_s
        self._waiting: list[Msg] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    def ack(self, msg: Msg) -> None:
        """Ack ``msg`` soon: only once its handling is done (durably: its appends acknowledged)."""
        self._waiting.append(msg)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay_s, self._flush_later)

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush(self) -> None:
        """Write every waiting ack now. Each ``ack`` only queues a command on the connection
        (no await gives way), so nats-py's flusher writes them all with one syscall."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, []
        for msg in waiting:
            with contextlib.suppress(Exception):  # not acked: redelivered, and found done
                await msg.ack()

    @property
    def waiting(self) -> int:
        return len(self._waiting)


class PullConsumer:
    """Feeds ``on_message`` every message of durable consumer ``config.durable_name`` on
    ``stream``, one at a time in delivery order (a slow ``on_message`` holds back the next:
    back-pressure). Creates the consumer with ``config`` if it does not exist."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        config: ConsumerConfig,
        on_message: Callable[[Msg], Awaitable[None]],
        batch: int = PULL_BATCH,
        expires_s: float = PULL_EXPIRES_S,
    ) -> None:
        assert config.durable_name, "a durable consumer"
        self.nc = nc
        self.stream = stream
        self.config = config
        self.durable = config.durable_name
        self.on_message = on_message
        self.batch = batch
        self.expires_s = expires_s
        self.requests = 0  # pull requests sent (a figure for tests and benchmarks)
        self._left = 0  # messages the current request may still deliver
        self._over = asyncio.Event()  # the current request is delivered, expired or refused
        self._refused = False
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ensure_consumer()
        inbox = self.nc.new_inbox()
        # nats-py's default pending limit (a dropped message would wait for its ack wait); at
        # most about two batches are ever in flight here.
        self._sub = await self.nc.subscribe(inbox, cb=self._receive)
        self._task = asyncio.create_task(self._pull(inbox))

    async def ensure_consumer(self) -> None:
        js = self.nc.jetstream()
        try:
            await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            await js.add_consumer(self.stream, config=self.config)

    async def _pull(self, inbox: str) -> None:
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}"
        request = json.dumps({"batch": self.batch, "expires": int(self.expires_s * 1e9)}).encode()
        while True:
            if self._refused:
                self._refused = False
                await asyncio.sleep(AFTER_REFUSAL_S)
                with contextlib.suppress(Exception):  # a deleted consumer comes back as configured
                    await self.ensure_consumer()
            self._left = self.batch
            self._over.clear()
            try:
                await self.nc.publish(subject, request, reply=inbox)
            except Exception as exc:  # connection closed or draining: try again in a while
                log.warning("pull_request_failed", durable=self.durable, error=repr(exc))
                await asyncio.sleep(AFTER_REFUSAL_S)
                continue
            self.requests += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._over.wait(), self.expires_s + LOST_REQUEST_MARGIN_S)

    async def _receive(self, msg: Msg) -> None:
        if not msg.reply:  # from the server, not a stored message: a status
            status = (msg.headers or {}).get("Status")
            if status == "100":
                return  # a heartbeat (none is asked for)
            if status not in ("408", "404"):  # 409: too many pulls waiting, consumer deleted,
                # leader change; 503: no consumer to answer. Asked again after a pause.
                reason = (msg.headers or {}).get("Description")
                log.warning("pull_refused", durable=self.durable, status=status, reason=reason)
                self._refused = True
            self._over.set()  # 408: the request expired: this request is over
            return
        self._left -= 1
        if self._left <= 0:
            self._over.set()
        await self.on_message(msg)

    async def stop(self) -> None:
        """Stop asking and receiving: messages delivered but not handled are redelivered."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
