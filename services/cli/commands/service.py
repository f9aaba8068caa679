from __future__ import annotations

import argparse
from typing import Any

from services.runtime.logging import configure_logging
from services.runtime.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("service", help="run one service (for compose / scaling out)")
    p.add_argument("name")
    p.set_defaults(func=run, json_logs=True)


def run(args: argparse.Namespace) -> int:
    from services.registry import runner
    from services.runtime.bootstrap import check_settings
    from services.runtime.lifeline import follow_supervisor
    from services.runtime.metrics import start_heartbeat

    follow_supervisor()  # started by `up`: stop when it is gone, even after its kill -9
    run_service = runner(args.name)
    settings = load_settings()
    check_settings(args.name, settings)  # a missing NATS_URL is one line and exit 2, not a traceback
    configure_logging(json=True, level=settings.log_level)

    # /metrics: dispatch1310_service_up, once the service serves (consuming, or accepting
    # connections), not while it is still starting (NATS away, a history being folded)
    def started() -> None:
        start_heartbeat(args.name)

    run_service(settings, started)
    return 0
