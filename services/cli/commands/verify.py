"""``dispatch1310 verify [--json]``: check every stored call against the safety invariants."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from services.domain.invariants import Limits, Report
from services.runtime.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        help="check every call in CALLS against the safety invariants (exit 1 on any violation)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--slack", type=float, default=Limits.slack_s, help="seconds a gap or a late record may last (10)"
    )
    p.add_argument(
        "--no-notifications",
        action="store_true",
        help="do not require a NotificationSent/Failed for every page (no notifier running)",
    )
    p.set_defaults(func=verify)


def _progress(done: int, seconds: float) -> None:
    print(f"\rverify: {done:,} events read ({done / seconds:,.0f}/s)", end="", file=sys.stderr, flush=True)


def verify(args: argparse.Namespace) -> int:
    from services.adapters.verify import verify_stream
    from services.cli.nats_client import NatsUnreachable, connect_once, find_url

    settings = load_settings()
    try:
        url = find_url(settings, "verify")
    except NatsUnreachable as exc:
        print(f"dispatch1310 verify: {exc}", file=sys.stderr)
        return 2
    limits = Limits(slack_s=args.slack, notifications=not args.no_notifications)

    async def main() -> tuple[Report, float]:
        nc = await connect_once(url, "verify", settings)
        try:
            return await verify_stream(nc, datetime.now(UTC), limits, None if args.json else _progress)
        finally:
            await nc.close()

    report, seconds = asyncio.run(main())
    summary = {
        "ok": report.ok,
        "calls": report.calls,
        "events": report.events,
        "seconds": round(seconds, 3),
        "events_per_s": round(report.events / seconds) if seconds else None,
        "violations": [v.as_dict() for v in report.violations],
        "attention": [v.as_dict() for v in report.attention],
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(file=sys.stderr)
        for v in report.violations:
            print(f"VIOLATION {v.call_id} {v.invariant}: {v.detail} (seq {', '.join(map(str, v.seqs))})")
        for v in report.attention:
            print(f"attention {v.call_id} {v.invariant}: {v.detail}")
        verdict = "ok" if report.ok else f"{len(report.violations)} violation(s)"
        print(
            f"{verdict}: {report.calls} calls, {report.events} events checked in {seconds:.2f} s "
            f"({summary['events_per_s']} events/s)"
        )
    return 0 if report.ok else 1
