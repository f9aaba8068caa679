"""``dispatch1310 report [--json|--csv]`` and ``dispatch1310 replay``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, tzinfo
from typing import Any

from services.cli import names as labels
from services.cli.http_client import ApiError, call_api, fail
from services.cli.localtime import TimeInputError, local, utc_offset
from services.cli.names import Names
from services.cli.nats_client import connect_once, find_url, without_password
from services.cli.table import render
from services.runtime.settings import load_settings

GROUP_TITLES = {
    "community": "community",
    "district": "district",
    "building": "building",
    "level": "level",
    "day": "day",
    "week": "week",
    "month": "month",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="print the 1310 compliance report of the running system (a table; --json, --csv)"
    )
    p.add_argument("--from", dest="start", help="calls raised at or after: RFC 3339, or a local date [time]")
    p.add_argument("--to", dest="end", help="calls raised before: RFC 3339, or a local date [time]")
    p.add_argument("--group-by", choices=list(GROUP_TITLES))
    p.add_argument("--include-drills", action="store_true")
    p.add_argument("--community", help="one community's calls only (its id; a county supervisor's token)")
    p.add_argument(
        "--tz", help="UTC offset of local time for day/week/month (default: DISPATCH1310_TZ's, +08:00)"
    )
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="the API's JSON answer (ids, seconds)")
    shape.add_argument("--csv", action="store_true", help="the API's CSV (ids, seconds)")
    p.set_defaults(func=report)

    p = sub.add_parser(
        "replay",
        help="rebuild every projection from the stream (NATS_URL, or the server `up` runs from "
        "DISPATCH1310_DATA) and compare with the live one",
    )
    p.set_defaults(func=replay)


def _when(text: str | None, option: str, tz: tzinfo) -> str | None:
    """RFC 3339 as given, or a local date / date and time in the community's zone."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TimeInputError(
            f"{option}: not a time such as 2026-06-01, 2026-06-01 08:00 or 2026-06-01T08:00+08:00: {text!r}"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=tz)).isoformat()


def report(args: argparse.Namespace) -> int:
    settings = load_settings()
    tz = settings.tz
    try:
        params = {
            "from": _when(args.start, "--from", tz),
            "to": _when(args.end, "--to", tz),
            "group_by": args.group_by,
            "include_drills": str(args.include_drills).lower(),
            "tz": args.tz or utc_offset(tz),
            "community": args.community,
            "format": "csv" if args.csv else "json",
        }
        body = call_api("GET", "/api/reports/compliance", params={k: v for k, v in params.items() if v})
    except TimeInputError as exc:
        print(f"dispatch1310 report: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        return fail(exc)
    if args.csv:
        print(body, end="" if str(body).endswith("\n") else "\n")
    elif args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        names = Names.fetch()
        who = names.community_name(args.community) if args.community else None
        print(report_text(body, names, tz, settings.timezone_name, who))
    return 0


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _stage_row(stage: str, s: dict[str, Any]) -> list[str]:
    return [
        stage,
        str(s["calls"]),
        str(s["met"]),
        str(s["missed"]),
        str(s["pending"]),
        _percent(s["percent_within_target"]),
        _seconds(s["p50_s"]),
        _seconds(s["p90_s"]),
        _seconds(s["max_s"]),
        str(s["desk_confirmed"]),
    ]


STAGE_HEADERS = ["stage", "calls", "met", "missed", "pending", "in time", "p50", "p90", "max", "by desk"]


def group_name(group_by: str, key: str, names: Names) -> str:
    if group_by == "community":
        return "(unknown community)" if key == "(unknown)" else names.community_name(key)
    if group_by == "district":
        return names.district(key)
    if group_by == "building":
        return "(unknown building)" if key == "(unknown)" else names.building(key)
    if group_by == "level":
        return labels.level(key)
    return key


def report_text(body: dict[str, Any], names: Names, tz: tzinfo, zone: str, who: str | None = None) -> str:
    """The report as a person reads it: one row per stage, then per group; names, not ids.
    ``who``: whose calls (one community's name); default the roster's community, or all."""
    span = (
        f"from {local(body['from'], tz) if body.get('from') else 'the first call'} "
        f"to {local(body['to'], tz) if body.get('to') else 'now'} ({zone})"
    )
    who = who or names.community or "all calls"
    lines = [
        f"1310 compliance report: {who}, {span}",
        f"{body['calls']} calls judged"
        + ("" if body.get("include_drills") else " (drills left out)")
        + f"; counted apart: {body['cancelled']} cancelled, {body['false_alarms']} false alarms, "
        f"{body['merged']} merged, {body['drills']} drills",
        "",
        render(
            STAGE_HEADERS,
            [_stage_row(stage, s) for stage, s in body["stages"].items()],
            right=range(1, len(STAGE_HEADERS)),
        ),
    ]
    group_by = body.get("group_by")
    if group_by:
        headers = [GROUP_TITLES.get(group_by, group_by), *STAGE_HEADERS]
        rows = []
        for key, group in body.get("groups", {}).items():
            for index, (stage, s) in enumerate(group["stages"].items()):
                rows.append([group_name(group_by, key, names) if index == 0 else "", *_stage_row(stage, s)])
        lines += ["", f"by {group_by}:", render(headers, rows, right=range(2, len(headers)))]
        if not rows:
            lines.append("(no calls)")
    lines += [
        "",
        "in time: met / (met + missed); p50/p90/max: from the raise to the milestone; "
        "by desk: milestones the desk recorded",
    ]
    return "\n".join(lines)


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

    settings = load_settings()
    url = find_url(settings, "replay")

    async def main() -> int:
        nc = await connect_once(url, "replay", settings)
        print(f"replay: reading {without_password(url)}", file=sys.stderr, flush=True)
        print("replay: asking the live audit service for its digest", file=sys.stderr, flush=True)
        try:
            result = await run_replay(nc, _progress)
        finally:
            await nc.close()
        print(file=sys.stderr)
        calls = len(result.rebuilt["content"]["calls"])
        print(
            json.dumps(
                {
                    "events": result.events,
                    "seconds": round(result.seconds, 3),
                    "events_per_s": result.events_per_s,
                    "calls": calls,
                    "live_compared": result.live is not None,
                    "differences": result.differences,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        summary = f"replay: {result.events} events, {calls} calls rebuilt in {result.seconds:.2f} s"
        if result.live is None:
            print(
                f"{summary}; no live audit service answered: rebuilt only, nothing compared", file=sys.stderr
            )
        elif result.differences:
            print(f"{summary}; {len(result.differences)} difference(s) from the live audit", file=sys.stderr)
        else:
            print(f"{summary}; the same as the live audit", file=sys.stderr)
        return 1 if result.differences else 0

    return asyncio.run(main())
