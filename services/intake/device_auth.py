"""Device alerts are signed: HMAC-SHA256 over "<timestamp>.<body>" with the device's secret.

Pure checks (no I/O): signature and freshness window. Replays of a signed body within the
window are refused by the ledger (``services/intake/replay_ledger.py``), shared by every intake.
"""

from __future__ import annotations

import hashlib
import hmac

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


def replay_key(signature: str) -> str:
    """The ledger key of a signed body (its signature, hashed to a safe key)."""
    return hashlib.sha256(signature.strip().encode()).hexdigest()
