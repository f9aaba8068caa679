"""Device alerts are signed: HMAC-SHA256 over "<timestamp>.<body>" with the device's secret.

Pure checks (no I/O): signature, freshness window, and a guard against replaying a signed
body that was already accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict

WINDOW_S = 300.0


class DeviceAuthError(Exception):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    window_s: float = WINDOW_S,
) -> None:
    if not timestamp or not signature:
        raise DeviceAuthError("X-Timestamp and X-Signature are required")
    try:
        sent = float(timestamp)
    except ValueError:
        raise DeviceAuthError("X-Timestamp must be unix seconds") from None
    if abs(now - sent) > window_s:
        raise DeviceAuthError("stale timestamp")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise DeviceAuthError("bad signature")


class ReplayGuard:
    """Signatures accepted within the window; the same signed body twice is refused."""

    def __init__(self, window_s: float = WINDOW_S, memory: int = 100_000) -> None:
        self.window_s = window_s
        self.memory = memory
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_and_remember(self, signature: str, now: float) -> None:
        while self._seen and (
            next(iter(self._seen.values())) < now - 2 * self.window_s or len(self._seen) > self.memory
        ):
            self._seen.popitem(last=False)
        if signature in self._seen:
            raise DeviceAuthError("replayed signature")
        self._seen[signature] = now
