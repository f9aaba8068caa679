"""Composition root of the audit service: follow CALLS into the projections, answer queries."""

from __future__ import annotations

import json

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from events import subjects
from events.models import CallEvent, Fact
from services.audit.projections import AuditState, apply, apply_desk
from services.audit.queries import SUBJECT_PREFIX, QueryError, answer, encode
from services.common.clock import Clock, SystemClock
from services.common.follow import StreamFollower
from services.common.service import Service, run_service
from services.common.settings import Settings
from services.common.streams import connect, ensure_streams

log = structlog.get_logger("audit")


class AuditService:
    """Projections rebuilt from sequence 1 at start (the stream is the checkpoint), then live."""

    def __init__(self, nc: Client, clock: Clock) -> None:
        self.nc = nc
        self.clock = clock
        self.state = AuditState()
        self.follower = StreamFollower(subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS, self.on_fact)
        self.desk_follower = StreamFollower(subjects.RESPONDERS_STREAM, ">", self.on_desk_fact)
        self._sub: object | None = None

    def on_fact(self, fact: Fact, seq: int) -> None:
        if isinstance(fact, CallEvent):
            apply(self.state, seq, fact)

    def on_desk_fact(self, fact: Fact, seq: int) -> None:
        apply_desk(self.state, seq, fact)

    async def start(self) -> None:
        await self.follower.start(self.nc)
        await self.desk_follower.start(self.nc)
        self._sub = await self.nc.subscribe(f"{SUBJECT_PREFIX}*", queue="audit", cb=self.on_query)
        log.info("service_started", events=self.state.events, calls=len(self.state.calls))

    async def on_query(self, msg: Msg) -> None:
        name = msg.subject.removeprefix(SUBJECT_PREFIX)
        try:
            params = json.loads(msg.data or b"{}")
            body = {
                "ok": True,
                "result": answer(self.state, name, params, self.clock.now()),
                "seq": self.state.last_seq,
            }
        except (QueryError, ValueError) as exc:
            body = {"ok": False, "error": str(exc)}
        await msg.respond(encode(body))

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()  # type: ignore[attr-defined]
        await self.follower.stop()
        await self.desk_follower.stop()
        await self.nc.close()
        log.info("service_stopped")


async def build(settings: Settings, clock: Clock | None = None) -> Service:
    assert settings.nats_url, "NATS_URL must be set for a service"
    nc = await connect(settings.nats_url, "audit")
    await ensure_streams(nc.jetstream(), settings.replicas)
    return AuditService(nc, clock or SystemClock())


def run(settings: Settings) -> None:
    run_service(lambda: build(settings))
