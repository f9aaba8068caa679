"""The bench's sizes: the smoke size (the test suite's) only ever replaces ``--quick``'s, so a
person's ``bench --quick`` and full runs measure what BENCHMARKS.md quotes."""

from __future__ import annotations

import pytest

from services.bench.deadlines import calls_due
from services.bench.scale import SMOKE_ENV, sized


def test_sizes_are_full_quick_or_smoke(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SMOKE_ENV, raising=False)
    assert sized(False, full=3, quick_size=2, smoke_size=1) == 3
    assert sized(True, full=3, quick_size=2, smoke_size=1) == 2
    assert calls_due(True) == (1_000, 6.0, 3.0)
    monkeypatch.setenv(SMOKE_ENV, "1")
    assert sized(True, full=3, quick_size=2, smoke_size=1) == 1
    assert sized(False, full=3, quick_size=2, smoke_size=1) == 3  # a full run stays full
    monkeypatch.setenv(SMOKE_ENV, "0")
    assert sized(True, full=3, quick_size=2, smoke_size=1) == 2
