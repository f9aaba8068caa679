"""Group robots: a WeCom (企业微信) or DingTalk (钉钉) group sees a page as a markdown message.

``message.address`` is the robot's webhook URL and ``message.text`` is already markdown.
Both answer HTTP 200 with JSON ``{"errcode", "errmsg"}``: sent only when ``errcode`` is 0,
otherwise ``DeliveryFailed`` carries the robot's ``errmsg``. A network error or a 5xx is
tried once more. A DingTalk robot with signing on (``message.secret``) gets its URL signed
on each send: ``&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256 of "<ms>\\n<secret>">``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import httpx

from services.notifier.channels import DeliveryFailed, Message
from services.notifier.providers import RETRY_DELAY_S, post_tried_twice

DINGTALK_TITLE = "1310 派单"


def _now_ms() -> int:
    return int(time.time() * 1000)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature, URL-encoded, for ``&sign=``."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def signed_dingtalk_url(url: str, secret: str, timestamp_ms: int) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"


async def _post_robot(
    http: httpx.AsyncClient, what: str, url: Callable[[], str], body: dict[str, Any], retry_delay_s: float
) -> int:
    response, attempts = await post_tried_twice(what, lambda: http.post(url(), json=body), retry_delay_s)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise DeliveryFailed(f"{what}: HTTP {response.status_code}, not a robot's answer", attempts=attempts)
    if response.status_code >= 300 or answer.get("errcode") != 0:
        said = answer.get("errmsg") or f"HTTP {response.status_code}"
        raise DeliveryFailed(f"{what}: {said} (errcode {answer.get('errcode')})", attempts=attempts)
    return attempts


class WeComRobot:
    """A WeCom group robot: ``{"msgtype": "markdown", "markdown": {"content": text}}``."""

    def __init__(self, http: httpx.AsyncClient, retry_delay_s: float = RETRY_DELAY_S) -> None:
        self.http = http
        self.retry_delay_s = retry_delay_s

    async def send(self, message: Message) -> int | None:
        body = {"msgtype": "markdown", "markdown": {"content": message.text}}
        return await _post_robot(self.http, "wecom robot", lambda: message.address, body, self.retry_delay_s)


class DingTalkRobot:
    """A DingTalk group robot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``, the URL
    signed afresh on every try when the robot has a secret."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        retry_delay_s: float = RETRY_DELAY_S,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.http = http
        self.retry_delay_s = retry_delay_s
        self.now_ms = now_ms

    async def send(self, message: Message) -> int | None:
        body = {"msgtype": "markdown", "markdown": {"title": DINGTALK_TITLE, "text": message.text}}
        secret = message.secret

        def url() -> str:
            if not secret:
                return message.address
            return signed_dingtalk_url(message.address, secret, self.now_ms())

        return await _post_robot(self.http, "dingtalk robot", url, body, self.retry_delay_s)
