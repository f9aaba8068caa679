"""``dispatch1310 roster load FILE``: validate locally, then reload it in the running system."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from services.cli.http_client import ApiError, call_api, fail
from services.domain.roster import RosterError, load_roster_file


def register(sub: Any) -> None:
    p = sub.add_parser("roster", help="load a roster file (JSON or YAML) into the running system")
    actions = p.add_subparsers(dest="action", required=True)
    load = actions.add_parser("load", help="validate FILE and make it the roster every service uses")
    load.add_argument("file", type=Path)
    load.add_argument("--check", action="store_true", help="only validate, do not load")
    load.set_defaults(func=load_roster)


def load_roster(args: argparse.Namespace) -> int:
    try:
        roster = load_roster_file(args.file)
    except RosterError as exc:
        print(f"dispatch1310: {exc}", file=sys.stderr)
        return 1
    # Its version is given once loaded: the system seals it (keyed token hashes) first.
    print(f"{args.file}: valid, {len(roster.people)} people")
    if args.check:
        return 0
    try:
        answer = call_api("POST", "/api/roster", content=args.file.read_bytes())
    except ApiError as exc:
        return fail(exc)
    print(f"loaded: version {answer['version']}")
    return 0
