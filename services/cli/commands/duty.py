"""``dispatch1310 duty`` / ``away PERSON [--until TIME]`` / ``available PERSON``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from services.cli.http_client import ApiError, call_api, fail
from services.cli.localtime import UNTIL_HELP, TimeInputError, community_tz, local, parse_until


def register(sub: Any) -> None:
    p = sub.add_parser("duty", help="who is on duty now and the next handover")
    p.set_defaults(func=duty)
    p = sub.add_parser("away", help="mark a person away (optionally until a time)")
    p.add_argument("person")
    p.add_argument("--until", help=f"{UNTIL_HELP}; local times are the community's (DISPATCH1310_TZ)")
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
        print(f"handover at {local(desk['handover_at'])} to {nxt['name'] if nxt else '?'}")
    return 0


def _set(person: str, status: str, until: datetime | None) -> int:
    body = {"status": status, "until": until.isoformat() if until else None}
    try:
        row = call_api("POST", f"/api/responders/{person}/availability", json=body)
    except ApiError as exc:
        return fail(exc)
    shown = f" until {local(row['until'])}" if row["until"] else ""  # the community's time
    print(f"{row['name']} ({row['id']}): {row['status']}{shown}")
    return 0


def away(args: argparse.Namespace) -> int:
    until = None
    if args.until is not None:
        now = datetime.now(UTC)
        try:
            until = parse_until(args.until, now, community_tz())
        except TimeInputError as exc:
            print(f"dispatch1310 away: --until: {exc}", file=sys.stderr)
            return 2
        if until <= now:
            print(f"dispatch1310 away: --until {args.until} is already past", file=sys.stderr)
            return 2
    return _set(args.person, "away", until)


def available(args: argparse.Namespace) -> int:
    return _set(args.person, "available", None)
