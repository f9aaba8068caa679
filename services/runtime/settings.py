"""Settings from the environment (the contract's variables), validated once at start."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from events.models import STAGES, Stage, StageTimes


class SettingsError(ValueError):
    """A setting that is missing or wrong; the message names the variable."""


# What the notifier and the intake used to fall back on: refused while auth is on.
DEV_WEBHOOK_SECRET = "dispatch1310-dev-secret"
TWILIO_URL = "https://api.twilio.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Targets:
    contact: float = 60.0
    reach: float = 180.0
    onsite: float = 600.0

    def of(self, stage: Stage) -> float:
        return float(getattr(self, stage))

    def due_from(self, start: datetime) -> StageTimes:
        """The three due times of a 1310 clock started at ``start``."""
        return StageTimes(**{stage: start + timedelta(seconds=self.of(stage)) for stage in STAGES})


@dataclass(frozen=True)
class HttpProvider:
    """An SMS gateway or a voice provider over HTTP: its URL and an optional bearer token."""

    url: str
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TwilioAccount:
    """Twilio Programmable Messaging (``DISPATCH1310_TWILIO_*``)."""

    sid: str
    token: str = field(repr=False)
    from_number: str
    url: str = TWILIO_URL


@dataclass(frozen=True)
class Settings:
    nats_url: str | None = None
    data_dir: Path = Path(".dispatch1310")
    http_host: str = "127.0.0.1"
    http_port: int = 8310
    targets: Targets = Targets()
    ack_timeout_s: float = 45.0
    roster_path: Path | None = None
    auth: bool = True
    token: str | None = field(default=None, repr=False)  # DISPATCH1310_TOKEN: the CLI's bearer token
    merge_window_s: float = 300.0
    sweep_interval_s: float = 5.0
    replicas: int = 1
    new_phones_per_address: int = 5  # new phones per client address per 10 minutes before calls are held
    public_url_setting: str | None = None  # DISPATCH1310_PUBLIC_URL: where links in texts point
    timezone_name: str = "Asia/Shanghai"  # DISPATCH1310_TZ: the community's local time
    log_level: int = logging.INFO  # DISPATCH1310_LOG_LEVEL: the services' JSON logs
    # DISPATCH1310_WEBHOOK_SECRET; None: one made in the data dir (bootstrap.webhook_secret)
    webhook_secret: str | None = field(default=None, repr=False)
    sms: TwilioAccount | HttpProvider | None = None  # None: texts are logged (development)
    voice: HttpProvider | None = None  # DISPATCH1310_VOICE_URL; None: calls are logged

    @property
    def tz(self) -> tzinfo:
        """The community's local time zone (times the CLI prints, report periods)."""
        return parse_timezone(self.timezone_name)

    @property
    def public_url(self) -> str:
        """The address people's phones open one-tap links at (default: the intake's own)."""
        return (self.public_url_setting or self.http_url).rstrip("/")

    @property
    def http_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    host, port = _parse_http(env.get("DISPATCH1310_HTTP", "127.0.0.1:8310"))
    roster = env.get("DISPATCH1310_ROSTER")
    auth = _parse_auth(env.get("DISPATCH1310_AUTH", "on"))
    return Settings(
        nats_url=env.get("NATS_URL") or None,
        public_url_setting=env.get("DISPATCH1310_PUBLIC_URL") or None,
        timezone_name=_checked_timezone(env.get("DISPATCH1310_TZ") or "Asia/Shanghai"),
        data_dir=Path(env.get("DISPATCH1310_DATA", ".dispatch1310")),
        http_host=host,
        http_port=port,
        targets=_parse_targets(env.get("DISPATCH1310_TARGETS", "60,180,600")),
        ack_timeout_s=_positive("DISPATCH1310_ACK_TIMEOUT", env.get("DISPATCH1310_ACK_TIMEOUT", "45")),
        roster_path=Path(roster) if roster else None,
        auth=auth,
        token=env.get("DISPATCH1310_TOKEN") or None,
        merge_window_s=_positive("DISPATCH1310_MERGE_WINDOW", env.get("DISPATCH1310_MERGE_WINDOW", "300")),
        sweep_interval_s=_positive("DISPATCH1310_SWEEP", env.get("DISPATCH1310_SWEEP", "5")),
        replicas=int(_positive("DISPATCH1310_REPLICAS", env.get("DISPATCH1310_REPLICAS", "1"))),
        new_phones_per_address=int(
            _positive(
                "DISPATCH1310_NEW_PHONES_PER_ADDRESS", env.get("DISPATCH1310_NEW_PHONES_PER_ADDRESS", "5")
            )
        ),
        log_level=_parse_log_level(env.get("DISPATCH1310_LOG_LEVEL") or "INFO"),
        webhook_secret=checked_webhook_secret(env.get("DISPATCH1310_WEBHOOK_SECRET") or None, auth),
        sms=_parse_sms(env),
        voice=_http_provider(env, "DISPATCH1310_VOICE_URL", "DISPATCH1310_VOICE_TOKEN"),
    )


