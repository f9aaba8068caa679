"""Pacing pages to one phone: under the budget a page goes at once; past it, pages are held
and go together as ONE text naming every held call as soon as the window allows (pure, time
passed in). Nothing is ever dropped: a held page waits at most ``limit.per_s`` seconds.

Why the bound holds: a page is held only while the person's window is full, and the window
frees when its oldest text (sent at most ``per_s`` ago) leaves it; a page joining pages
already held goes with them, no later than the first of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notifier.content import PageContent
from services.notifier.rate_limit import PerPersonLimit


@dataclass(frozen=True)
class Page:
    """One dispatch to text at ``address``: ``content`` is what the text says of its call."""

    person_id: str
    dispatch_id: str
    call_id: str
    address: str
    content: PageContent


@dataclass(frozen=True)
class Batch:
    """Pages to send now to one person, as one text."""

    person_id: str
    pages: tuple[Page, ...]

    @property
    def address(self) -> str:
        return self.pages[-1].address  # the newest page knows the latest number


class Pacer:
    def __init__(self, limit: PerPersonLimit) -> None:
        self.limit = limit
        self._held: dict[str, dict[str, Page]] = {}  # person -> dispatch id -> page, in arrival order

    def offer(self, page: Page, now: float) -> Batch | None:
        """The batch to send now (this page alone), or None: the page is held (again)."""
        held = self._held.get(page.person_id)
        if held is not None:  # others are already waiting: go with them, in arrival order
            held.setdefault(page.dispatch_id, page)
            return None
        if self.limit.allow(page.person_id, now):
            return Batch(page.person_id, (page,))
        self._held[page.person_id] = {page.dispatch_id: page}
        return None

    def is_held(self, dispatch_id: str) -> bool:
        return any(dispatch_id in held for held in self._held.values())

    def due(self, now: float) -> list[Batch]:
        """Held pages whose person's window allows a text now: one batch per person."""
        batches = []
        for person_id in list(self._held):
            if self.limit.allow(person_id, now):
                batches.append(Batch(person_id, tuple(self._held.pop(person_id).values())))
        return batches

    def next_due(self, now: float) -> float | None:
        """When ``due`` will next return something (None: nothing is held)."""
        return min((self.limit.free_at(person_id, now) for person_id in self._held), default=None)

    @property
    def held_count(self) -> int:
        return sum(len(held) for held in self._held.values())
