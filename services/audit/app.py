"""Composition root of the audit service: follow CALLS into the projections, answer queries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from events import subjects
from events.models import CallEvent, Fact
from services.adapters.follow import StreamFollower
from services.adapters.roster_store import RosterHolder
from services.audit import checkpoint
from services.audit.projections import AuditState, apply, apply_desk, as_raised
from services.audit.queries import SUBJECT_PREFIX, QueryError, answer, encode
from services.domain.clock import Clock
from services.runtime import metrics
from services.runtime.bootstrap import bootstrap
from services.runtime.service import Service, run_service
from services.runtime.settings import Settings

log = structlog.get_logger("audit")


CHECKPOINT_EVERY_S = 30.0


class AuditService:
    """Projections resumed from the last checkpoint (or rebuilt from sequence 1), then live;
    checkpointed every ``checkpoint_every_s`` when something changed, and on stop."""

    def __init__(
        self,
        nc: Client,
        clock: Clock,
        checkpoint_every_s: float = CHECKPOINT_EVERY_S,
        rosters: RosterHolder | None = None,
    ) -> None:
        self.nc = nc
        self.clock = clock
        self.rosters = rosters  # whose communities old calls count under, at read time
        self.checkpoint_every_s = checkpoint_every_s
        self.state = AuditState()
        self.resumed_from = 0  # the CALLS sequence the checkpoint covered (0: rebuilt from 1)
        self._saved_at: tuple[int, int] = (0, 0)
        self._checkpointing: asyncio.Task[None] | None = None
        self._stopping = False
        self.follower = StreamFollower(subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS, self.on_fact)
        self.desk_follower = StreamFollower(subjects.RESPONDERS_STREAM, ">", self.on_desk_fact)
        self._sub: object | None = None

    def on_fact(self, fact: Fact, seq: int) -> None:
        if isinstance(fact, CallEvent):
            apply(self.state, seq, fact)

    def on_desk_fact(self, fact: Fact, seq: int) -> None:
        apply_desk(self.state, seq, fact)

    async def start(self) -> None:
        restored = await checkpoint.restore(self.nc)
        if restored is not None:
            self.state = restored
            self.resumed_from = restored.last_seq
            self._saved_at = (restored.last_seq, restored.desk_seq)
        await self.follower.start(self.nc, from_seq=self.state.last_seq + 1)
        await self.desk_follower.start(self.nc, from_seq=self.state.desk_seq + 1)
        self._sub = await self.nc.subscribe(f"{SUBJECT_PREFIX}*", queue="audit", cb=self.on_query)
        await self.nc.flush()  # the server knows the subscription before we say we answer queries
        self._checkpointing = asyncio.create_task(self._checkpoint_regularly())
        log.info(
            "service_started",
            events=self.state.events,
            calls=len(self.state.calls),
            resumed_from=self.resumed_from,
        )

    async def save_checkpoint(self) -> None:
        """Save the projections if anything was folded since the last save."""
        position = (self.state.last_seq, self.state.desk_seq)
        if position == self._saved_at:
            return
        size = await checkpoint.save(self.nc, self.state)
        self._saved_at = position
        log.info("checkpoint_saved", last_seq=position[0], desk_seq=position[1], bytes=size)

    async def _checkpoint_regularly(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.checkpoint_every_s)
            try:
                await self.save_checkpoint()
                metrics.checkpoint_saved("audit")  # written, or still covering everything
            except Exception as exc:  # NATS away: the next round (or the stop) saves it
                log.warning("checkpoint_failed", error=repr(exc))

    async def on_query(self, msg: Msg) -> None:
        name = msg.subject.removeprefix(SUBJECT_PREFIX)
        try:
            params = json.loads(msg.data or b"{}")
            community_of = self.rosters.roster.known_community if self.rosters is not None else as_raised
            body = {
                "ok": True,
                "result": answer(self.state, name, params, self.clock.now(), community_of),
                "seq": self.state.last_seq,
            }
        except (QueryError, ValueError) as exc:
            body = {"ok": False, "error": str(exc)}
        await msg.respond(encode(body))

    async def stop(self) -> None:
        if self._checkpointing is not None:
            # A cancel that lands as a save's NATS request completes can be lost inside it
            # (Python 3.11's wait_for): the loop then sleeps on. Stop asking, and do not wait
            # for it longer than a save takes (the stop saves once more below).
            self._stopping = True
            self._checkpointing.cancel()
            done, _ = await asyncio.wait({self._checkpointing}, timeout=2.0)
            if not done:
                log.warning("checkpoint_loop_did_not_stop")
        if self._sub is not None:
            await self._sub.unsubscribe()  # type: ignore[attr-defined]
        await self.follower.stop()
        await self.desk_follower.stop()
        if self.rosters is not None:
            await self.rosters.close()
        try:
            await asyncio.wait_for(self.save_checkpoint(), 5.0)
        except Exception as exc:  # a checkpoint is an optimisation; the stream is the truth
            log.warning("checkpoint_failed", error=repr(exc))
        await self.nc.close()
        log.info("service_stopped")


async def build(settings: Settings, clock: Clock | None = None) -> Service:
    return await bootstrap("audit", settings, compose, clock=clock)


async def compose(*, nc: Client, clock: Clock, rosters: RosterHolder) -> Service:
    return AuditService(nc, clock, rosters=rosters)


def run(settings: Settings, on_started: Callable[[], None] | None = None) -> None:
    run_service(lambda: build(settings), on_started)
