"""Each provider adapter against a local server playing the provider, checking what it checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.adapters.embedded_nats import free_port
from services.notifier.channels import Channel, DeliveryFailed, HttpSms, LoggingSms, Message
from services.notifier.content import PageContent
from services.notifier.providers import (
    HttpVoice,
    LoggingVoice,
    TwilioSms,
    sms_channel,
    voice_channel,
)
from services.notifier.robots import DingTalkRobot, WeComRobot
from services.runtime.settings import SettingsError, load_settings
from tests.support import serving_fake

Handler = Callable[[Request, bytes], Awaitable[Response]]


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeProvider:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)


@asynccontextmanager
async def provider(handler: Handler) -> AsyncIterator[FakeProvider]:
    """A local HTTP server answering every request with ``handler``; records what it got."""
    fake = FakeProvider()

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        fake.seen.append(
            Seen(request.method, request.url.path, request.url.query, dict(request.headers), body)
        )
        return await handler(request, body)

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])
    async with serving_fake(app, "fake provider") as url:
        fake.url = url
        yield fake


PAGE = PageContent(
    call_id="c1", dispatch_id="d1", person_id="g1", kind="flood", building="胜利街12号",
    address="胜利街12号", caller_name="王阿姨", caller_phone="13800000000", note="", level="building",
    reach_due_at=None, answer_url="http://x/a/c1.d1.sig",
)  # fmt: skip


def message(address: str, text: str = "1310 派单 胜利街12号", secret: str | None = None) -> Message:
    return Message("g1", address, text, (PAGE,), "c1.d1.token", secret)


# --- Twilio ---------------------------------------------------------------------------

SID, TOKEN = "AC0123456789abcdef", "twilio-auth-token"


async def twilio(request: Request, body: bytes) -> Response:
    """Twilio's checks: the account in the path, basic auth sid:token, To/From/Body."""
    expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    if request.headers.get("authorization") != expected:
        return JSONResponse({"code": 20003, "message": "Authentication Error"}, status_code=401)
    if request.url.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
        return JSONResponse({"code": 20404, "message": "not found"}, status_code=404)
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    if not form.get("To", "").startswith("+"):
        return JSONResponse({"code": 21211, "message": "The 'To' number is not valid"}, status_code=400)
    if not form.get("From") or not form.get("Body"):
        return JSONResponse({"code": 21602, "message": "Message body is required"}, status_code=400)
    return JSONResponse({"sid": "SM1", "status": "queued"}, status_code=201)


async def test_twilio_sends_form_fields_with_basic_auth() -> None:
    async with provider(twilio) as fake, httpx.AsyncClient() as http:
        sms = TwilioSms(http, SID, TOKEN, "+15005550006", base_url=fake.url, status_callback="http://cb")
        assert await sms.send(message("136 0000 0001")) == 1
        form = parse_qs(fake.seen[0].body.decode())
        assert form == {
            "To": ["+8613600000001"],
            "From": ["+15005550006"],
            "Body": ["1310 派单 胜利街12号"],
            "StatusCallback": ["http://cb"],
        }
        assert fake.seen[0].headers["content-type"] == "application/x-www-form-urlencoded"


async def test_twilio_refusal_says_the_providers_error() -> None:
    async with provider(twilio) as fake, httpx.AsyncClient() as http:
        wrong = TwilioSms(http, SID, "wrong-token", "+15005550006", base_url=fake.url)
        with pytest.raises(DeliveryFailed, match="20003 Authentication Error"):
            await wrong.send(message("13600000001"))
        assert len(fake.seen) == 1  # a 4xx is not retried
        with pytest.raises(DeliveryFailed, match="not a phone"):
            await TwilioSms(http, SID, TOKEN, "+1500", base_url=fake.url).send(message("119?"))


async def test_twilio_tries_once_more_after_a_5xx() -> None:
    answers = [500]

    async def flaky(request: Request, body: bytes) -> Response:
        if answers:
            return JSONResponse({"code": 20500, "message": "Internal"}, status_code=answers.pop())
        return await twilio(request, body)

    async with provider(flaky) as fake, httpx.AsyncClient() as http:
        sms = TwilioSms(http, SID, TOKEN, "+15005550006", base_url=fake.url, retry_delay_s=0)
        assert await sms.send(message("13600000001")) == 2
        assert len(fake.seen) == 2


# --- voice ----------------------------------------------------------------------------


async def test_voice_posts_text_reference_and_callback() -> None:
    async def ok(request: Request, body: bytes) -> Response:
        return JSONResponse({"id": "call-1"}, status_code=202)

    async with provider(ok) as fake, httpx.AsyncClient() as http:
        voice = HttpVoice(
            http, fake.url + "/calls", "voice-token", "https://dispatch.example/api/inbound/voice"
        )
        await voice.send(message("13600000001", "派单，地址胜利街12号。接单请按1，不能去请按2。"))
        seen = fake.seen[0]
        assert seen.path == "/calls" and seen.headers["authorization"] == "Bearer voice-token"
        assert json.loads(seen.body) == {
            "to": "13600000001",
            "text": "派单，地址胜利街12号。接单请按1，不能去请按2。",
            "reference": "c1.d1.token",
            "callback_url": "https://dispatch.example/api/inbound/voice",
        }


async def test_voice_refused_and_unreachable_fail() -> None:
    async def refuse(request: Request, body: bytes) -> Response:
        return JSONResponse({"error": "number blocked"}, status_code=403)

    async with provider(refuse) as fake, httpx.AsyncClient() as http:
        with pytest.raises(DeliveryFailed, match="number blocked"):
            await HttpVoice(http, fake.url, None, "http://cb").send(message("13600000001"))
        assert "authorization" not in fake.seen[0].headers
        gone = HttpVoice(http, f"http://127.0.0.1:{free_port()}", None, "http://cb", retry_delay_s=0)
        with pytest.raises(DeliveryFailed) as failed:
            await gone.send(message("13600000001"))
        assert failed.value.attempts == 2


