"""The baseline of the replay and restart benches: read the whole CALLS stream once, raw."""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from events import subjects
from services.adapters.jetstream_store import stream_seq


async def raw_ordered_read(nc: Client) -> tuple[int, float]:
    """Messages read and seconds taken by an ordered push consumer with a callback that only
    counts (no decoding): how fast a follower could possibly fold the stream."""
    js = nc.jetstream()
    end = int((await js.stream_info(subjects.CALLS_STREAM)).state.last_seq)
    if end == 0:
        return 0, 0.0
    count = 0
    done = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        nonlocal count
        count += 1
        if stream_seq(msg) >= end:
            done.set()

    started = time.perf_counter()
    sub = await js.subscribe(
        subjects.CALLS_SUBJECTS,
        cb=on_msg,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        pending_msgs_limit=200_000,
    )
    await done.wait()
    seconds = time.perf_counter() - started
    await sub.unsubscribe()
    return count, seconds
