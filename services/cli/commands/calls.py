"""``dispatch1310 raise`` and ``dispatch1310 timeline``: calls through the HTTP API."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from events.models import KINDS
from services.cli import names as labels
from services.cli.http_client import ApiError, call_api, fail
from services.cli.localtime import community_tz, local
from services.cli.names import Names
from services.cli.table import render
from services.runtime.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("raise", help="raise a call through the HTTP API")
    p.add_argument("--name", required=True, help="caller's name")
    p.add_argument("--phone", required=True, help="caller's phone")
    p.add_argument("--building", help="building id (e.g. b12)")
    p.add_argument("--address", default="")
    p.add_argument("--kind", default="other", choices=KINDS)
    p.add_argument("--note", default="")
    p.add_argument("--drill", action="store_true", help="a drill: runs the whole chain, not reported")
    p.add_argument("--phoned-in", action="store_true", help="a resident phoned in (needs a supervisor token)")
    p.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    p.set_defaults(func=raise_call)

    p = sub.add_parser("timeline", help="print the timeline of a call, in the community's local time")
    p.add_argument("call_id")
    p.add_argument("--json", action="store_true", help="the API's answer as it is (UTC times, ids)")
    p.set_defaults(func=timeline)


def raise_call(args: argparse.Namespace) -> int:
    body = {
        "caller": {"name": args.name, "phone": args.phone},
        "building_id": args.building,
        "address": args.address,
        "kind": args.kind,
        "note": args.note,
        "drill": args.drill,
        "source": "phone" if args.phoned_in else "app",
    }
    try:  # the call first: names and warnings never delay it
        call = call_api("POST", "/api/calls", json=body)
    except ApiError as exc:
        return fail(exc)
    names = Names.fetch(people=False)
    warning = routing_warning(args.building, call, names)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(call, ensure_ascii=False, indent=2))
        return 0
    where = names.building(args.building) if args.building else "no building"
    print(
        f"call {call['call_id']} raised: {labels.kind(call['kind'])} at {where}, "
        f"level {labels.level(call['level'])}" + (" (drill)" if call.get("drill") else "")
    )
    if call.get("held"):
        print("  held for the desk's triage (many calls from one address): nobody is paged until released")
    for stage, info in call["stages"].items():
        print(f"  {stage:8} due {local(info['due_at'])}")
    print(f"  caller secret (to cancel): {call['secret']}")
    return 0


def routing_warning(building_id: str | None, call: dict[str, Any], names: Names) -> str | None:
    """Where a call goes when its building cannot be served at building level."""
    level = labels.level(call["level"])
    if not building_id:
        return f"no building given: the call goes to the {level} level"
    if call.get("district_id") is None or (names.buildings and building_id not in names.buildings):
        return (
            f"building {building_id!r} is not in the roster: the call is still dispatched, "
            f"at the {level} level (no building group to page)"
        )
    if call["level"] != "building":
        return f"nobody at {names.building(building_id)} can be paged: the call starts at the {level} level"
    return None


def timeline(args: argparse.Namespace) -> int:
    try:
        data = call_api("GET", f"/api/calls/{args.call_id}/timeline")
    except ApiError as exc:
        return fail(exc)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print(timeline_text(data, Names.fetch()))
    return 0


def timeline_text(data: dict[str, Any], names: Names) -> str:
    events = data["events"]
    for event in events:  # the names a call's own pages carry
        if event["type"] in ("ResponderAssigned", "ContactShared"):
            names.people.setdefault(event["data"]["responder_id"], event["data"]["name"])
    tz = community_tz()
    zone = load_settings().timezone_name
    head = f"call {data['call_id']}"
    raised = next((e for e in events if e["type"] == "CallRaised"), None)
    if raised is not None:
        raised_data = raised["data"]
        head += (
            f": {labels.kind(raised_data.get('kind'))} at {names.building(raised_data.get('building_id'))}, "
            f"raised {local(raised['at'], tz)} ({zone})"
        )
    rows = []
    for step, event in enumerate(events, 1):
        who = names.person(event.get("actor"))
        if event.get("recorded_by"):  # the desk recorded this act for the responder
            who += f" by {names.person(event['recorded_by'])} (desk)"
        rows.append(
            [
                str(step),
                local(event["at"], tz, "%H:%M:%S"),
                f"+{event['elapsed_s']:.1f}s",
                event["type"],
                who,
                essentials(event, names, tz),
            ]
        )
    table = render(["step", "time", "elapsed", "event", "who", "what"], rows, right=(0, 2))
    return f"{head}\n{table}"


def _note(data: dict[str, Any], key: str = "note") -> str:
    return f' "{data[key]}"' if data.get(key) else ""


def essentials(event: dict[str, Any], names: Names, tz: Any) -> str:
    """The facts of one event a reader needs, names for ids, no internal fields."""
    d: dict[str, Any] = event["data"]
    kind = event["type"]
    person = names.person(d.get("responder_id"))
    if kind == "CallRaised":
        caller = d.get("caller") or {}
        who = " ".join(part for part in (caller.get("name"), caller.get("phone")) if part) or "anonymous"
        building = names.building(d.get("building_id"))
        address = d.get("address") or names.addresses.get(d.get("building_id") or "", "")
        parts = [f"caller {who}", f"at {building}" + (f" ({address})" if address else "")]
        parts.append(labels.kind(d.get("kind")))
        parts.append(f"level {labels.level(d.get('level'))}")
        if d.get("source") == "phone":
            parts.append("phoned in to the desk")
        elif d.get("source") == "device":
            parts.append(f"device {d.get('device_id')}")
        if d.get("drill"):
            parts.append("drill")
        if d.get("held"):
            parts.append(f"held ({d['held']})")
        return ", ".join(parts) + (f', note "{d["note"]}"' if d.get("note") else "")
    if kind == "ResponderAssigned":
        text = f"paged at level {labels.level(d.get('level'))}" + (
            f", phone {d['phone']}" if d.get("phone") else ""
        )
        if d.get("by"):  # the desk assigned them (the desk person is the actor)
            text = f"assigned {d.get('name') or person} by hand: " + text
        return text + _note(d)
    if kind == "ContactShared":
        return "shown to the caller as their contact" + (f", phone {d['phone']}" if d.get("phone") else "")
    if kind in ("DispatchAccepted", "DispatchDeclined"):
        verb = "accepted" if kind == "DispatchAccepted" else "declined"
        return f"{verb} (via {d.get('channel', 'app')})" + _note(d)
    if kind == "DispatchTimedOut":
        return "did not answer in time"
    if kind == "ResponderEnRoute":
        return "on the way" + _note(d)
    if kind == "ResponderArrived":
        return "arrived on site" + _note(d)
    if kind == "CallResolved":
        return f"resolved: {d.get('outcome', 'handled')}" + _note(d)
    if kind == "CallCancelled":
        return "cancelled" + _note(d)
    if kind == "DeadlineMissed":
        late = float(d.get("late_by_ms") or 0) / 1000
        return f"{d.get('stage')} deadline missed (due {local(d.get('due_at'), tz, '%H:%M:%S')}, noted {late:.1f}s late)"
    if kind == "EscalationRaised":
        text = f"{labels.level(d.get('from_level'))} -> {labels.level(d.get('to_level'))}, reason {d.get('reason')}"
        if d.get("stage"):
            text += f" ({d['stage']})"
        return text + _note(d)
    if kind == "NoteAdded":
        return f'note "{d.get("text", "")}"'
    if kind == "CallMerged":
        return f"joined call {d.get('into_call_id')} (same building, still open)"
    if kind == "CallJoined":
        caller = d.get("caller") or {}
        return (
            f"call {d.get('joined_call_id')} joined this one: {labels.kind(d.get('kind'))}, "
            f"caller {caller.get('name', '')} {caller.get('phone', '')}".rstrip()
        )
    if kind == "CallUnmerged":
        return f"dispatched on its own again (from call {d.get('from_call_id')}: {d.get('reason')})"
    if kind == "CallHeld":
        return f"held for the desk's triage ({d.get('reason')}): nobody paged until released"
    if kind == "CallReleased":
        return "released by the desk: dispatched" + _note(d)
    if kind == "DeviceAlertReceived":
        text = f"device {d.get('device_id')}: {d.get('alert_kind')}"
        position = d.get("position")
        if position:
            text += f" at {position.get('lat')},{position.get('lon')}"
        if d.get("battery") is not None:
            text += f", battery {d['battery']}"
        return text
    if kind in ("NotificationSent", "NotificationFailed"):
        verb = "sent" if kind == "NotificationSent" else "failed"
        text = f"{d.get('method')} {verb} (attempt {d.get('attempt', 1)})"
        return text + (f": {d['error']}" if d.get("error") else "")
    # An event this CLI does not know yet: its plain fields, internal ones left out.
    shown = [
        f"{key}={value}"
        for key, value in d.items()
        if value not in (None, "", [], {}) and not isinstance(value, dict | list)
        if not key.endswith(("_sha256", "_hmac", "secret", "dispatch_id", "policy_version"))
    ]
    return " ".join(shown)
