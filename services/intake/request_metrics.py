"""Request counts and latency per route for ``/metrics`` (a pure ASGI middleware: no body copies)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.metrics import HTTP_LATENCY, HTTP_REQUESTS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Label lookups cost about as much as the increment: keep each series' child.
        self._series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

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
            method = scope["method"] if scope["method"] in METHODS else "other"  # bounded series
            key = (route, method, str(status))
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = (HTTP_REQUESTS.labels(*key), HTTP_LATENCY.labels(route))
            series[0].inc()
            series[1].observe(time.perf_counter() - started)
