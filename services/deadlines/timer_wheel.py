"""In-process timers on the hot path: a heap, one sleeping task, bounded concurrent firing."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.deadlines.domain import Timer
from services.domain.clock import Clock

Key = tuple[str, str, str]


class TimerWheel:
    def __init__(self, clock: Clock, fire: Callable[[Timer], Awaitable[None]], concurrency: int = 64) -> None:
        self.clock = clock
        self.fire = fire
        self._heap: list[tuple[object, int, Timer]] = []
        self._counter = itertools.count()
        self._active: dict[Key, Timer] = {}
        self._by_call: dict[str, set[Key]] = {}
        self._in_flight: set[Key] = set()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._active)

    def replace_call(self, call_id: str, timers: list[Timer]) -> None:
        """Make ``timers`` the exact set running for ``call_id`` (others are cancelled)."""
        wanted = {t.key: t for t in timers}
        for key in self._by_call.get(call_id, set()) - wanted.keys():
            self._active.pop(key, None)
        for key, timer in wanted.items():
            if self._active.get(key) != timer:
                self._set(timer)
        if wanted:
            self._by_call[call_id] = set(wanted)
        else:
            self._by_call.pop(call_id, None)

    def _set(self, timer: Timer) -> None:
        self._active[timer.key] = timer
        head = self._heap[0][2].due if self._heap else None
        heapq.heappush(self._heap, (timer.due, next(self._counter), timer))
        if head is None or timer.due < head:
            self._wakeup.set()

    def fire_now(self, timer: Timer) -> None:
        """Fire ``timer`` unless it is already being fired (the sweep's way in)."""
        if timer.key not in self._in_flight:
            self._spawn(timer)

    def retry_later(self, timer: Timer, delay_s: float) -> None:
        """Fire ``timer`` again after ``delay_s`` (its current firing will have finished by then)."""
        asyncio.get_running_loop().call_later(delay_s, self.fire_now, timer)

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)

    def next_due(self) -> datetime | None:
        """When the earliest running timer is due (None: no timer running)."""
        while self._heap and self._active.get(self._heap[0][2].key) != self._heap[0][2]:
            heapq.heappop(self._heap)  # cancelled or replaced since
        return self._heap[0][2].due if self._heap else None

    def fire_due(self) -> int:
        """Fire every running timer due by the clock now (what the runner does when it wakes;
        tests on a manual clock call it after moving the clock). Returns how many."""
        now, fired = self.clock.now(), 0
        while (due := self.next_due()) is not None and due <= now:
            _, _, timer = heapq.heappop(self._heap)
            del self._active[timer.key]
            self._spawn(timer)
            fired += 1
        return fired

    async def idle(self) -> None:
        """Until no firing is in flight (firings started meanwhile included)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self.fire_due()
            due = self.next_due()
            timeout = (due - self.clock.now()).total_seconds() if due is not None else None
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _spawn(self, timer: Timer) -> None:
        self._in_flight.add(timer.key)
        task = asyncio.create_task(self._fire(timer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fire(self, timer: Timer) -> None:
        try:
            async with self._slots:
                await self.fire(timer)
        finally:
            self._in_flight.discard(timer.key)