# --- robots ---------------------------------------------------------------------------


async def test_wecom_markdown_and_errcode() -> None:
    async def wecom(request: Request, body: bytes) -> Response:
        if request.query_params.get("key") != "good":
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        sent = json.loads(body)
        assert sent == {"msgtype": "markdown", "markdown": {"content": "**1310 派单** 胜利街12号"}}
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async with provider(wecom) as fake, httpx.AsyncClient() as http:
        robot = WeComRobot(http)
        url = fake.url + "/cgi-bin/webhook/send?key="
        assert await robot.send(message(url + "good", "**1310 派单** 胜利街12号")) == 1
        with pytest.raises(DeliveryFailed, match="invalid webhook url"):
            await robot.send(message(url + "bad", "**1310 派单** 胜利街12号"))
        assert len(fake.seen) == 2  # errcode != 0 is an answer: not retried


DING_SECRET = "SECdingtalk-robot-secret"


async def dingtalk(request: Request, body: bytes) -> Response:
    """DingTalk's check: the signature recomputed from the robot's secret, a fresh timestamp."""
    timestamp = request.query_params.get("timestamp", "")
    given = request.query_params.get("sign", "")  # already URL-decoded by the server
    digest = hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    if not timestamp or not hmac.compare_digest(given, base64.b64encode(digest).decode()):
        return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
    sent = json.loads(body)
    assert sent == {"msgtype": "markdown", "markdown": {"title": "1310 派单", "text": "**派单**"}}
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


async def test_dingtalk_signs_its_url_with_the_secret() -> None:
    async with provider(dingtalk) as fake, httpx.AsyncClient() as http:
        url = fake.url + "/robot/send?access_token=abc"
        await DingTalkRobot(http).send(message(url, "**派单**", secret=DING_SECRET))
        query = parse_qs(fake.seen[0].query)
        assert query["access_token"] == ["abc"] and len(query["timestamp"][0]) == 13
        with pytest.raises(DeliveryFailed, match="sign not match"):
            await DingTalkRobot(http).send(message(url, "**派单**", secret="SECsomeone-else"))
        with pytest.raises(DeliveryFailed, match="sign not match"):
            await DingTalkRobot(http).send(message(url, "**派单**"))  # no secret: unsigned


async def test_dingtalk_tries_once_more_after_a_5xx_and_signs_afresh() -> None:
    answers = [502]

    async def flaky(request: Request, body: bytes) -> Response:
        if answers:
            return Response("bad gateway", status_code=answers.pop())
        return await dingtalk(request, body)

    clock = iter([1_767_225_600_000, 1_767_225_601_000])
    async with provider(flaky) as fake, httpx.AsyncClient() as http:
        robot = DingTalkRobot(http, retry_delay_s=0, now_ms=lambda: next(clock))
        url = fake.url + "/robot/send?access_token=abc"
        assert await robot.send(message(url, "**派单**", secret=DING_SECRET)) == 2
        stamps = [parse_qs(seen.query)["timestamp"][0] for seen in fake.seen]
        assert stamps == ["1767225600000", "1767225601000"]


# --- choosing from the settings -----------------------------------------------------------


def sms_channel_from_env(http: httpx.AsyncClient, env: dict[str, str]) -> Channel:
    return sms_channel(http, load_settings(env).sms)


def voice_channel_from_env(http: httpx.AsyncClient, env: dict[str, str], callback_url: str) -> Channel:
    return voice_channel(http, load_settings(env).voice, callback_url)


async def test_factories_choose_from_the_environment() -> None:
    async with httpx.AsyncClient() as http:
        twilio_env = {
            "DISPATCH1310_SMS_PROVIDER": "twilio",
            "DISPATCH1310_TWILIO_SID": SID,
            "DISPATCH1310_TWILIO_TOKEN": TOKEN,
            "DISPATCH1310_TWILIO_FROM": "+15005550006",
            "DISPATCH1310_TWILIO_URL": "http://127.0.0.1:9",
        }
        chosen = sms_channel_from_env(http, twilio_env)
        assert isinstance(chosen, TwilioSms)
        assert chosen.url == f"http://127.0.0.1:9/2010-04-01/Accounts/{SID}/Messages.json"
        with pytest.raises(SettingsError, match="DISPATCH1310_TWILIO_FROM"):
            sms_channel_from_env(http, {**twilio_env, "DISPATCH1310_TWILIO_FROM": ""})
        gateway = sms_channel_from_env(
            http, {"DISPATCH1310_SMS_URL": "http://gw", "DISPATCH1310_SMS_TOKEN": "t"}
        )
        assert isinstance(gateway, HttpSms) and gateway.token == "t"
        assert isinstance(sms_channel_from_env(http, {}), LoggingSms)
        with pytest.raises(SettingsError):
            sms_channel_from_env(http, {"DISPATCH1310_SMS_PROVIDER": "carrier-pigeon"})
        voice = voice_channel_from_env(http, {"DISPATCH1310_VOICE_URL": "http://v"}, "http://cb")
        assert isinstance(voice, HttpVoice) and voice.callback_url == "http://cb" and voice.token is None
        logged = voice_channel_from_env(http, {}, "http://cb")
        assert isinstance(logged, LoggingVoice)
        await logged.send(message("13600000001"))
        assert logged.sent == [("13600000001", "1310 派单 胜利街12号", "c1.d1.token")]
