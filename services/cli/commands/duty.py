"""``dispatch1310 duty`` / ``away PERSON [--until TIME]`` / ``available PERSON``."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.http_client import ApiError, call_api, fail


def register(sub: Any) -> None:
    p = sub.add_parser("duty", help="who is on duty now and the next handover")
    p.set_defaults(func=duty)
    p = sub.add_parser("away", help="mark a person away (optionally until a time, RFC 3339)")
    p.add_argument("person")
    p.add_argument("--until", help="e.g. 2026-06-27T18:00:00+08:00")
    p.set_defaults(func=away)
    p = sub.add_parser("available", help="mark a person available")
    p.add_argument("person")
    p.set_defaults(func=available)


def duty(args: argparse.Namespace) -> int:
    try:
        desk = call_api("GET", "/api/duty")
    except ApiError as exc:
        return fail(exc)
    now, nxt = desk["on_duty"], desk["next"]
    if now is None:
        print("nobody is on the community duty list")
        return 0
    print(
        f"on duty: {now['name']} ({now['id']}) {now['phone']}"
        + (" [override]" if desk["by_override"] else "")
    )
    if desk["handover_at"]:
        print(f"handover at {desk['handover_at']} to {nxt['name'] if nxt else '?'}")
    return 0


def _set(person: str, status: str, until: str | None) -> int:
    try:
        row = call_api(
            "POST", f"/api/responders/{person}/availability", json={"status": status, "until": until}
        )
    except ApiError as exc:
        return fail(exc)
    print(
        f"{row['name']} ({row['id']}): {row['status']}" + (f" until {row['until']}" if row["until"] else "")
    )
    return 0


def away(args: argparse.Namespace) -> int:
    return _set(args.person, "away", args.until)


def available(args: argparse.Namespace) -> int:
    return _set(args.person, "available", None)
