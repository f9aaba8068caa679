"""Appending availability and duty-override facts to the ``RESPONDERS`` stream."""

from __future__ import annotations

from nats.aio.client import Client

from events import codec, subjects
from events.models import AvailabilityChanged, DutyOverrideSet


async def append_fact(nc: Client, fact: AvailabilityChanged | DutyOverrideSet) -> int:
    if isinstance(fact, AvailabilityChanged):
        subject = subjects.responder_subject(fact.responder_id, fact.type)
    else:
        subject = subjects.duty_subject(fact.type)
    ack = await nc.jetstream().publish(subject, codec.encode(fact), headers={"Nats-Msg-Id": fact.event_id})
    return int(ack.seq)
