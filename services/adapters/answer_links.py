"""One-tap answer links: ``<public url>/a/<token>`` answers one page without a login.

The notifier puts a link in every text, push and voice message; the intake checks it. A
token names the call and the dispatch and is signed (HMAC-SHA256, truncated to 96 bits) with
a key both services read from the data dir (``keys/answer-link.key``, made once, owner-only).
It needs no expiry of its own: it answers only while its page still awaits an answer, so a
link of a page that ended answers nothing (410).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from services.runtime.private_files import create_private_once

KEY_FILE = Path("keys") / "answer-link.key"
_ID = r"[A-Za-z0-9_-]{1,64}"
_TOKEN = re.compile(rf"^({_ID})\.({_ID})\.([A-Za-z0-9_-]{{16}})$")


@dataclass(frozen=True)
class LinkTarget:
    call_id: str
    dispatch_id: str


def load_link_key(data_dir: Path) -> bytes:
    """The data dir's link key, made on first use (the first of two services to start wins)."""
    path = data_dir / KEY_FILE
    text = create_private_once(path, secrets.token_hex(32).encode()).decode().strip()
    if len(text) != 64:
        raise RuntimeError(f"{path} does not hold a 32-byte hex key")
    return bytes.fromhex(text)


class AnswerLinks:
    def __init__(self, key: bytes, public_url: str) -> None:
        self.key = key
        self.public_url = public_url.rstrip("/")

    def token(self, call_id: str, dispatch_id: str) -> str:
        return f"{call_id}.{dispatch_id}.{self._signature(call_id, dispatch_id)}"

    def url(self, call_id: str, dispatch_id: str) -> str:
        return f"{self.public_url}/a/{self.token(call_id, dispatch_id)}"

    def verify(self, token: str) -> LinkTarget | None:
        """The page a token answers, or None for a forged, altered or malformed token."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        call_id, dispatch_id, signature = match.groups()
        if not hmac.compare_digest(signature, self._signature(call_id, dispatch_id)):
            return None
        return LinkTarget(call_id, dispatch_id)

    def _signature(self, call_id: str, dispatch_id: str) -> str:
        digest = hmac.new(self.key, f"answer/{call_id}/{dispatch_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()
