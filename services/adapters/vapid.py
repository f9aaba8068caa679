"""The VAPID key pair of a data dir (RFC 8292): Web Push identifies the sender with it.

Made once per data dir (``keys/vapid-private.pem``, owner-only), by whichever service starts
first: the intake hands its public key to browsers (``applicationServerKey``), the notifier
signs each push with the private key. A browser subscribed under one key only accepts pushes
signed with that key, so the key is never replaced once made.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from services.runtime.private_files import create_private_once

KEY_FILE = Path("keys") / "vapid-private.pem"
TOKEN_LIFETIME_S = 12 * 3600  # RFC 8292: at most 24 h


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> str:
        """The public key as browsers take it: base64url of the uncompressed P-256 point."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def authorization(self, endpoint: str, subject: str, now: float | None = None) -> str:
        """The ``Authorization: vapid t=<JWT>,k=<public key>`` header for a push to ``endpoint``."""
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int((time.time() if now is None else now) + TOKEN_LIFETIME_S),
            "sub": subject,
        }
        header: str = Vapid02(self.private_key).sign(claims)["Authorization"]
        return header


def load_vapid(data_dir: Path) -> VapidKeys:
    """The data dir's VAPID keys, made on first use (the first of two services to start wins)."""
    path = Path(data_dir) / KEY_FILE
    fresh = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    loaded = serialization.load_pem_private_key(create_private_once(path, fresh), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise RuntimeError(f"{path} does not hold a P-256 private key in PEM")
    return VapidKeys(loaded)
