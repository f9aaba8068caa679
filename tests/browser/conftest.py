"""Real headless Chromium (Debian's), driven by Playwright, at a phone's or a desk's size: one
browser for every test, on the session's event loop (see tests/chromium.py)."""

from __future__ import annotations

from tests.chromium import ARTIFACTS, PHONE, assert_accessible, browser, nc, shot, system

__all__ = ["ARTIFACTS", "PHONE", "assert_accessible", "browser", "nc", "shot", "system"]
