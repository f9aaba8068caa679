"""Request counts and latency per route for ``/metrics`` (a pure ASGI middleware: no body copies)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.metrics import Registry


class RequestMetrics:
    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app = app
        self.requests = registry.counter(
            "dispatch1310_http_requests_total", "HTTP requests by route and status"
        )
        self.latency = registry.histogram(
            "dispatch1310_http_request_seconds", "HTTP request latency by route"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.inc(route=route, method=scope["method"], status=str(status))
            self.latency.observe(time.perf_counter() - started, route=route)
