"""The CLI's way to the streams (``replay``, ``verify``): the URL found as ``up`` finds it,
tried a few times, and a failure said in one line (never the client's tracebacks)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from nats.aio.client import Client

from services.adapters.nats_auth import stream_url
from services.adapters.streams import connect
from services.runtime.settings import Settings


class NatsUnreachable(Exception):
    pass


def without_password(url: str) -> str:
    """The URL to show: the user stays, the password never is printed."""
    shown = []
    for part in url.split(","):
        parts = urlsplit(part.strip())
        if parts.password is None:
            shown.append(part.strip())
            continue
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        shown.append(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return ",".join(shown)


def find_url(settings: Settings, command: str) -> str:
    url = stream_url(settings)
    if url is None:
        raise NatsUnreachable(
            f"no NATS server to read: set NATS_URL, or run `dispatch1310 {command}` where `up` keeps "
            f"its data (DISPATCH1310_DATA={settings.data_dir}: no embedded server found there)"
        )
    return url


async def connect_once(url: str, name: str, settings: Settings) -> Client:
    """Connect, trying each server twice; NatsUnreachable with the reason otherwise."""
    errors: list[BaseException] = []

    async def remember(exc: Exception) -> None:  # instead of the client's printed tracebacks
        errors.append(exc)

    try:
        return await connect(
            url,
            name,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.2,
            connect_timeout=2,
            error_cb=remember,
        )
    except Exception as exc:  # NoServersError, OSError, the server's -ERR
        raise NatsUnreachable(_why(without_password(url), errors or [exc], settings)) from None


def _why(shown: str, errors: list[BaseException], settings: Settings) -> str:
    text = " ".join(str(e) for e in errors).lower()
    if "authorization violation" in text:
        return (
            f"NATS at {shown} refused the credentials (Authorization Violation): run it where `up` "
            f"keeps its data (DISPATCH1310_DATA={settings.data_dir}) or put user:password in NATS_URL"
        )
    if any(isinstance(e, ConnectionRefusedError) for e in errors) or "refused" in text:
        why = "connection refused"
    elif isinstance(errors[-1], TimeoutError) or "timeout" in text:
        why = "timed out"
    else:
        why = f"{type(errors[-1]).__name__}: {errors[-1]}".strip().rstrip(":")
    return f"cannot reach NATS at {shown} ({why}): is `dispatch1310 up` (or the NATS server) running?"
