"""``dispatch1310 bench [NAME ...] [--quick]``: start an embedded system, print JSON figures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from services.bench.run import BENCHMARKS, DEFAULT, run


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="start an embedded system and print benchmark figures as JSON")
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"which benchmarks (default: {', '.join(DEFAULT)}; also: restart, county)",
    )
    p.add_argument("--quick", action="store_true", help="smaller runs (< 2 minutes in all)")
    p.set_defaults(func=bench)


def bench(args: argparse.Namespace) -> int:
    names = args.names or DEFAULT
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(
            f"dispatch1310 bench: unknown benchmark(s) {', '.join(unknown)}; one of {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    results = run(names, args.quick, lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0
