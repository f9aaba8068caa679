"""Web Push end to end on the wire: a browser's subscription through the intake, the notifier's
push encrypted for that browser (RFC 8291) and signed (VAPID), a local server playing the push
service, decrypting as the browser would."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nats.aio.client import Client
from py_vapid import Vapid02
from py_vapid.jwt import decode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.adapters.answer_links import AnswerLinks, load_link_key
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.nats_auth import ADMIN, authorization_block, load_passwords, url_with_user
from services.adapters.push_subscriptions import PushSubscription, PushSubscriptions
from services.adapters.streams import connect, ensure_streams
from services.adapters.vapid import KEY_FILE, load_vapid
from services.notifier.channels import DeliveryFailed, Message
from services.notifier.content import PageContent
from services.notifier.push import WebPushChannel
from tests.conftest import System
from tests.support import bearer, serving_fake


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Browser:
    """What a browser keeps of its subscription: its ECDH key pair and auth secret."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


@dataclass
class PushService:
    """A local push service: each endpoint answers with its status, every request recorded."""

    url: str = ""
    statuses: dict[str, int] = field(default_factory=dict)
    received: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)

    def endpoint(self, name: str, status: int = 201) -> str:
        self.statuses[name] = status
        return f"{self.url}/push/{name}"


@asynccontextmanager
async def push_service() -> AsyncIterator[PushService]:
    fake = PushService()

    async def push(request: Request) -> Response:
        name = request.path_params["name"]
        fake.received.setdefault(name, []).append((dict(request.headers), await request.body()))
        return Response(status_code=fake.statuses.get(name, 404))

    app = Starlette(routes=[Route("/push/{name}", push, methods=["POST"])])
    async with serving_fake(app, "fake push service") as url:
        fake.url = url
        yield fake


def page(system: System, person_id: str = "g1") -> Message:
    links = AnswerLinks(load_link_key(system.settings.data_dir), system.settings.public_url)
    content = PageContent(
        call_id="call-1",
        dispatch_id="d-1",
        person_id=person_id,
        kind="flood",
        building="12栋",
        address="翔凤镇 12 栋",
        caller_name="王阿姨",
        caller_phone="13800000000",
        note="水漫进一楼",
        level="grid",
        reach_due_at=datetime(2026, 1, 1, 8, 3, tzinfo=UTC),
        answer_url=links.url("call-1", "d-1"),
    )
    return Message(person_id, "", "text", (content,), "d-1")


async def subscribe(
    system: System, browser: Browser, token: str = "demo-g1", person: str = "g1"
) -> httpx.Response:
    return await system.http.post(
        f"/api/responders/{person}/push-subscriptions", json=browser.subscription(), headers=bearer(token)
    )


async def test_a_push_reaches_the_subscribed_browser_encrypted_and_signed(system: System) -> None:
    public_key = (await system.http.get("/api/push/key")).json()["public_key"]
    key_file = system.settings.data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    async with push_service() as service, httpx.AsyncClient() as http:
        browser = Browser(service.endpoint("phone"))
        assert (await subscribe(system, browser)).status_code == 201
        channel = WebPushChannel(
            http,
            await PushSubscriptions.open(system.nc),
            load_vapid(system.settings.data_dir),
            "mailto:ops@example.org",
        )
        message = page(system)
        await channel.send(message)

        [(headers, body)] = service.received["phone"]
        assert headers["content-encoding"] == "aes128gcm"
        assert headers["urgency"] == "high"
        assert int(headers["ttl"]) > 0
        payload = browser.decrypt(body)
        assert payload["type"] == "dispatch"
        assert payload["kind"] == "flood"
        assert payload["building"] == "12栋"
        assert payload["address"] == "翔凤镇 12 栋"
        assert payload["caller"] == {"name": "王阿姨", "phone": "13800000000"}
        assert payload["dispatch_id"] == "d-1"
        assert payload["answer_url"] == message.first.answer_url
        assert payload["answer_url"].startswith(f"{system.settings.public_url}/a/")

        # RFC 8292: "vapid t=<JWT>,k=<the key browsers subscribed with>", the JWT signed with it.
        scheme, _, params = headers["authorization"].partition(" ")
        parts = dict(item.split("=", 1) for item in params.split(","))
        assert scheme == "vapid" and parts["k"] == public_key
        assert Vapid02.verify(headers["authorization"])
        claims = decode(parts["t"], public_key)
        assert claims["aud"] == service.url
        assert claims["sub"] == "mailto:ops@example.org"


async def test_a_gone_subscription_is_forgotten_and_the_other_browser_still_gets_the_page(
    system: System,
) -> None:
    async with push_service() as service, httpx.AsyncClient() as http:
        gone, phone = Browser(service.endpoint("gone", 410)), Browser(service.endpoint("phone"))
        for browser in (gone, phone):
            assert (await subscribe(system, browser)).status_code == 201
        store = await PushSubscriptions.open(system.nc)
        channel = WebPushChannel(http, store, load_vapid(system.settings.data_dir))
        await channel.send(page(system))
        assert phone.decrypt(service.received["phone"][0][1])["kind"] == "flood"
        assert [s.endpoint for s in await store.of("g1")] == [phone.endpoint]

        service.statuses["phone"] = 500
        with pytest.raises(DeliveryFailed, match="HTTP 500"):
            await channel.send(page(system))
        assert [s.endpoint for s in await store.of("g1")] == [phone.endpoint]  # kept: it may recover


