"""``dispatch1310``: run the system, talk to a running one, rebuild and measure it."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from services.cli.commands import COMMAND_MODULES
from services.runtime.logging import configure_logging
from services.runtime.settings import SettingsError


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
    """Run one command. What goes wrong is one line on stderr and an exit code, never a
    traceback (``DISPATCH1310_DEBUG=1`` shows it); a running service keeps its tracebacks."""
    from services.cli.errors import UNUSABLE, one_line

    args = build_parser().parse_args(argv)
    if not getattr(args, "json_logs", False):
        configure_logging(json=False)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"dispatch1310: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dispatch1310: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "json_logs", False) or os.environ.get("DISPATCH1310_DEBUG"):
            raise
        print(f"dispatch1310 {args.command}: {one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, UNUSABLE) else 1


if __name__ == "__main__":
    sys.exit(main())
