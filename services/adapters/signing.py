"""One signature for signed bodies: HMAC-SHA256 over "<timestamp>.<body>", sent as
``sha256=<hex>``. Device alerts are signed so with the device's secret; webhooks (outgoing
pages, inbound SMS and voice answers) with the webhook secret."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
