"""``dispatch1310 raise`` and ``dispatch1310 timeline``: calls through the HTTP API."""

from __future__ import annotations

import argparse
import json
from typing import Any

from events.models import KINDS
from services.cli.http_client import ApiError, call_api, fail


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

    p = sub.add_parser("timeline", help="print the timeline of a call")
    p.add_argument("call_id")
    p.add_argument("--json", action="store_true")
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
    try:
        call = call_api("POST", "/api/calls", json=body)
    except ApiError as exc:
        return fail(exc)
    if args.json:
        print(json.dumps(call, ensure_ascii=False, indent=2))
    else:
        print(f"call {call['call_id']} raised at level {call['level']}")
        for stage, info in call["stages"].items():
            print(f"  {stage:8} due {info['due_at']}")
        print(f"  caller secret (to cancel): {call['secret']}")
    return 0


def timeline(args: argparse.Namespace) -> int:
    try:
        data = call_api("GET", f"/api/calls/{args.call_id}/timeline")
    except ApiError as exc:
        return fail(exc)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print(f"call {data['call_id']}")
    for event in data["events"]:
        actor = event.get("actor") or ""
        if event.get("recorded_by"):  # the desk recorded this act for the responder
            actor += f" by {event['recorded_by']} (desk)"
        detail = _detail(event)
        print(f"  {event['seq']:>6}  +{event['elapsed_s']:>8.1f}s  {event['type']:<20} {actor:<10} {detail}")
    return 0


def _detail(event: dict[str, Any]) -> str:
    data = event["data"]
    for key in ("stage", "to_level", "name", "outcome", "text", "note", "into_call_id"):
        if data.get(key):
            return f"{key}={data[key]}"
    return ""
