"""Run a scenario against a running system, only through its public HTTP API and SSE."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.roster import Roster
from services.simulator.scenario import Behaviour, CallWave, Scenario


@dataclass
class SimulationResult:
    scenario: str
    raised: list[str] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)
    raise_latency_ms: list[float] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    report_error: str | None = None

    def summary(self) -> dict[str, Any]:
        stages = {"contact": 0, "reach": 0, "onsite": 0}
        missed = {"contact": 0, "reach": 0, "onsite": 0}
        for view in self.final.values():
            for stage, info in view.get("stages", {}).items():
                if info.get("met_at") and not info.get("missed"):
                    stages[stage] += 1
                if info.get("missed"):
                    missed[stage] += 1
        latencies = sorted(self.raise_latency_ms)
        return {
            "scenario": self.scenario,
            "calls_raised": len(self.raised),
            "calls_refused": dict(self.refused),
            "raise_p50_ms": _pct(latencies, 0.5),
            "raise_p99_ms": _pct(latencies, 0.99),
            "met_in_time": stages,
            "missed": missed,
            "levels": dict(Counter(v.get("level") for v in self.final.values())),
            "statuses": dict(Counter(v.get("status") for v in self.final.values())),
            "responder_actions": dict(self.actions),
        }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        base_url: str,
        roster: Roster,
        supervisor_token: str | None,
        seed: int = 1310,
        progress: bool = True,
    ) -> None:
        self.scenario = scenario
        self.base_url = base_url
        self.roster = roster
        self.supervisor = {"Authorization": f"Bearer {supervisor_token}"} if supervisor_token else {}
        self.random = random.Random(seed)
        self.progress = progress
        self.result = SimulationResult(scenario.name)
        self._handled: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> SimulationResult:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30, limits=limits) as http:
            self.http = http
            await self._set_away()
            listeners = [
                asyncio.create_task(self._listen(p.id, p.token))
                for p in self.roster.people.values()
                if p.token
            ]
            await asyncio.sleep(0.3)  # let the streams connect before the first call
            reporter = asyncio.create_task(self._report_progress()) if self.progress else None
            await asyncio.gather(*(self._wave(wave, n) for n, wave in enumerate(self.scenario.waves)))
            await self._settle()
            for task in [*listeners, *self._tasks, *([reporter] if reporter else [])]:
                task.cancel()
            await asyncio.gather(*listeners, *self._tasks, return_exceptions=True)
            await self._collect()
        if self.progress:
            print(file=sys.stderr)
        return self.result

    # ------------------------------------------------------------ residents

    async def _wave(self, wave: CallWave, wave_no: int) -> None:
        started = time.monotonic()
        buildings = self._buildings(wave)
        kinds, weights = zip(*wave.kinds.items(), strict=True)
        for n in range(wave.count):
            due = wave.start_s + n * wave.over_s / max(wave.count, 1)
            delay = started + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            building = (
                "unknown-building"
                if self.random.random() < wave.unknown_building_rate
                else self.random.choice(buildings)
            )
            body = {
                "caller": {"name": f"居民{wave_no}-{n}", "phone": f"1{wave_no:02d}{n:08d}"},
                "building_id": building,
                "kind": self.random.choices(kinds, weights)[0],
                "drill": wave.drill,
                "note": f"simulated by {self.scenario.name}",
            }
            self._spawn(self._raise(body))

    def _buildings(self, wave: CallWave) -> list[str]:
        if wave.buildings:
            return list(wave.buildings)
        districts = [d for d in self.roster.districts if wave.district in (None, d.id)]
        return [b.id for d in districts for b in d.buildings] or ["unknown-building"]

    async def _raise(self, body: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            response = await self.http.post("/api/calls", json=body)
        except httpx.HTTPError:
            self.result.refused[0] += 1
            return
        self.result.raise_latency_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code == 201:
            self.result.raised.append(response.json()["call_id"])
        else:
            self.result.refused[response.status_code] += 1

    # ------------------------------------------------------------ responders

    async def _set_away(self) -> None:
        for person in self.scenario.away:
            await self.http.post(
                f"/api/responders/{person}/availability", json={"status": "away"}, headers=self.supervisor
            )

    async def _listen(self, person_id: str, token: str) -> None:
        url = f"/api/responders/{person_id}/stream"
        while True:
            try:
                async with self.http.stream(
                    "GET", url, params={"access_token": token}, timeout=None
                ) as stream:
                    event = None
                    async for line in stream.aiter_lines():
                        if line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("data: ") and event == "dispatch":
                            call = json.loads(line[6:])["call"]
                            self._on_dispatch(person_id, token, call["call_id"])
            except (TimeoutError, httpx.HTTPError):
                await asyncio.sleep(0.5)

    def _on_dispatch(self, person_id: str, token: str, call_id: str) -> None:
        if (person_id, call_id) in self._handled:
            return
        self._handled.add((person_id, call_id))
        self._spawn(self._respond(person_id, token, call_id, self.scenario.behaviour(person_id)))

    async def _respond(self, person_id: str, token: str, call_id: str, b: Behaviour) -> None:
        roll = self.random.random()
        if roll < b.no_answer_rate:
            self.result.actions["no_answer"] += 1
            return
        await asyncio.sleep(self.random.uniform(*b.accept_after_s))
        if roll < b.no_answer_rate + b.decline_rate:
            await self._act(person_id, token, call_id, "decline")
            return
        if not await self._act(person_id, token, call_id, "accept"):
            return
        await asyncio.sleep(self.random.uniform(*b.arrive_after_s))
        await self._act(person_id, token, call_id, "enroute")
        if not await self._act(person_id, token, call_id, "arrive"):
            return
        await asyncio.sleep(self.random.uniform(*b.resolve_after_s))
        await self._act(person_id, token, call_id, "resolve")

    async def _act(self, person_id: str, token: str, call_id: str, action: str) -> bool:
        response = await self.http.post(
            f"/api/calls/{call_id}/{action}",
            json={"responder_id": person_id, "note": "simulated"},
            headers={"Authorization": f"Bearer {token}"},
        )
        self.result.actions[f"{action}_{response.status_code}"] += 1
        return response.status_code == 200

    # ------------------------------------------------------------ end

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self) -> None:
        deadline = time.monotonic() + self.scenario.settle_s
        while self._tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def _collect(self) -> None:
        for call_id in self.result.raised:
            response = await self.http.get(f"/api/calls/{call_id}")
            if response.status_code == 200:
                self.result.final[call_id] = response.json()
        drills = any(w.drill for w in self.scenario.waves)
        response = await self.http.get(
            "/api/reports/compliance", params={"include_drills": str(drills).lower()}, headers=self.supervisor
        )
        if response.status_code == 200:
            self.result.report = response.json()
        else:
            self.result.report_error = f"HTTP {response.status_code}: {response.text[:200]}"

    async def _report_progress(self) -> None:
        total = self.scenario.total_calls
        while True:
            actions = self.result.actions
            print(
                f"\r{self.scenario.name}: raised {len(self.result.raised)}/{total}"
                f"  refused {sum(self.result.refused.values())}"
                f"  accepted {actions['accept_200']}  arrived {actions['arrive_200']}"
                f"  resolved {actions['resolve_200']}  declined {actions['decline_200']}",
                end="",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(1)
