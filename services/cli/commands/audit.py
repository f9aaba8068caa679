"""``dispatch1310 report [--csv]`` and ``dispatch1310 replay``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from services.cli.http_client import ApiError, call_api, fail
from services.common.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="print the 1310 compliance report of the running system")
    p.add_argument("--from", dest="start", help="RFC 3339: calls raised at or after")
    p.add_argument("--to", dest="end", help="RFC 3339: calls raised before")
    p.add_argument("--group-by", choices=["district", "building", "level", "day", "week", "month"])
    p.add_argument("--include-drills", action="store_true")
    p.add_argument("--tz", default="+08:00", help="UTC offset of local time for day/week/month (+08:00)")
    p.add_argument("--csv", action="store_true")
    p.set_defaults(func=report)

    p = sub.add_parser(
        "replay", help="rebuild every projection from the stream at NATS_URL and compare with the live one"
    )
    p.set_defaults(func=replay)


def report(args: argparse.Namespace) -> int:
    params = {
        "from": args.start,
        "to": args.end,
        "group_by": args.group_by,
        "include_drills": str(args.include_drills).lower(),
        "tz": args.tz,
        "format": "csv" if args.csv else "json",
    }
    try:
        body = call_api("GET", "/api/reports/compliance", params={k: v for k, v in params.items() if v})
    except ApiError as exc:
        return fail(exc)
    print(body if args.csv else json.dumps(body, ensure_ascii=False, indent=2))
    return 0


def _progress(done: int, total: int, seconds: float) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / seconds if seconds else 0
    print(
        f"\rreplay [{'#' * filled}{'.' * (width - filled)}] {done}/{total} events  {rate:,.0f} events/s",
        end="",
        file=sys.stderr,
        flush=True,
    )


def replay(args: argparse.Namespace) -> int:
    from services.audit.replay import replay as run_replay
    from services.common.streams import connect

    settings = load_settings()
    if not settings.nats_url:
        print("dispatch1310 replay: set NATS_URL to the system's NATS server", file=sys.stderr)
        return 2

    async def main() -> int:
        nc = await connect(settings.nats_url or "", "replay")
        try:
            result = await run_replay(nc, _progress)
        finally:
            await nc.close()
        print(file=sys.stderr)
        print(
            json.dumps(
                {
                    "events": result.events,
                    "seconds": round(result.seconds, 3),
                    "events_per_s": result.events_per_s,
                    "calls": len(result.rebuilt["content"]["calls"]),
                    "live_compared": result.live is not None,
                    "differences": result.differences,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        if result.live is None:
            print("no live audit service answered: rebuilt only, nothing compared", file=sys.stderr)
        return 1 if result.differences else 0

    return asyncio.run(main())
