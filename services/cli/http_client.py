"""The CLI's way into a running system: ``DISPATCH1310_HTTP`` + ``DISPATCH1310_TOKEN``."""

from __future__ import annotations

import sys
from typing import Any

import httpx

from services.common.settings import Settings, load_settings


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


def client(settings: Settings | None = None, timeout: float = 10.0) -> httpx.Client:
    settings = settings or load_settings()
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    return httpx.Client(base_url=settings.http_url, headers=headers, timeout=timeout)


def call_api(method: str, path: str, **kwargs: Any) -> Any:
    """One request; a non-2xx answer raises ApiError with the server's detail."""
    with client() as http:
        try:
            response = http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach {http.base_url}: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ApiError(response.status_code, str(detail))
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


def fail(exc: ApiError) -> int:
    print(f"dispatch1310: {exc}", file=sys.stderr)
    return 1
