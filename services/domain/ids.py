"""Id factories. Ids a redelivered message must reproduce are derived (uuid5 of the cause)."""

from __future__ import annotations

import uuid
from typing import Protocol

NAMESPACE = uuid.UUID("5b1e9d1a-1310-4c1a-9d2e-7a1b3c4d1310")


class IdFactory(Protocol):
    def new(self) -> str: ...

    def derived(self, *parts: str) -> str: ...


def derive(*parts: str) -> str:
    """A stable id for a cause: the same parts always give the same id."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


class RandomIds:
    def new(self) -> str:
        return str(uuid.uuid4())

    def derived(self, *parts: str) -> str:
        return derive(*parts)


class SequentialIds:
    """Predictable ids for tests: ``id-1``, ``id-2``, ..."""

    def __init__(self, prefix: str = "id") -> None:
        self.prefix = prefix
        self.count = 0

    def new(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count}"

    def derived(self, *parts: str) -> str:
        return derive(*parts)


def new_call_id() -> str:
    """Short, URL- and subject-safe call id."""
    return uuid.uuid4().hex[:16]


def call_id_for_key(key: str) -> str:
    """The call id an ``Idempotency-Key`` always maps to."""
    return uuid.uuid5(NAMESPACE, f"idempotency/{key}").hex[:16]
