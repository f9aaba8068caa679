"""What each channel says (pure, the time passed in): one page, or several combined.

Every channel carries the same facts (content.py): kind, building and address, the
resident's name and phone, their note, the level, the time left to the reach deadline and
the one-tap link; a voice call reads them and asks for a keypress instead of the link.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.domain.labels import KIND_TEXT, LEVEL_TEXT
from services.notifier.content import PageContent

DRILL = "【演练 DRILL】"


def time_left(page: PageContent, now: datetime) -> str:
    """ "还剩2分10秒" before the reach deadline, "已超时1分5秒" after it."""
    if page.reach_due_at is None:
        return ""
    seconds = round((page.reach_due_at - now).total_seconds())
    minutes, rest = divmod(abs(seconds), 60)
    span = f"{minutes}分{rest}秒" if minutes else f"{rest}秒"
    return f"还剩{span}" if seconds >= 0 else f"已超时{span}"


def facts(page: PageContent, now: datetime) -> str:
    """One page's facts in one line: kind, place, resident, note, level, time left."""
    place = " ".join(part for part in (page.building, page.address) if part) or "地址未知"
    caller = " ".join(part for part in (page.caller_name, page.caller_phone) if part)
    parts = [
        f"{DRILL if page.drill else ''}{KIND_TEXT.get(page.kind, page.kind)}",
        place,
        f"求助人 {caller}" if caller else "",
        f"备注：{page.note}" if page.note else "",
        f"{LEVEL_TEXT.get(page.level, page.level)}级",
        f"到达时限{time_left(page, now)}" if page.reach_due_at else "",
    ]
    return "｜".join(part for part in parts if part)


def sms_text(pages: Sequence[PageContent], now: datetime) -> str:
    """A text: one page with its link, or several as one numbered list, each with its link."""
    if len(pages) == 1:
        page = pages[0]
        return f"1310 派单：{facts(page, now)}。接单/不能去：{page.answer_url}"
    lines = "\n".join(f"{n}. {facts(page, now)} {page.answer_url}" for n, page in enumerate(pages, 1))
    return f"1310 派单（{len(pages)} 起，合并发送）：\n{lines}"


def voice_text(page: PageContent, now: datetime) -> str:
    """Read aloud: the facts, then the keys to press."""
    return f"1310 紧急派单。{facts(page, now)}。接单请按1，不能去请按2。"


def markdown_text(pages: Sequence[PageContent], now: datetime) -> str:
    """A group robot's markdown (WeCom and DingTalk both render it): each page with its link."""
    blocks = []
    for page in pages:
        blocks.append(
            f"### 1310 派单 {DRILL if page.drill else ''}{KIND_TEXT.get(page.kind, page.kind)}\n"
            f"- 地点：{page.building} {page.address}\n"
            f"- 求助人：{page.caller_name} {page.caller_phone}\n"
            + (f"- 备注：{page.note}\n" if page.note else "")
            + f"- 层级：{LEVEL_TEXT.get(page.level, page.level)}\n"
            f"- 到达时限：{time_left(page, now)}\n"
            f"- [接单 / 不能去]({page.answer_url})"
        )
    return "\n\n".join(blocks)
