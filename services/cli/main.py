"""``dispatch1310``: run the system, talk to a running one, rebuild and measure it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from services.common.logging import configure_logging
from services.common.settings import SettingsError, load_settings

Command = Callable[[argparse.Namespace], int]


def _up(args: argparse.Namespace) -> int:
    from services.cli.supervisor import up

    return up(load_settings())


def _service(args: argparse.Namespace) -> int:
    from services.registry import runner

    configure_logging(json=True)
    runner(args.name)(load_settings())
    return 0


def _not_built(name: str) -> Command:
    def command(args: argparse.Namespace) -> int:
        print(f"dispatch1310 {name}: not built yet in this version", file=sys.stderr)
        return 2

    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dispatch1310",
        description="Emergency response dispatcher keeping the 1310 promise: "
        "contact within 1 min, reach within 3 min, on site within 10 min.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="run everything (embedded NATS unless NATS_URL is set)")
    p.set_defaults(func=_up)

    p = sub.add_parser("service", help="run one service (for compose / scaling out)")
    p.add_argument("name")
    p.set_defaults(func=_service)

    for name, text in (
        ("raise", "raise a call through the HTTP API"),
        ("timeline", "print the timeline of a call"),
        ("report", "print the compliance report"),
        ("roster", "load a roster file into the running system"),
        ("replay", "rebuild every projection from the stream and compare with the live one"),
        ("bench", "start an embedded system and print benchmark figures as JSON"),
        ("simulate", "drive a running system with a scenario of residents and responders"),
        ("duty", "who is on duty now and the next handover"),
        ("away", "mark a person away"),
        ("available", "mark a person available"),
    ):
        p = sub.add_parser(name, help=text)
        p.set_defaults(func=_not_built(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    args, _rest = build_parser().parse_known_args(argv)
    if args.command != "service":
        configure_logging(json=False)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"dispatch1310: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
