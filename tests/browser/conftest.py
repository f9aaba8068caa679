"""Real headless Chromium (Debian's), driven by Playwright, at a phone's or a desk's size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from tests.chromium import ARTIFACTS, PHONE, assert_accessible, chromium, shot

__all__ = ["ARTIFACTS", "PHONE", "assert_accessible", "browser", "shot"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched
