"""``dispatch1310``: run the system, talk to a running one, rebuild and measure it."""

from __future__ import annotations

import argparse
import importlib
import sys

from services.cli.commands import COMMAND_MODULES
from services.common.logging import configure_logging
from services.common.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dispatch1310",
        description="Emergency response dispatcher keeping the 1310 promise: "
        "contact within 1 min, reach within 3 min, on site within 10 min.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "json_logs", False):
        configure_logging(json=False)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"dispatch1310: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
