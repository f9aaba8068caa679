"""Run a scenario against a running system, only through its public HTTP API and SSE.

A run acts only on its own calls: every call it raises is a drill whose note carries the run id,
it keeps the ids of the calls it raised, and its scripted responders answer only dispatches of
those calls (a real call paging the same person is left to the real person). At the end, and
on Ctrl-C or an error, it puts back what it changed: people it set away are set available
again, and its drills still open are cancelled with their caller's secret.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.domain.roster import Roster
from services.simulator.scenario import Behaviour, CallWave, Scenario


class SimulationError(RuntimeError):
    """The run cannot go on (or start) without touching what is not its own."""


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
    run_id: str = ""
    answered: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    ignored_dispatches: int = 0
    set_away: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    cleanup_errors: list[str] = field(default_factory=list)
    interrupted: bool = False

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
            "run_id": self.run_id,
            "interrupted": self.interrupted,
            "calls_raised": len(self.raised),
            "calls_answered": len(self.answered),
            "calls_resolved": len(self.resolved),
            "dispatches_of_other_calls_ignored": self.ignored_dispatches,
            "restored_availability": list(self.restored),
            "cancelled_open_drills": list(self.cancelled),
            "cleanup_errors": list(self.cleanup_errors),
            "calls_refused": dict(self.refused),
            "raise_p50_ms": _pct(latencies, 0.5),
            "raise_p99_ms": _pct(latencies, 0.99),
            "met_in_time": stages,
            "missed": missed,
            "levels": dict(Counter(v.get("level") for v in self.final.values())),
            "communities": dict(Counter(v.get("community_id") for v in self.final.values())),
            "statuses": dict(Counter(v.get("status") for v in self.final.values())),
            "responder_actions": dict(self.actions),
        }

    def closing_lines(self) -> list[str]:
        """What a person at the terminal needs to know: what the run did and what it put back."""
        lines = [
            f"simulation {self.run_id} ({self.scenario}){' interrupted' if self.interrupted else ''}: "
            f"raised {len(self.raised)} drill calls, answered {len(self.answered)}, resolved {len(self.resolved)}; "
            f"ignored {self.ignored_dispatches} dispatches of calls it did not raise"
        ]
        if self.set_away:
            lines.append(
                f"restored availability of {', '.join(self.restored)}"
                if self.restored
                else "restored no availability"
            )
        if self.cancelled:
            lines.append(
                f"cancelled {len(self.cancelled)} of its drills still open: {', '.join(self.cancelled)}"
            )
        lines += [f"NOT restored: {error}" for error in self.cleanup_errors]
        return lines


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
        run_id: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.base_url = base_url
        self.roster = roster
        self.supervisor = {"Authorization": f"Bearer {supervisor_token}"} if supervisor_token else {}
        self.random = random.Random(seed)
        self.progress = progress
        self.run_id = run_id or f"sim-{uuid.uuid4().hex[:10]}"
        self.tag = f"simulation run {self.run_id}"
        self.result = SimulationResult(scenario.name, run_id=self.run_id)
        self._handled: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ours: set[str] = set()  # the ids of the calls this run raised: the only ones it acts on
        self._secrets: dict[str, str] = {}
        self._raising = 0  # raises sent and not yet answered
        self._raise_done = asyncio.Condition()
        self._away_before: dict[str, str] = {}  # person set away by this run -> status before the run

    async def run(self) -> SimulationResult:
        """Run the scenario; whatever happens (Ctrl-C, an error), put back what it changed."""
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30, limits=limits) as http:
            self.http = http
            background: list[asyncio.Task[None]] = []
            try:
                await self._set_away()
                background += [
                    asyncio.create_task(self._listen(p.id, p.token))
                    for p in self.roster.people.values()
                    if p.token
                ]
                await asyncio.sleep(0.3)  # let the streams connect before the first call
                if self.progress:
                    background.append(asyncio.create_task(self._report_progress()))
                await asyncio.gather(*(self._wave(wave, n) for n, wave in enumerate(self.scenario.waves)))
                await self._settle()
                await self._stop(background)
                await self._collect()
            except BaseException:
                self.result.interrupted = True
                raise
            finally:
                await self._stop(background)
                await self._restore()
        if self.progress:
            print(file=sys.stderr)
        return self.result

    async def _stop(self, background: list[asyncio.Task[None]]) -> None:
        """No scripted responder acts after this: every listener and pending action is stopped."""
        tasks = [*background, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
                "drill": True,
                "note": f"{self.tag} ({self.scenario.name})",
            }
            self._spawn(self._raise(body))

    def _buildings(self, wave: CallWave) -> list[str]:
        if wave.buildings:
            return list(wave.buildings)
        community = self.roster.community_by_id(wave.community) if wave.community else None
        if wave.community and community is None:
            raise ValueError(f"the scenario names community {wave.community!r}, not in the roster")
        among = self.roster.districts_of(community) if community else self.roster.all_districts
        districts = [d for d in among if wave.district in (None, d.id)]
        return [b.id for d in districts for b in d.buildings] or ["unknown-building"]

    async def _raise(self, body: dict[str, Any]) -> None:
        started = time.perf_counter()
        self._raising += 1
        try:
            response = await self.http.post("/api/calls", json=body)
            self.result.raise_latency_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code == 201:
                call = response.json()
                self._ours.add(call["call_id"])  # before the count drops: a waiting responder sees it
                self._secrets[call["call_id"]] = call["secret"]
                self.result.raised.append(call["call_id"])
            else:
                self.result.refused[response.status_code] += 1
        except httpx.HTTPError:
            self.result.refused[0] += 1
        finally:
            self._raising -= 1
            async with self._raise_done:
                self._raise_done.notify_all()

    # ------------------------------------------------------------ responders

    async def _availability(self) -> dict[str, dict[str, Any]]:
        response = await self.http.get("/api/responders", headers=self.supervisor)
        if response.status_code != 200:
            raise SimulationError(
                f"cannot read availability (GET /api/responders: HTTP {response.status_code}); "
                "a scenario that sends people away needs a supervisor's DISPATCH1310_TOKEN"
            )
        return {row["id"]: row for row in response.json()}

    async def _set_away(self) -> None:
        """Send the scenario's people away, remembering who was not away already (to set back)."""
        if not self.scenario.away:
            return
        before = await self._availability()
        for person in self.scenario.away:
            if person not in before:
                raise SimulationError(
                    f"the scenario sends {person!r} away, who is not in the system's roster"
                )
            if before[person]["status"] == "away":
                continue  # already away (perhaps until a set time): left exactly as it is
            self._away_before[person] = before[person]["status"]
            response = await self.http.post(
                f"/api/responders/{person}/availability", json={"status": "away"}, headers=self.supervisor
            )
            if response.status_code != 200:
                del self._away_before[person]
                raise SimulationError(
                    f"cannot set {person} away: HTTP {response.status_code} {response.text[:200]}"
                )
            self.result.set_away.append(person)

    async def _restore(self) -> None:
        """Set back the availability this run changed and cancel its drills still open."""
        for call_id in list(self._ours):
            try:
                await self._cancel_if_open(call_id)
            except httpx.HTTPError as exc:
                self.result.cleanup_errors.append(f"drill {call_id} may still be open ({exc!r})")
        for person in list(self._away_before):
            try:
                response = await self.http.post(
                    f"/api/responders/{person}/availability",
                    json={"status": "available"},
                    headers=self.supervisor,
                )
            except httpx.HTTPError as exc:
                self.result.cleanup_errors.append(f"availability of {person} ({exc!r})")
                continue
            if response.status_code == 200:
                del self._away_before[person]
                self.result.restored.append(person)
            else:
                self.result.cleanup_errors.append(f"availability of {person} (HTTP {response.status_code})")

    async def _cancel_if_open(self, call_id: str) -> None:
        view = await self.http.get(f"/api/calls/{call_id}")
        if view.status_code != 200:
            return
        call = view.json()
        if call["status"] != "open" or call.get("merged_into"):
            return  # closed, or merged (it closes with the call it joined, also one of ours)
        response = await self.http.post(
            f"/api/calls/{call_id}/cancel",
            json={"note": f"{self.tag} ended"},
            headers={"X-Call-Secret": self._secrets[call_id]},
        )
        if response.status_code == 200:
            self.result.cancelled.append(call_id)
        else:
            self.result.cleanup_errors.append(
                f"drill {call_id} still open (cancel: HTTP {response.status_code})"
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
                            self._on_dispatch(person_id, token, json.loads(line[6:]))
            except (TimeoutError, httpx.HTTPError):
                await asyncio.sleep(0.5)

    def _on_dispatch(self, person_id: str, token: str, dispatch: dict[str, Any]) -> None:
        call_id = dispatch["call"]["call_id"]
        if (person_id, call_id) in self._handled:
            return
        self._handled.add((person_id, call_id))
        self._spawn(self._respond(person_id, token, call_id, dispatch, self.scenario.behaviour(person_id)))

    async def _is_ours(self, call_id: str, dispatch: dict[str, Any]) -> bool:
        """A call this run raised. Its dispatch can come before the raise's own answer: then wait for it."""
        if call_id in self._ours:
            return True
        if not dispatch.get("drill") or self.tag not in (dispatch.get("note") or ""):
            return False
        async with self._raise_done:
            try:
                await asyncio.wait_for(
                    self._raise_done.wait_for(lambda: call_id in self._ours or not self._raising), timeout=60
                )
            except TimeoutError:
                return False
        return call_id in self._ours

    async def _respond(
        self, person_id: str, token: str, call_id: str, dispatch: dict[str, Any], b: Behaviour
    ) -> None:
        if not await self._is_ours(call_id, dispatch):
            self.result.ignored_dispatches += 1
            return
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
        if call_id not in self._ours:  # never, whatever the caller: a run acts only on its own calls
            raise SimulationError(f"refused to {action} call {call_id}: not raised by {self.run_id}")
        response = await self.http.post(
            f"/api/calls/{call_id}/{action}",
            json={"responder_id": person_id, "note": "simulated"},
            headers={"Authorization": f"Bearer {token}"},
        )
        self.result.actions[f"{action}_{response.status_code}"] += 1
        if response.status_code == 200 and action == "accept":
            self.result.answered.add(call_id)
        if response.status_code == 200 and action == "resolve":
            self.result.resolved.add(call_id)
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
        response = await self.http.get(
            "/api/reports/compliance", params={"include_drills": "true"}, headers=self.supervisor
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
