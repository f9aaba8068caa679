"""How large a benchmark runs: the full run, ``--quick`` (under 2 minutes on 2 cores, for a
person), or the smoke size: ``--quick`` with ``DISPATCH1310_BENCH_SMOKE=1``, which the test suite
uses to check that every figure is measured and printed beside its baseline in a few seconds
per benchmark. Smoke figures are too small to judge anything: BENCHMARKS.md quotes quick and
full runs only."""

from __future__ import annotations

import os
from typing import TypeVar

SMOKE_ENV = "DISPATCH1310_BENCH_SMOKE"

T = TypeVar("T")


def smoke() -> bool:
    return os.environ.get(SMOKE_ENV, "") not in ("", "0")


def sized(quick: bool, *, full: T, quick_size: T, smoke_size: T) -> T:
    """The full size, the ``--quick`` one, or the smoke one (only with ``--quick``)."""
    if not quick:
        return full
    return smoke_size if smoke() else quick_size


__all__ = ["SMOKE_ENV", "sized", "smoke"]
