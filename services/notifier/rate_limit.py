"""Per-person rate limit: a flapping call must not flood one phone (pure, time passed in)."""

from __future__ import annotations

from collections import deque


class PerPersonLimit:
    def __init__(self, max_messages: int = 5, per_s: float = 60.0) -> None:
        self.max_messages = max_messages
        self.per_s = per_s
        self._sent: dict[str, deque[float]] = {}

    def allow(self, person_id: str, now: float) -> bool:
        sent = self._sent.setdefault(person_id, deque())
        while sent and sent[0] <= now - self.per_s:
            sent.popleft()
        if len(sent) >= self.max_messages:
            return False
        sent.append(now)
        return True
