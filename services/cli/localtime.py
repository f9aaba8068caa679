"""Times as the community reads them (``DISPATCH1310_TZ``, default Asia/Shanghai), and the
times a person types (``--until``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, tzinfo

from services.runtime.settings import load_settings


class TimeInputError(ValueError):
    pass


def community_tz() -> tzinfo:
    return load_settings().tz


def parse_instant(value: str) -> datetime:
    """An RFC 3339 time from the API (``Z`` or an offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def local(value: str | datetime | None, tz: tzinfo | None = None, fmt: str | None = None) -> str:
    """RFC 3339 in the community's zone (``2026-06-27T18:00:00+08:00``), or ``fmt``."""
    if value is None or value == "":
        return ""
    when = parse_instant(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(tz or community_tz())
    return when.strftime(fmt) if fmt else when.isoformat(timespec="seconds")


def utc_offset(tz: tzinfo, at: datetime | None = None) -> str:
    """``+08:00``: the zone's offset now (for the report's calendar periods)."""
    offset = (at or datetime.now(UTC)).astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?", re.IGNORECASE)
UNTIL_HELP = "a time such as 2026-06-27T18:00+08:00, 2026-06-27 18:00, 18:00 (the next one) or 8h"


def parse_until(text: str, now: datetime, tz: tzinfo) -> datetime:
    """What ``--until`` accepts: RFC 3339 (its offset kept), a local date and time, a local
    clock time (the next one to come), or a duration from now (``90m``, ``8h``, ``1d``)."""
    value = text.strip()
    duration = _DURATION.fullmatch(value.replace(" ", ""))
    if value and duration and any(duration.groups()):
        days, hours, minutes = (int(part or 0) for part in duration.groups())
        return now + timedelta(days=days, hours=hours, minutes=minutes)
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if clock:
        hour, minute = int(clock[1]), int(clock[2])
        if hour > 23 or minute > 59:
            raise TimeInputError(f"not a clock time: {text!r}")
        today = now.astimezone(tz).date()
        candidate = datetime.combine(today, time(hour, minute), tz)
        return (
            candidate
            if candidate > now
            else datetime.combine(today + timedelta(days=1), time(hour, minute), tz)
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TimeInputError(f"not {UNTIL_HELP}: {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
