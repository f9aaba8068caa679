"""The intake's live view of the RESPONDERS stream (availability, duty overrides)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from events.models import Fact
from services.domain.duty import DutyBook


class DeskView:
    def __init__(self) -> None:
        self.book = DutyBook()
        self._recent: deque[str] = deque(maxlen=10_000)
        self._changed = asyncio.Event()

    def apply(self, fact: Fact, seq: int = 0) -> None:
        self.book = self.book.apply(fact)
        self._recent.append(fact.event_id)
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, event_id: str, timeout: float = 2.0) -> bool:
        """Read-your-writes: wait until the fact appended by this request has been folded in."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while event_id not in self._recent:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True
