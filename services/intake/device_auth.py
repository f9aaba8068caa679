"""Device alerts are signed: HMAC-SHA256 over "<timestamp>.<body>" with the device's secret.

Pure checks (no I/O): signature and freshness window. Replays of a signed body within the
window are refused by the ledger (``services/intake/replay_ledger.py``), shared by every intake.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from services.adapters.signing import sign
from services.adapters.streams import DEVICE_FRESHNESS_S

# The replay ledger keeps a signature DEVICE_LEDGER_TTL_S (services/adapters/streams.py): as
# long as a timestamp accepted now can stay within this window, by construction.
WINDOW_S = DEVICE_FRESHNESS_S
# Unix seconds, as digits: no sign, exponent, "nan", "inf", underscores or spaces.
_TIMESTAMP = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")


class DeviceAuthError(Exception):
    pass


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
    if not _TIMESTAMP.fullmatch(timestamp):
        # float() would take "nan" (never stale: a signature replayable for ever) and "inf".
        raise DeviceAuthError("X-Timestamp must be unix seconds (digits)")
    sent = float(timestamp)
    if not abs(now - sent) <= window_s:
        raise DeviceAuthError("stale timestamp")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise DeviceAuthError("bad signature")


def replay_key(signature: str) -> str:
    """The ledger key of a signed body (its signature, hashed to a safe key)."""
    return hashlib.sha256(signature.strip().encode()).hexdigest()