async def test_nobody_subscribed_is_a_failed_delivery(system: System) -> None:
    async with httpx.AsyncClient() as http:
        channel = WebPushChannel(
            http, await PushSubscriptions.open(system.nc), load_vapid(system.settings.data_dir)
        )
        with pytest.raises(DeliveryFailed, match="no browser subscribed"):
            await channel.send(page(system, "g2"))


async def test_only_the_person_subscribes_their_browsers(system: System) -> None:
    browser = Browser("https://push.example.org/send/abc")
    path = "/api/responders/g1/push-subscriptions"
    assert (await system.http.post(path, json=browser.subscription())).status_code == 401
    assert (await subscribe(system, browser, token="demo-g2")).status_code == 403
    assert (await subscribe(system, browser, token="demo-nobody")).status_code == 401
    bad_bodies = [
        {**browser.subscription(), "endpoint": "http://push.example.org/send/abc"},  # not https
        {**browser.subscription(), "keys": {"p256dh": "not base64!", "auth": b64url(os.urandom(16))}},
        {
            **browser.subscription(),
            "keys": {"p256dh": browser.subscription()["keys"]["p256dh"], "auth": "AAAA"},
        },
        {"endpoint": browser.endpoint},
    ]
    for body in bad_bodies:
        response = await system.http.post(path, json=body, headers=bearer("demo-g1"))
        assert response.status_code == 422, body
    store = await PushSubscriptions.open(system.nc)
    assert await store.of("g1") == []

    assert (await subscribe(system, browser)).status_code == 201
    assert (await subscribe(system, browser)).status_code == 201  # the same browser again: once
    assert [s.endpoint for s in await store.of("g1")] == [browser.endpoint]
    other = await system.http.request(
        "DELETE", path, json={"endpoint": browser.endpoint}, headers=bearer("demo-g2")
    )
    assert other.status_code == 403
    gone = await system.http.request(
        "DELETE", path, json={"endpoint": browser.endpoint}, headers=bearer("demo-g1")
    )
    assert gone.status_code == 204
    assert await store.of("g1") == []


async def test_a_person_keeps_their_ten_newest_browsers(system: System) -> None:
    browsers = [Browser(f"https://push.example.org/send/{n}") for n in range(12)]
    await asyncio.gather(*(subscribe(system, b) for b in browsers[:6]))  # at once: none lost
    store = await PushSubscriptions.open(system.nc)
    assert {s.endpoint for s in await store.of("g1")} == {b.endpoint for b in browsers[:6]}
    for browser in browsers[6:]:
        assert (await subscribe(system, browser)).status_code == 201
    kept = [s.endpoint for s in await store.of("g1")]
    assert len(kept) == 10 and kept[-6:] == [b.endpoint for b in browsers[6:]]


async def test_two_services_starting_at_once_share_one_vapid_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first, second = await asyncio.gather(
        asyncio.to_thread(load_vapid, data_dir), asyncio.to_thread(load_vapid, data_dir)
    )
    assert first.public_key == second.public_key == load_vapid(data_dir).public_key
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / KEY_FILE).parent.stat().st_mode) == 0o700


async def test_only_the_intake_and_the_notifier_see_push_subscriptions(tmp_path: Path) -> None:
    passwords = load_passwords(tmp_path)
    with EmbeddedNats(tmp_path / "nats", extra_config=authorization_block(passwords)) as server:

        async def as_user(user: str) -> Client:
            return await connect(url_with_user(server.url, user, passwords[user]), user)

        admin = await as_user(ADMIN)
        await ensure_streams(admin.jetstream(), update=True)
        browser = PushSubscription.model_validate(Browser("https://push.example.org/send/1").subscription())
        intake, notifier = await as_user("intake"), await as_user("notifier")
        try:
            await (await PushSubscriptions.open(intake)).add("g1", browser)
            from_notifier = await PushSubscriptions.open(notifier)
            assert await from_notifier.of("g1") == [browser]
            assert await from_notifier.remove("g1", browser.endpoint)  # a push service said 410
            assert await (await PushSubscriptions.open(intake)).of("g1") == []
            await (await PushSubscriptions.open(intake)).add("g1", browser)
            for user in ("dispatcher", "deadlines", "audit"):
                nc = await as_user(user)
                try:
                    bucket = await nc.jetstream(timeout=1).key_value("push-subscriptions")
                    with pytest.raises(Exception):  # noqa: B017 - refused: an error or a timeout
                        await bucket.get("g1")
                finally:
                    await nc.close()
        finally:
            for nc in (intake, notifier, admin):
                await nc.close()
