from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from services.common.logging import configure_logging
from services.common.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("service", help="run one service (for compose / scaling out)")
    p.add_argument("name")
    p.set_defaults(func=run, json_logs=True)


def run(args: argparse.Namespace) -> int:
    from services.common.lifeline import follow_supervisor
    from services.registry import runner

    follow_supervisor()  # started by `up`: stop when it is gone, even after its kill -9
    level = os.environ.get("DISPATCH1310_LOG_LEVEL", "INFO").upper()
    configure_logging(json=True, level=getattr(logging, level, logging.INFO))
    runner(args.name)(load_settings())
    return 0
