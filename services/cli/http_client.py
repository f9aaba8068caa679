"""The CLI's way into a running system: ``DISPATCH1310_HTTP`` + ``DISPATCH1310_TOKEN``.

Whatever goes wrong comes back as one line a person can act on (``ApiError``): a refused
connection names the address and the setting, a 422 names the field at fault."""

from __future__ import annotations

import sys
from typing import Any

import httpx

from services.runtime.settings import Settings, load_settings


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail if status == 0 else f"HTTP {status}: {detail}")
        self.status = status


def client(settings: Settings | None = None, timeout: float = 10.0) -> httpx.Client:
    settings = settings or load_settings()
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    return httpx.Client(base_url=settings.http_url, headers=headers, timeout=timeout)


def unreachable(base_url: str, exc: httpx.HTTPError) -> ApiError:
    """A request that got no answer at all, said in one line."""
    where = str(base_url).rstrip("/")
    setting = where.removeprefix("http://").removeprefix("https://")
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            why = "connection refused"
        elif "name or service" in text or "nodename" in text or "resolution" in text:
            why = "unknown host"
        else:
            why = str(exc) or "cannot connect"
        return ApiError(
            0,
            f"cannot reach the system at {where} ({why}): is `dispatch1310 up` (the intake) "
            f"running there? (DISPATCH1310_HTTP={setting})",
        )
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(0, f"the system at {where} did not answer in time (DISPATCH1310_HTTP={setting})")
    return ApiError(0, f"cannot talk to the system at {where}: {type(exc).__name__} {exc}".rstrip())


def detail_of(response: httpx.Response) -> str:
    """The server's reason on one line: FastAPI's list of field errors as ``field: message``."""
    try:
        detail: Any = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    if isinstance(detail, list):
        parts = []
        for error in detail:
            if not isinstance(error, dict):
                parts.append(str(error))
                continue
            where = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
            message = str(error.get("msg", "invalid"))
            parts.append(f"{'.'.join(where)}: {message}" if where else message)
        detail = "; ".join(parts)
    text = " ".join(str(detail).split())  # never more than one line
    if response.status_code == 401 and not response.request.headers.get("Authorization"):
        text += " (set DISPATCH1310_TOKEN)"
    return text or response.reason_phrase


def call_api(method: str, path: str, **kwargs: Any) -> Any:
    """One request; a non-2xx answer or no answer raises ApiError with a one-line reason."""
    with client() as http:
        try:
            response = http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(str(http.base_url), exc) from None
    if response.status_code >= 400:
        raise ApiError(response.status_code, detail_of(response))
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


def try_api(path: str) -> Any | None:
    """A GET whose answer is nice to have (names for ids): None when refused or unreachable."""
    try:
        return call_api("GET", path)
    except ApiError:
        return None


def fail(exc: ApiError) -> int:
    print(f"dispatch1310: {exc}", file=sys.stderr)
    return 1
