"""Per-person rate limit: a flapping call must not flood one phone (pure, time passed in)."""

from __future__ import annotations

from collections import deque


class PerPersonLimit:
    """At most ``max_messages`` per person in any ``per_s`` seconds (a sliding window)."""

    def __init__(self, max_messages: int = 5, per_s: float = 60.0) -> None:
        self.max_messages = max_messages
        self.per_s = per_s
        self._sent: dict[str, deque[float]] = {}

    def allow(self, person_id: str, now: float) -> bool:
        """Take one message of ``person_id``'s budget at ``now`` if there is one left."""
        sent = self._window(person_id, now)
        if len(sent) >= self.max_messages:
            return False
        sent.append(now)
        return True

    def free_at(self, person_id: str, now: float) -> float:
        """The earliest time (``now`` or later) at which ``allow`` would say yes."""
        sent = self._window(person_id, now)
        if len(sent) < self.max_messages:
            return now
        return sent[0] + self.per_s

    def _window(self, person_id: str, now: float) -> deque[float]:
        sent = self._sent.setdefault(person_id, deque())
        while sent and sent[0] + self.per_s <= now:  # the same sum as ``free_at``
            sent.popleft()
        return sent
