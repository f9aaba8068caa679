"""Contract commands not built yet: they say so plainly and exit 2."""

from __future__ import annotations

import argparse
import sys
from typing import Any

NOT_BUILT: dict[str, str] = {
    "report": "print the compliance report",
    "replay": "rebuild every projection from the stream and compare with the live one",
}


def register(sub: Any) -> None:
    taken = set(sub.choices)
    for name, text in NOT_BUILT.items():
        if name in taken:
            continue
        p = sub.add_parser(name, help=f"{text} (not built yet)")
        p.set_defaults(func=_not_built(name))


def _not_built(name: str) -> Any:
    def command(args: argparse.Namespace) -> int:
        print(f"dispatch1310 {name}: not built yet in this version", file=sys.stderr)
        return 2

    return command