def checked_webhook_secret(secret: str | None, auth: bool) -> str | None:
    """The development secret is known to everyone who read the source: not while auth is on."""
    if secret == DEV_WEBHOOK_SECRET and auth:
        raise SettingsError(
            "DISPATCH1310_WEBHOOK_SECRET is the development secret, refused while DISPATCH1310_AUTH=on: "
            "set a secret of your own, or leave it unset for one made in DISPATCH1310_DATA"
        )
    return secret


def _parse_log_level(value: str) -> int:
    name = value.strip().upper()
    if name == "WARN":
        name = "WARNING"
    if name not in LOG_LEVELS:
        raise SettingsError(f"DISPATCH1310_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    level: int = getattr(logging, name)
    return level


def _http_provider(env: Mapping[str, str], url: str, token: str) -> HttpProvider | None:
    return HttpProvider(env[url], env.get(token) or None) if env.get(url) else None


def _parse_sms(env: Mapping[str, str]) -> TwilioAccount | HttpProvider | None:
    """Twilio, the generic HTTP gateway, or None (texts logged), as the environment names it."""
    provider = env.get("DISPATCH1310_SMS_PROVIDER", "").strip().lower()
    if provider == "twilio":
        names = ("DISPATCH1310_TWILIO_SID", "DISPATCH1310_TWILIO_TOKEN", "DISPATCH1310_TWILIO_FROM")
        missing = [name for name in names if not env.get(name)]
        if missing:
            raise SettingsError(f"DISPATCH1310_SMS_PROVIDER=twilio needs {', '.join(missing)}")
        sid, token, from_number = (env[name] for name in names)
        return TwilioAccount(sid, token, from_number, env.get("DISPATCH1310_TWILIO_URL") or TWILIO_URL)
    gateway = _http_provider(env, "DISPATCH1310_SMS_URL", "DISPATCH1310_SMS_TOKEN")
    if provider in ("", "http"):
        if gateway is None and provider == "http":
            raise SettingsError("DISPATCH1310_SMS_PROVIDER=http needs DISPATCH1310_SMS_URL")
        return gateway
    if provider in ("log", "logging"):
        return None
    raise SettingsError(f"DISPATCH1310_SMS_PROVIDER: twilio, http or log, not {provider!r}")


def _parse_http(value: str) -> tuple[str, int]:
    """``host:port``; written as a URL (``http://127.0.0.1:8310/``) it means the same."""
    address = value.strip()
    for scheme in ("http://", "https://"):
        if address.lower().startswith(scheme):
            address = address[len(scheme) :]
    address = address.rstrip("/")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        raise SettingsError(f"DISPATCH1310_HTTP must be host:port (e.g. 127.0.0.1:8310), got {value!r}")
    return host or "127.0.0.1", int(port)


def parse_timezone(value: str) -> tzinfo:
    """An IANA zone (``Asia/Shanghai``) or a fixed UTC offset (``+08:00``)."""
    text = value.strip()
    if text[:1] in "+-" and len(text) == 6 and text[3] == ":" and (text[1:3] + text[4:]).isdigit():
        hours, minutes = int(text[1:3]), int(text[4:])
        if hours <= 14 and minutes < 60:
            sign = 1 if text[0] == "+" else -1
            return timezone(sign * timedelta(hours=hours, minutes=minutes))
    elif text.upper() in ("UTC", "Z"):
        return UTC
    else:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise SettingsError(f"DISPATCH1310_TZ must be a time zone such as Asia/Shanghai or +08:00, got {value!r}")


def _checked_timezone(value: str) -> str:
    parse_timezone(value)
    return value.strip()


def _parse_targets(value: str) -> Targets:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3:
        raise SettingsError(f"DISPATCH1310_TARGETS needs three numbers (contact,reach,onsite), got {value!r}")
    contact, reach, onsite = (_positive("DISPATCH1310_TARGETS", p) for p in parts)
    if not contact <= reach <= onsite:
        raise SettingsError(f"DISPATCH1310_TARGETS must be increasing, got {value!r}")
    return Targets(contact, reach, onsite)


def _positive(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {value!r}") from None
    if number <= 0:
        raise SettingsError(f"{name} must be positive, got {value!r}")
    return number


def _parse_auth(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise SettingsError(f"DISPATCH1310_AUTH must be on or off, got {value!r}")
