"""SMS and voice providers behind the ``Channel`` interface, chosen by the settings.

SMS: ``DISPATCH1310_SMS_PROVIDER=twilio`` (Twilio Programmable Messaging:
``DISPATCH1310_TWILIO_SID``, ``_TOKEN``, ``_FROM``, ``_URL`` default https://api.twilio.com),
else ``DISPATCH1310_SMS_URL`` (+ ``DISPATCH1310_SMS_TOKEN``: the generic HTTP gateway,
``HttpSms``), else texts are logged (development).
Voice: ``DISPATCH1310_VOICE_URL`` (+ ``DISPATCH1310_VOICE_TOKEN``) posts
``{"to", "text", "reference", "callback_url"}``; the provider reads the text out and posts
the keys pressed to ``callback_url`` (the intake's ``/api/inbound/voice``) with
``reference``, the page's answer token. Without a URL calls are logged (development).

A provider that is away (a network error, a 5xx) is tried once more; a provider that refuses
a message (a 4xx) is not: ``DeliveryFailed`` says what it answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import structlog

from services.domain.phones import NotAPhone, normalise_phone
from services.notifier.channels import Channel, DeliveryFailed, HttpSms, LoggingSms, Message
from services.runtime.settings import TWILIO_URL, HttpProvider, TwilioAccount

log = structlog.get_logger("notifier")

RETRY_DELAY_S = 0.5


async def post_tried_twice(
    what: str, post: Callable[[], Awaitable[httpx.Response]], retry_delay_s: float = RETRY_DELAY_S
) -> tuple[httpx.Response, int]:
    """``post()``, once more after a network error or a 5xx; the last response and how many
    tries it took. Raises DeliveryFailed when both tries failed on the network."""
    for attempt in (1, 2):
        try:
            response = await post()
        except httpx.HTTPError as exc:
            if attempt == 2:
                raise DeliveryFailed(f"{what}: {exc!r} after 2 attempts", attempts=2) from None
            log.warning("provider_retry", provider=what, error=repr(exc))
        else:
            if response.status_code < 500 or attempt == 2:
                return response, attempt
            log.warning("provider_retry", provider=what, error=f"HTTP {response.status_code}")
        await asyncio.sleep(retry_delay_s)
    raise AssertionError("unreachable")


def _error_text(response: httpx.Response, *keys: str) -> str:
    """What a provider said about an error: the first of ``keys`` in its JSON, else the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        said = [str(body[key]) for key in keys if body.get(key) not in (None, "")]
        if said:
            return f"HTTP {response.status_code}: " + " ".join(said)
    return f"HTTP {response.status_code}"


class LoggingVoice:
    """Development voice calls: logs what it would say, keeps what it sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # (to, text, reference)

    async def send(self, message: Message) -> int | None:
        self.sent.append((message.address, message.text, message.reference))
        log.info("voice_dev", to=message.address, text=message.text, call_id=message.call_id)
        return None


class HttpVoice:
    """A voice provider over HTTP: POST ``{"to", "text", "reference", "callback_url"}`` with an
    optional bearer token. ``reference`` is the page's answer token: the provider sends it
    back with the digits pressed to ``callback_url``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        token: str | None,
        callback_url: str,
        retry_delay_s: float = RETRY_DELAY_S,
    ) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.callback_url = callback_url
        self.retry_delay_s = retry_delay_s

    async def send(self, message: Message) -> int | None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = {
            "to": message.address,
            "text": message.text,
            "reference": message.reference,
            "callback_url": self.callback_url,
        }
        response, attempts = await post_tried_twice(
            "voice provider",
            lambda: self.http.post(self.url, json=body, headers=headers),
            self.retry_delay_s,
        )
        if response.status_code >= 300:
            reason = _error_text(response, "error", "message")
            raise DeliveryFailed(f"voice provider: {reason}", attempts=attempts)
        return attempts


class TwilioSms:
    """Twilio Programmable Messaging: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json``,
    form fields ``To`` (E.164), ``From``, ``Body`` (and ``StatusCallback``), HTTP basic auth
    ``sid:token``. ``201`` with ``{"sid", "status"}`` is accepted; an error is JSON
    ``{"code", "message"}``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = TWILIO_URL,
        status_callback: str | None = None,
        retry_delay_s: float = RETRY_DELAY_S,
    ) -> None:
        self.http = http
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.from_number = from_number
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.status_callback = status_callback
        self.retry_delay_s = retry_delay_s

    async def send(self, message: Message) -> int | None:
        try:
            to = normalise_phone(message.address)
        except NotAPhone as exc:
            raise DeliveryFailed(f"twilio: {message.address!r} is not a phone ({exc})") from None
        form = {"To": to, "From": self.from_number, "Body": message.text}
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        response, attempts = await post_tried_twice(
            "twilio", lambda: self.http.post(self.url, data=form, auth=self.auth), self.retry_delay_s
        )
        if response.status_code >= 300:
            raise DeliveryFailed(f"twilio: {_error_text(response, 'code', 'message')}", attempts=attempts)
        try:
            sid = response.json().get("sid")
        except (ValueError, AttributeError):
            sid = None
        log.info("sms_sent", provider="twilio", sid=sid, call_id=message.call_id)
        return attempts


def sms_channel(http: httpx.AsyncClient, configured: TwilioAccount | HttpProvider | None) -> Channel:
    """The SMS channel the settings name (``Settings.sms``): Twilio, the HTTP gateway, or logging."""
    if isinstance(configured, TwilioAccount):
        return TwilioSms(
            http, configured.sid, configured.token, configured.from_number, base_url=configured.url
        )
    if isinstance(configured, HttpProvider):
        return HttpSms(http, configured.url, configured.token)
    return LoggingSms()


def voice_channel(http: httpx.AsyncClient, configured: HttpProvider | None, callback_url: str) -> Channel:
    """The voice channel the settings name (``Settings.voice``): the HTTP provider or logging.
    ``callback_url``: the public URL of the intake + ``/api/inbound/voice``."""
    if configured is not None:
        return HttpVoice(http, configured.url, configured.token, callback_url)
    return LoggingVoice()
