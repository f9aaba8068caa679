from __future__ import annotations

import argparse
from typing import Any

from services.runtime.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="run everything (embedded NATS unless NATS_URL is set)")
    p.add_argument(
        "--cluster", type=int, default=1, metavar="N", help="embedded NATS cluster of N nodes (streams R3)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services.runtime.processes import up

    return up(load_settings(), cluster=args.cluster)
