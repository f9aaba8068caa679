"""Rate limits on raising calls never block a new resident's first call, nor a retry."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.domain.event_store import StoreUnavailable
from services.intake.limits import Admission, CallRateLimiter, admit_raise


def stored_call(limiter: CallRateLimiter, client: str, phone: str, now: float) -> float:
    """One raise whose call the store keeps; its wait (0 = it went ahead)."""
    admission = limiter.admit(client, phone, now)
    limiter.settle(admission, stored=admission.wait == 0)
    return admission.wait


def test_repeated_calls_from_one_phone_are_slowed_down() -> None:
    limiter = CallRateLimiter(per_minute=100, burst=100, per_phone_per_minute=6)
    waits = [stored_call(limiter, "10.0.0.1", "138", now=0.0) for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[-1] > 0
    assert stored_call(limiter, "10.0.0.1", "138", now=60.0) == 0.0


def test_a_flooding_address_cannot_block_a_new_residents_first_call() -> None:
    limiter = CallRateLimiter(per_minute=5, burst=5)
    for n in range(50):
        stored_call(limiter, "10.0.0.9", f"flood-{n % 3}", now=1.0)
    assert stored_call(limiter, "10.0.0.9", "flood-1", now=1.0) > 0
    assert stored_call(limiter, "10.0.0.9", "new-neighbour", now=1.0) == 0.0
    # ... but their second call right away counts against the address like any other.
    assert stored_call(limiter, "10.0.0.9", "new-neighbour", now=1.0) > 0


def test_a_raise_that_was_not_stored_costs_nothing() -> None:
    limiter = CallRateLimiter(per_minute=60, burst=2, per_phone_per_minute=6)
    stored_call(limiter, "10.0.0.1", "138", now=0.0)  # the phone is known now
    for _ in range(10):  # the store is away: the page tries again and again, same key
        admission = limiter.admit("10.0.0.1", "138", now=0.0, key="138/k1")
        assert admission.wait == 0
        limiter.settle(admission, stored=False)
    # Neither the address nor the phone paid for the failures: a new call still goes ahead.
    assert stored_call(limiter, "10.0.0.1", "138", now=0.0) == 0.0


# --- any interleaving of first tries, failures, retries and neighbours ------------------


@dataclass(frozen=True)
class Try:
    """A resident taps: a new help request (``retry_of`` None) or a retry of an earlier one
    (``retry_of`` counts back from the latest request, so retries mostly hit recent ones)."""

    client: int
    phone: int
    retry_of: int | None
    outcome: str  # "stored", "store_away" (503 on append) or "lookup_away" (503 looking it up)
    dt: float


@dataclass(frozen=True)
class Neighbours:
    client: int
    count: int
    dt: float


OUTCOMES = st.sampled_from(["stored", "store_away", "lookup_away"])
DT = st.sampled_from([0.0, 0.0, 0.1, 1.0, 5.0, 30.0])
OPS = st.lists(
    st.one_of(
        st.builds(Try, st.integers(0, 1), st.integers(0, 3), st.none() | st.integers(0, 3), OUTCOMES, DT),
        st.builds(Neighbours, st.integers(0, 1), st.integers(1, 8), DT),
    ),
    max_size=40,
)


@dataclass
class World:
    limiter: CallRateLimiter = field(
        default_factory=lambda: CallRateLimiter(per_minute=6, burst=3, per_phone_per_minute=6)
    )
    now: float = 0.0
    store: dict[str, str] = field(default_factory=dict)  # key -> the stored call
    keys: list[tuple[int, str]] = field(default_factory=list)  # (phone, key) of each request
    failed: set[str] = field(default_factory=set)  # keys tried and not stored (a 503)
    phones_stored: set[str] = field(default_factory=set)
    neighbours: int = 0

    def attempt(self, client: str, phone: str, key: str | None, outcome: str) -> str | Admission:
        """What the route does, in its order, with this store; the answer or the admission."""

        async def find_stored() -> str | None:
            if outcome == "lookup_away":
                raise StoreUnavailable("simulated")
            return self.store.get(key) if key else None

        try:
            answer = asyncio.run(admit_raise(self.limiter, client, phone, key, self.now, find_stored))
        except StoreUnavailable:
            assert key is not None
            self.failed.add(key)
            return "503"
        if isinstance(answer, str):
            return answer
        if answer.wait == 0:
            stored = outcome == "stored"
            self.limiter.settle(answer, stored)
            if stored:
                self.phones_stored.add(phone)
                if key is not None:
                    self.store[key] = f"call-of-{key}"
            elif key is not None:
                self.failed.add(key)
        return answer


def went_ahead(answer: str | Admission) -> bool:
    """Not refused: admitted (whatever the store then did), or the store was away (503)."""
    return answer == "503" or (isinstance(answer, Admission) and answer.wait == 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_no_retry_is_ever_refused_and_a_stored_calls_retry_gets_it_back(ops: list[Try | Neighbours]) -> None:
    world = World()
    for op in ops:
        world.now += op.dt
        client = f"10.0.0.{op.client}"
        if isinstance(op, Neighbours):
            for _ in range(op.count):
                world.neighbours += 1
                world.attempt(client, f"neighbour-{world.neighbours}", None, "stored")
            continue
        if op.retry_of is None or not world.keys:
            phone, key = f"resident-{op.phone}", f"resident-{op.phone}/tap-{len(world.keys)}"
            world.keys.append((op.phone, key))
        else:
            number, key = world.keys[-1 - op.retry_of % len(world.keys)]
            phone = f"resident-{number}"
        stored_before = world.store.get(key)
        failed_before = key in world.failed
        phone_counted = phone in world.phones_stored
        answer = world.attempt(client, phone, key, op.outcome)
        if stored_before is not None and op.outcome != "lookup_away":
            assert answer == stored_before, f"a retry of a stored call got {answer!r}"
        elif failed_before:
            assert went_ahead(answer), f"a retry of a call not stored was refused: {answer}"
        if not phone_counted and stored_before is None:
            # A phone none of whose calls was stored is not counted: its raise goes ahead.
            assert went_ahead(answer), f"an uncounted phone was refused: {answer}"


def test_new_phones_beyond_the_address_budget_are_held_and_one_flood_is_told_once() -> None:
    limiter = CallRateLimiter(per_minute=1000, burst=1000, new_phones_per_address=5)
    answers = []
    for n in range(9):
        admission = limiter.admit("10.0.0.9", f"+86139{n:08d}", now=float(n))
        limiter.settle(admission, stored=True)
        answers.append((admission.held, admission.first_of_flood))
    assert answers[:5] == [(False, False)] * 5
    assert answers[5:] == [(True, True), (True, False), (True, False), (True, False)]
    # Another address is not part of this flood; a seen phone is not new.
    assert limiter.admit("10.0.0.10", "+8613800000001", now=9.0).held is False
    assert limiter.admit("10.0.0.9", "+8613900000000", now=9.0).held is False
    # Ten minutes later the budget is back.
    assert limiter.admit("10.0.0.9", "+8613700000000", now=700.0).held is False


def test_a_held_raise_that_was_not_stored_does_not_use_the_budget() -> None:
    limiter = CallRateLimiter(per_minute=1000, burst=1000, new_phones_per_address=1)
    failed = limiter.admit("10.0.0.9", "+8613900000001", now=0.0)
    limiter.settle(failed, stored=False)  # the store was away
    assert limiter.admit("10.0.0.9", "+8613900000002", now=1.0).held is False
