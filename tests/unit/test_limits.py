"""Rate limits on raising calls never block a new resident's first call."""

from __future__ import annotations

from services.intake.limits import CallRateLimiter


def test_repeated_calls_from_one_phone_are_slowed_down() -> None:
    limiter = CallRateLimiter(per_minute=100, burst=100, per_phone_per_minute=6)
    waits = [limiter.allow("10.0.0.1", "138", now=0.0) for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[-1] > 0
    assert limiter.allow("10.0.0.1", "138", now=60.0) == 0.0


def test_a_flooding_address_cannot_block_a_new_residents_first_call() -> None:
    limiter = CallRateLimiter(per_minute=5, burst=5)
    for n in range(50):
        limiter.allow("10.0.0.9", f"flood-{n % 3}", now=1.0)
    assert limiter.allow("10.0.0.9", "flood-1", now=1.0) > 0
    assert limiter.allow("10.0.0.9", "new-neighbour", now=1.0) == 0.0
    # ... but their second call right away counts against the address like any other.
    assert limiter.allow("10.0.0.9", "new-neighbour", now=1.0) > 0
