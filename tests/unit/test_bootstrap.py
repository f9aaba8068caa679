"""Settings checked once, with the variable named; the composition root refuses what a service
cannot run with (no NATS, the development webhook secret while auth is on)."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path

import pytest

from services.cli.main import main
from services.runtime.bootstrap import bootstrap, webhook_secret
from services.runtime.settings import (
    DEV_WEBHOOK_SECRET,
    HttpProvider,
    Settings,
    SettingsError,
    TwilioAccount,
    load_settings,
)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DISPATCH1310_LOG_LEVEL": "chatty"}, "DISPATCH1310_LOG_LEVEL"),
        (
            {"DISPATCH1310_SMS_PROVIDER": "twilio", "DISPATCH1310_TWILIO_SID": "AC1"},
            "DISPATCH1310_TWILIO_TOKEN",
        ),
        ({"DISPATCH1310_SMS_PROVIDER": "http"}, "DISPATCH1310_SMS_URL"),
        ({"DISPATCH1310_SMS_PROVIDER": "pigeon"}, "DISPATCH1310_SMS_PROVIDER"),
        ({"DISPATCH1310_ACK_TIMEOUT": "soon"}, "DISPATCH1310_ACK_TIMEOUT"),
        ({"DISPATCH1310_HTTP": "localhost"}, "DISPATCH1310_HTTP"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_every_setting_is_read_once_into_settings() -> None:
    settings = load_settings(
        {
            "DISPATCH1310_LOG_LEVEL": "warning",
            "DISPATCH1310_WEBHOOK_SECRET": "s3cret",
            "DISPATCH1310_SMS_URL": "http://gateway",
            "DISPATCH1310_SMS_TOKEN": "t",
            "DISPATCH1310_VOICE_URL": "http://voice",
        }
    )
    assert settings.log_level == logging.WARNING
    assert settings.webhook_secret == "s3cret"
    assert settings.sms == HttpProvider("http://gateway", "t")
    assert settings.voice == HttpProvider("http://voice", None)
    twilio = load_settings(
        {
            "DISPATCH1310_SMS_PROVIDER": "twilio",
            "DISPATCH1310_TWILIO_SID": "AC1",
            "DISPATCH1310_TWILIO_TOKEN": "twilio-auth-token",
            "DISPATCH1310_TWILIO_FROM": "+15005550006",
        }
    )
    assert twilio.sms == TwilioAccount("AC1", "twilio-auth-token", "+15005550006")
    assert "twilio-auth-token" not in repr(twilio) and "s3cret" not in repr(
        settings
    )  # secrets stay out of logs
    defaults = load_settings({})
    assert (defaults.log_level, defaults.webhook_secret, defaults.sms, defaults.voice) == (
        logging.INFO,
        None,
        None,
        None,
    )


def test_the_development_webhook_secret_is_refused_while_auth_is_on() -> None:
    with pytest.raises(SettingsError, match=r"DISPATCH1310_WEBHOOK_SECRET.*DISPATCH1310_AUTH=on"):
        load_settings({"DISPATCH1310_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET})
    demo = load_settings({"DISPATCH1310_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET, "DISPATCH1310_AUTH": "off"})
    assert webhook_secret(demo) == DEV_WEBHOOK_SECRET
    # Settings built in code meet the same check when a service starts.
    with pytest.raises(SettingsError, match="DISPATCH1310_WEBHOOK_SECRET"):
        webhook_secret(Settings(webhook_secret=DEV_WEBHOOK_SECRET))


def test_without_a_webhook_secret_one_is_made_once_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    made = webhook_secret(settings)
    assert made != DEV_WEBHOOK_SECRET and len(made) >= 32
    assert webhook_secret(Settings(data_dir=tmp_path)) == made  # the notifier and the intake agree
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [stat.S_IMODE(p.stat().st_mode) for p in files] == [0o600]
    assert webhook_secret(settings.with_(webhook_secret="mine")) == "mine"
    assert webhook_secret(Settings(data_dir=tmp_path / "demo", auth=False)) == DEV_WEBHOOK_SECRET


async def test_a_service_without_nats_url_or_with_the_dev_secret_does_not_start() -> None:
    async def compose() -> None:
        raise AssertionError("never composed without NATS")

    with pytest.raises(SettingsError, match="NATS_URL must be set to run the audit service"):
        await bootstrap("audit", Settings(nats_url=None), compose)
    # Refused before anything connects (nothing listens on port 1).
    with pytest.raises(SettingsError, match="DISPATCH1310_WEBHOOK_SECRET"):
        dev = Settings(nats_url="nats://127.0.0.1:1", webhook_secret=DEV_WEBHOOK_SECRET)
        await asyncio.wait_for(bootstrap("notifier", dev, compose), 5)


def test_the_service_command_says_what_is_missing_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    assert main(["service", "deadlines"]) == 2
    assert capsys.readouterr().err.strip() == (
        "dispatch1310: NATS_URL must be set to run the deadlines service "
        "(dispatch1310 up sets it for the services it starts)"
    )
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("DISPATCH1310_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)
    monkeypatch.delenv("DISPATCH1310_AUTH", raising=False)
    assert main(["service", "notifier"]) == 2
    assert "development secret, refused while DISPATCH1310_AUTH=on" in capsys.readouterr().err
