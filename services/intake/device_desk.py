"""The devices route's memory: one lock per device, each device's open call, the replay ledger."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from services.intake.replay_ledger import ReplayLedger


class DeviceDesk:
    """Per-device serialisation and memory of the device's open call (beats stream lag)."""

    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}
        self.open_call: dict[str, str] = {}
        self.ledger: ReplayLedger | None = None

    async def replays(self, nc: Client) -> ReplayLedger:
        if self.ledger is None:
            self.ledger = await ReplayLedger.open(nc)
        return self.ledger
