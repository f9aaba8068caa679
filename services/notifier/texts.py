"""What a page's text says (pure): each call by kind, building and call id."""

from __future__ import annotations

from services.notifier.pacing import Batch

LEVEL_TEXT = {"building": "楼栋", "district": "片区", "community": "社区", "professional": "专业救援"}
KIND_TEXT = {
    "flood": "水浸 flood",
    "fire": "火警 fire",
    "medical": "急救 medical",
    "elderly_missing": "老人走失 elderly_missing",
    "dispute": "纠纷 dispute",
    "other": "求助 other",
}
DRILL = "【演练 DRILL】"


def page_line(kind: str, place: str, level: str, call_id: str) -> str:
    """One call as the text names it: kind, building (or address), level, call id."""
    return (
        f"{KIND_TEXT.get(kind, kind)} {place or '地址未知'}（{LEVEL_TEXT.get(level, level)}）call {call_id}"
    )


def text_of(batch: Batch) -> str:
    """One text for a batch: a single page as before, several as one numbered list."""
    if len(batch.pages) == 1:
        page = batch.pages[0]
        return f"{DRILL if page.drill else ''}1310 派单：请立即联系求助居民并前往。{page.line}"
    lines = "\n".join(
        f"{n}. {DRILL if page.drill else ''}{page.line}" for n, page in enumerate(batch.pages, 1)
    )
    return f"1310 派单（{len(batch.pages)} 起，合并发送）：请立即联系求助居民并前往。\n{lines}"
