"""A follower of ``CALLS`` that starts from its restart point instead of sequence 1, and keeps
that point saved while it runs (see restart_point.py)."""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.client import Client

from events import subjects
from events.models import Fact
from services.adapters.follow import StreamFollower
from services.adapters.restart_point import (
    SAVE_EVERY_S,
    PointKeeper,
    RestartPoint,
    first_open_seq,
    folds,
    load_start,
)
from services.domain.open_calls import OpenCallStates


class ResumingFollower:
    """Feeds ``on_fact(fact, seq)`` the facts a fold of ``states`` from the restart point takes
    (``on_skipped(seq)`` the others); ``start`` returns once caught up.

    ``oldest_kept`` gives the first sequence of anything else the follower keeps beside the
    open calls (the board's recently closed calls), so the point never passes it."""

    def __init__(
        self,
        name: str,
        states: OpenCallStates,
        on_fact: Callable[[Fact, int], None],
        on_skipped: Callable[[int], None] | None = None,
        oldest_kept: Callable[[], int | None] | None = None,
        every_s: float = SAVE_EVERY_S,
    ) -> None:
        self.name = name
        self.states = states
        self.on_fact = on_fact
        self.on_skipped = on_skipped
        self.oldest_kept = oldest_kept
        self.every_s = every_s
        self.follower = StreamFollower(subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS, self._receive)
        self.started_from = 0
        self._created = ""
        self.points: PointKeeper | None = None

    @property
    def last_seq(self) -> int:
        return self.follower.last_seq

    def _receive(self, fact: Fact, seq: int) -> None:
        if folds(self.states, fact):
            self.on_fact(fact, seq)
        elif self.on_skipped is not None:
            self.on_skipped(seq)

    async def start(self, nc: Client, timeout: float = 60.0) -> None:
        self.started_from, self._created = await load_start(nc, self.name)
        await self.follower.start(nc, timeout, from_seq=self.started_from)
        self.points = PointKeeper(nc, self.name, self.point, self.every_s)
        self.points.start()

    async def point(self) -> RestartPoint:
        covered = self.follower.last_seq
        start = first_open_seq(self.states, covered + 1)
        kept = self.oldest_kept() if self.oldest_kept is not None else None
        if kept is not None:
            start = min(start, kept)
        return RestartPoint(start, covered, self._created)

    async def stop(self) -> None:
        if self.points is not None:
            await self.points.stop()
        await self.follower.stop()
