"""A follower that sees the stream jump (a consumer recreated past a message) reads the gap
again before going on: the memory built on it never lacks an event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from events import codec, subjects
from events.models import CallEvent, Fact
from services.adapters.follow import StreamFollower
from tests.factories import note, raised


@dataclass
class FakeMsg:
    subject: str
    data: bytes
    reply: str


def message(event: CallEvent, seq: int) -> FakeMsg:
    return FakeMsg(
        subjects.call_subject(event.call_id, event.type),
        codec.encode(event),
        f"$JS.ACK.CALLS.f.1.{seq}.{seq}.0.0",
    )


async def test_a_jump_in_sequences_is_read_again_before_the_message_that_revealed_it() -> None:
    stored = {1: raised("c1"), 2: note("c1", 1), 3: note("c1", 2), 4: note("c1", 3)}
    seen: list[tuple[int, str]] = []

    def on_fact(fact: Fact, seq: int) -> None:
        seen.append((seq, fact.event_id))

    follower = StreamFollower(subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS, on_fact)
    follower._contiguous = True  # following the whole stream, as start() finds for CALLS

    async def read_range(first: int, last: int) -> AsyncIterator[FakeMsg]:
        for seq in range(first, last + 1):
            yield message(stored[seq], seq)

    follower.read_range = read_range  # type: ignore[method-assign,assignment]
    for seq in (1, 2, 4):  # 3 never delivered
        msg = message(stored[seq], seq)
        await follower.receive(msg.subject, msg.data, seq)
    assert [seq for seq, _ in seen] == [1, 2, 3, 4]
    assert follower.gaps_filled == 1 and follower.last_seq == 4
    # A redelivery of an earlier message is no gap.
    again = message(stored[2], 2)
    await follower.receive(again.subject, again.data, 2)
    assert follower.gaps_filled == 1 and follower.last_seq == 4
