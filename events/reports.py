"""The audit's answers as other services serve them: what a report may be grouped by, and
the CSV forms of the compliance report and the volunteer points.

The audit answers queries on ``subjects.AUDIT_QUERY_PREFIX + <name>`` with JSON bodies; the
intake turns those bodies into CSV for a download. Both meet here, not in each other's code.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal, get_args

GroupBy = Literal["community", "district", "building", "level", "day", "week", "month"]
GROUPS: tuple[str, ...] = get_args(GroupBy)
PERIODS: tuple[str, ...] = ("day", "week", "month")  # groupings by the community's local calendar

_REPORT_COLUMNS = (
    "calls",
    "met",
    "missed",
    "pending",
    "percent_within_target",
    "p50_s",
    "p90_s",
    "max_s",
    "desk_confirmed",
)


def report_csv(body: dict[str, Any]) -> str:
    """A compliance report (the ``report`` answer) as CSV: one row per group and stage."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "stage", *_REPORT_COLUMNS])
    # Calls counted apart (neither met nor missed), as rows of their own.
    for apart in ("cancelled", "false_alarms", "merged", "drills"):
        writer.writerow(["all", apart, body.get(apart, 0), *[""] * (len(_REPORT_COLUMNS) - 1)])
    rows = [("all", body["stages"])] + [(key, g["stages"]) for key, g in body.get("groups", {}).items()]
    for group, stages in rows:
        for stage, s in stages.items():
            writer.writerow([group, stage, *(s[column] for column in _REPORT_COLUMNS)])
    return out.getvalue()


def points_csv(body: dict[str, Any]) -> str:
    """The volunteer points (the ``points`` answer) as CSV: one row per person, community
    (empty: a call at a place the roster does not know) and quarter."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["person_id", "community_id", "quarter", "points"])
    for row in body["quarterly"]:
        writer.writerow([row["person_id"], row.get("community_id") or "", row["quarter"], row["points"]])
    return out.getvalue()
